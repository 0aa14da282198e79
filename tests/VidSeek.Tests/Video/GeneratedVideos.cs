using System.Diagnostics;

namespace VidSeek.Tests.Video;

/// <summary>
/// Long-ish test videos made once per test run with Debian's ffmpeg command-line tool (not a VidSeek dependency:
/// OpenCV's VideoWriter writes neither H.264 with B-frames nor variable frame rates). Without ffmpeg the tests that
/// need these files skip with the reason; <c>.ci/run</c> installs it.
/// </summary>
/// <remarks>
/// All 160x90, 60 s of ffmpeg's testsrc2 (a moving pattern with a running clock, so neighbouring frames differ),
/// H.264 with a keyframe every 50 frames and 2 B-frames (<c>-bf 2</c>; preset veryfast, since ultrafast turns B-frames
/// off), VP9 with a keyframe every 50 frames.
/// </remarks>
public sealed class GeneratedVideos : IDisposable
{
    private readonly TestPaths.TempDir dir = TestPaths.NewTempDir();
    private readonly Dictionary<string, string> files = new();

    /// <summary>Why the videos could not be made (no ffmpeg, or it failed); null when they were.</summary>
    public string? Unavailable { get; }

    public const int CfrFrames = 1500;   // 60 s at 25 fps
    public const int VfrFrames = 1260;   // frames 30-45 of every 100 dropped
    public const int Vp9Frames = 600;    // 60 s at 10 fps

    public GeneratedVideos()
    {
        const string src = "-f lavfi -i testsrc2=size=160x90:rate=25:duration=60";
        const string h264 = "-c:v libx264 -preset veryfast -g 50 -bf 2 -pix_fmt yuv420p";
        const string vfr = "-vf select='not(between(mod(n\\,100)\\,30\\,45))' -fps_mode vfr";
        var jobs = new (string Name, string Args)[]
        {
            ("cfr.mp4", $"{src} {h264}"),
            ("cfr.mkv", $"{src} {h264}"),
            ("vp9.webm", "-f lavfi -i testsrc2=size=160x90:rate=10:duration=60 -c:v libvpx-vp9 -deadline realtime -cpu-used 8 -g 50"),
            ("vfr.mp4", $"{src} {vfr} {h264}"),
            ("vfr.mkv", $"{src} {vfr} {h264}"),
            // moov before mdat, so a cut file still opens and promises all 1500 frames
            ("faststart.mp4", $"{src} {h264} -movflags +faststart"),
            // fragmented MP4: no sample table for the whole file, so the frame count is duration × fps, as in Matroska
            ("frag.mp4", $"{src} {h264} -movflags frag_keyframe+empty_moov"),
            ("vfr-frag.mp4", $"{src} {vfr} {h264} -movflags frag_keyframe+empty_moov"),
        };
        try
        {
            foreach (var (name, args) in jobs)
            {
                var path = Path.Combine(dir.Path, name);
                Ffmpeg($"-v error -y {args} {path}");
                files[name] = path;
            }
            Cut("faststart.mp4", "cut.mp4", 0.6);
            Cut("cfr.mkv", "cut.mkv", 0.5);
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            Unavailable = e is System.ComponentModel.Win32Exception
                ? "ffmpeg is not installed (apt-get install ffmpeg); .ci/run installs it"
                : e.Message;
        }
    }

    /// <summary>The generated file <paramref name="name"/>; skips the calling test when ffmpeg is missing.</summary>
    public string this[string name]
    {
        get
        {
            if (Unavailable is not null) Assert.Skip(Unavailable);
            return files[name];
        }
    }

    private void Cut(string from, string to, double fraction)
    {
        var bytes = File.ReadAllBytes(files[from]);
        var path = Path.Combine(dir.Path, to);
        File.WriteAllBytes(path, bytes[..(int)(bytes.Length * fraction)]);
        files[to] = path;
    }

    /// <summary>Runs Debian's ffmpeg (test-data generation only); throws Win32Exception when it is not installed.</summary>
    internal static void Ffmpeg(string args)
    {
        var psi = new ProcessStartInfo("ffmpeg", args) { RedirectStandardError = true, RedirectStandardOutput = true };
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        p.StandardOutput.ReadToEnd();
        if (!p.WaitForExit(120_000)) { p.Kill(); throw new InvalidOperationException($"ffmpeg {args}: timed out"); }
        if (p.ExitCode != 0) throw new InvalidOperationException($"ffmpeg {args}: exit {p.ExitCode}: {stderr.Result}");
    }

    public void Dispose() => dir.Dispose();
}
