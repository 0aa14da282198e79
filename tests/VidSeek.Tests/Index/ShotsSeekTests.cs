using OpenCvSharp;
using VidSeek.Index;
using VidSeek.Tests.Video;
using VidSeek.Video;

namespace VidSeek.Tests.Index;

/// <summary>
/// A 60 s video with cuts at known frames, written once per run: MJPG AVI and MPEG-4 part 2 MP4 by OpenCV, and, where
/// Debian's ffmpeg is installed, H.264 with B-frames (keyframe every 50 frames) in MP4 and Matroska transcoded from the AVI.
/// </summary>
public sealed class ShotsVideos : IDisposable
{
    public const double Fps = 25;
    /// <summary>Shot lengths in frames (1500 in all); with 5 s windows the 310-, 270- and 400-frame shots are split.</summary>
    public static readonly int[] Lengths = [230, 170, 310, 120, 270, 400];
    private static readonly Scalar[] Colours = [new(40, 40, 200), new(200, 60, 30), new(30, 180, 60), new(220, 220, 220), new(120, 30, 120), new(20, 160, 200)];

    private readonly TestPaths.TempDir dir = TestPaths.NewTempDir();
    private readonly Dictionary<string, string> files = new();
    public string? FfmpegUnavailable { get; }

    public ShotsVideos()
    {
        files["shots.avi"] = Write(Path.Combine(dir.Path, "shots.avi"), FourCC.MJPG);
        files["shots-mp4v.mp4"] = Write(Path.Combine(dir.Path, "shots-mp4v.mp4"), FourCC.FromFourChars('m', 'p', '4', 'v'));
        try
        {
            foreach (var name in new[] { "shots-h264.mp4", "shots-h264.mkv" })
            {
                string path = Path.Combine(dir.Path, name);
                GeneratedVideos.Ffmpeg($"-v error -y -i {files["shots.avi"]} -c:v libx264 -preset veryfast -g 50 -bf 2 -pix_fmt yuv420p {path}");
                files[name] = path;
            }
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            FfmpegUnavailable = e is System.ComponentModel.Win32Exception ? "ffmpeg is not installed (apt-get install ffmpeg); .ci/run installs it" : e.Message;
        }
    }

    public string this[string name]
    {
        get
        {
            if (!files.TryGetValue(name, out var path)) Assert.Skip(FfmpegUnavailable ?? $"{name} was not made");
            return path;
        }
    }

    /// <summary>Each shot: a solid colour with a square moving across it (so no shot is a still).</summary>
    private static string Write(string path, FourCC codec)
    {
        using (var writer = new VideoWriter(path, VideoCaptureAPIs.FFMPEG, codec, Fps, new Size(160, 96), isColor: true))
        {
            Assert.True(writer.IsOpened(), $"OpenCV's FFmpeg writer did not open {path}");
            using var frame = new Mat(96, 160, MatType.CV_8UC3);
            for (int s = 0; s < Lengths.Length; s++)
                for (int i = 0; i < Lengths[s]; i++)
                {
                    frame.SetTo(Colours[s]);
                    var c = Colours[s];
                    Cv2.Rectangle(frame, new Rect(5 + i * 130 / Lengths[s], 20 + s * 8, 20, 20), new Scalar(255 - c.Val0, 255 - c.Val1, 255 - c.Val2), -1);
                    writer.Write(frame);
                }
        }
        return path;
    }

    public void Dispose() => dir.Dispose();
}

/// <summary>
/// Shots mode: the second pass takes the sampled frames by seeking where the file passes the seek check, and its segments
/// are the sequential path's exactly (boundaries, indices, times, pixels, thumbnails); other files decode twice as before.
/// </summary>
public class ShotsSeekTests(ShotsVideos shots, GeneratedVideos generated) : IClassFixture<ShotsVideos>, IClassFixture<GeneratedVideos>
{
    private static readonly VideoReadOptions Sequential = new() { Access = FrameAccessMode.Sequential };
    private static readonly VideoReadOptions SeekAlways = new() { Access = FrameAccessMode.Seek, MinSeekDistance = 1 };
    private static readonly ClipImagePreprocessor Preprocessor = new(32);
    // 5 s windows: the two shots longer than 10 s are split into windows; the rest are one segment each.
    private static readonly SegmentingOptions Shots = new() { Mode = SegmentMode.Shots, Window = 5, MinShot = 1 };

    private static (List<DecodedSegment> Segments, DecodedVideoInfo Info) Decode(string path, VideoReadOptions read, int frames = 6)
    {
        var segments = new List<DecodedSegment>();
        var info = SegmentDecoder.Decode(path, Shots, frames, Preprocessor, segments.Add, segments.Clear, default, read);
        Assert.Equal(info.Segments, segments.Count);
        return (segments, info);
    }

    private static void AssertSame(List<DecodedSegment> expected, List<DecodedSegment> actual)
    {
        Assert.Equal(expected.Count, actual.Count);
        for (int s = 0; s < expected.Count; s++)
        {
            var (e, a) = (expected[s], actual[s]);
            Assert.Equal((e.Ordinal, e.FirstFrame, e.EndFrame, e.Start, e.End), (a.Ordinal, a.FirstFrame, a.EndFrame, a.Start, a.End));
            Assert.Equal(e.Indices, a.Indices);
            Assert.Equal(e.Times, a.Times);
            Assert.True(e.Pixels.AsSpan().SequenceEqual(a.Pixels), $"segment {s}: pixels differ");
            for (int i = 0; i < e.Thumbnails.Count; i++) Assert.True(e.Thumbnails[i].AsSpan().SequenceEqual(a.Thumbnails[i]), $"segment {s}: thumbnail {i} differs");
        }
    }

    [Theory]
    [InlineData("shots-mp4v.mp4")]
    [InlineData("shots-h264.mp4")]
    [InlineData("shots-h264.mkv")]
    public void SeekingTakesTheSequentialPathsShots(string name)
    {
        string path = shots[name];
        var (reference, refInfo) = Decode(path, Sequential);
        Assert.Equal((FrameAccess.Sequential, 2), (refInfo.Method, refInfo.Passes));
        // The cuts were found (within a frame) and the long shots split: 6 shots, those over 2 windows (250 frames) in windows:
        // 310 and 270 frames in 2 each (a last piece under half a window joins the one before), 400 in 3.
        int[] cuts = ShotsVideos.Lengths.Select((_, i) => ShotsVideos.Lengths.Take(i).Sum()).ToArray();
        var shotStarts = reference.Select(s => s.FirstFrame).Where(f => cuts.Any(c => Math.Abs(c - f) <= 1)).ToList();
        Assert.Equal(cuts.Length, shotStarts.Count);
        Assert.Equal(10, reference.Count);

        foreach (var read in new[] { SeekAlways, VideoReadOptions.Default with { Access = FrameAccessMode.Seek } })
        {
            var (sought, info) = Decode(path, read);
            Assert.Equal(FrameAccess.Seek, info.Method);
            Assert.Null(info.FallbackReason);
            Assert.Equal(1, info.Passes); // the detection pass; the frames by seeking
            Assert.Equal((refInfo.FrameCount, refInfo.Fps, refInfo.Duration, refInfo.Width, refInfo.Height), (info.FrameCount, info.Fps, info.Duration, info.Width, info.Height));
            AssertSame(reference, sought);
        }
    }

    [Fact]
    public void TheDefaultAccessSeeksWhenTheSampledFramesLieFarApart()
    {
        string path = shots["shots-mp4v.mp4"];
        // 2 frames per segment: 18 of 1500 frames, 83 apart on average (more than MinSeekDistance, 64): seeking pays.
        var (reference, _) = Decode(path, Sequential, frames: 2);
        var (sought, info) = Decode(path, VideoReadOptions.Default, frames: 2);
        Assert.Equal(FrameAccess.Seek, info.Method);
        AssertSame(reference, sought);
        // 12 frames per segment lie closer than that: decoded sequentially (two passes), without trying the seek path.
        var (_, dense) = Decode(path, VideoReadOptions.Default, frames: 12);
        Assert.Equal((FrameAccess.Sequential, 2, null), (dense.Method, dense.Passes, dense.FallbackReason));
    }

    [Fact]
    public void FilesThatFailTheSeekCheckDecodeTwiceWithTheSameSegments()
    {
        // AVI: no frame index VidSeek trusts; a variable-frame-rate MP4: its timestamps are off the grid.
        foreach (var path in new[] { shots["shots.avi"], generated["vfr.mp4"] })
        {
            var (reference, _) = Decode(path, Sequential);
            var (sought, info) = Decode(path, SeekAlways);
            Assert.Equal((FrameAccess.Sequential, 2), (info.Method, info.Passes));
            Assert.False(string.IsNullOrEmpty(info.FallbackReason), path);
            AssertSame(reference, sought);
        }
    }
}
