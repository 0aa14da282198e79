using System.Diagnostics;
using System.Globalization;
using System.Text;
using VidSeek.Video;

namespace VidSeek.Bench;

/// <summary>
/// Frame sampling on long videos: VidSeek's seek path, the ffmpeg command-line tool seeking with <c>-ss</c>, and
/// VidSeek's sequential path, taking the same F frames of the same generated 720p H.264 file, in one run.
/// </summary>
/// <remarks>
/// The videos: one minute of ffmpeg's testsrc2 at 1280x720, 30 fps, encoded once with
/// <c>-c:v libx264 -preset ultrafast -crf 30 -g 120 -pix_fmt yuv420p</c> (a keyframe every 4 s, about 4.6 Mbit/s),
/// then joined M times with the concat demuxer and <c>-c copy</c> into an M-minute file: encoding 60 minutes of 720p
/// would take the shared 2-core machine most of an hour, and copying packets decodes the same way (every piece starts
/// with an IDR frame; the pictures repeat each minute, which no reader here can exploit). Cached in --dir between runs.
///
/// ffmpeg's side is its fastest fair form: one process with F inputs, each opened with <c>-ss T</c> (input seeking,
/// accurate: it decodes from the keyframe before T and drops frames until T) and one output each of
/// <c>-frames:v 1 -f rawvideo -pix_fmt rgb24</c>, so it pays one process start, not F; T is frame index / 30, the same
/// frames VidSeek samples (checked: the RGB bytes are compared). The plain form, F processes of one input each, one
/// after the other, is timed too; the ratio is against the faster of the two. ffmpeg's time includes its process start (measured
/// separately in every round, as `ffmpeg -version`, and also taken off for a stricter ratio); VidSeek's is the library
/// call in this process. Rounds interleave the three so that
/// changes in the machine's load hit them alike; the ratio is taken per round, and its median reported.
/// </remarks>
public static class FrameSeekBench
{
    public static int Run(Options o)
    {
        var dir = o.String("dir") ?? "/tmp/vidseek-bench-videos";
        var minutes = o.Ints("minutes", [10, 60]);
        int frames = o.Int("frames", 12), reps = o.Int("reps", 3), seqReps = o.Int("seq-reps", 1);
        var outPath = o.String("out");
        o.CheckAllRead();
        Directory.CreateDirectory(dir);

        var report = new StringBuilder();
        void Line(string s) { Console.WriteLine(s); report.AppendLine(s); }
        Line($"machine: {Environment.ProcessorCount} cores, load average at start {Machine.LoadAverageNow()}; ffmpeg: {FfmpegCli.Version()}");
        Line("");
        Line($"| video | frames n | VidSeek seek (s) | ffmpeg -ss, 1 process (s) | ffmpeg -ss, {frames} processes (s) | ffmpeg start (s) | seek / faster ffmpeg | seek / ffmpeg less starts | VidSeek sequential (s) | sequential / seek |");
        Line("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");

        foreach (int m in minutes)
        {
            var path = Generate(dir, m);
            var probe = VideoReader.Probe(path);
            if (probe.Method != FrameAccess.Seek) throw new InvalidOperationException($"{path}: expected the seek path, got: {probe.FallbackReason}");
            var indices = FrameSampler.Uniform(probe.FrameCount, frames);
            var ffArgs = FfmpegArgs(path, indices, probe.Fps, dir);
            var ffEach = indices.Select((i, k) => FfmpegArgs(path, [i], probe.Fps, dir, k)).ToArray();

            // Warm-up (page cache, JIT) and the check that both tools return the same frames.
            var ours = VideoReader.Read(path, frames, SamplingMode.Uniform);
            FfmpegCli.Run(ffArgs);
            CompareWithFfmpeg(ours, dir, Line);

            var seek = new List<double>(); var ff = new List<double>(); var ffMany = new List<double>(); var starts = new List<double>();
            var seq = new List<double>(); var ratios = new List<double>(); var strict = new List<double>();
            for (int r = 0; r < reps; r++)
            {
                double s = Time(() => VideoReader.Read(path, frames, SamplingMode.Uniform, null, new VideoReadOptions { Access = FrameAccessMode.Seek }));
                double f = Time(() => FfmpegCli.Run(ffArgs));
                double fm = Time(() => { foreach (var a in ffEach) FfmpegCli.Run(a); });
                // What a process start costs right now (the machine's load changes it): ffmpeg loading its libraries and exiting.
                double st = Time(() => FfmpegCli.Run("-v error -version"));
                seek.Add(s); ff.Add(f); ffMany.Add(fm); starts.Add(st); ratios.Add(s / Math.Min(f, fm));
                // The strict comparison: ffmpeg's decoding and seeking alone, its process starts taken off (the better of the two forms).
                strict.Add(s / Math.Min(f - st, fm - frames * st));
                if (r < seqReps)
                    seq.Add(Time(() => VideoReader.Read(path, frames, SamplingMode.Uniform, null, new VideoReadOptions { Access = FrameAccessMode.Sequential })));
                Console.WriteLine($"  {m} min, round {r + 1}: seek {s:F2} s, ffmpeg {f:F2} s (1 process), {fm:F2} s ({frames} processes), start {st:F2} s{(r < seqReps ? $", sequential {seq[^1]:F1} s" : "")}; load {Machine.LoadAverageNow()}");
            }
            foreach (var leftover in Directory.GetFiles(dir, "ffmpeg-frame-*.rgb")) File.Delete(leftover);
            Line($"| {m} min 720p H.264 | {probe.FrameCount} | {Median(seek):F2} | {Median(ff):F2} | {Median(ffMany):F2} | {Median(starts):F2} | {Median(ratios):F2}x | {Median(strict):F2}x | {Median(seq):F1} | {Median(seq) / Median(seek):F0}x |");
        }
        Line("");
        Line($"medians of {reps} rounds (sequential: {seqReps}); load average at end {Machine.LoadAverageNow()}");
        if (outPath is not null) File.WriteAllText(outPath, report.ToString());
        return 0;
    }

    /// <summary>The M-minute file (see the class remarks), made once and kept.</summary>
    private static string Generate(string dir, int minutes)
    {
        var piece = Path.Combine(dir, "piece-720p30-1min.mp4");
        if (!File.Exists(piece))
        {
            Console.WriteLine($"generating {piece} ...");
            FfmpegCli.Run($"-v error -y -f lavfi -i testsrc2=size=1280x720:rate=30:duration=60 -c:v libx264 -preset ultrafast -crf 30 -g 120 -pix_fmt yuv420p {piece}.part.mp4");
            File.Move(piece + ".part.mp4", piece);
        }
        var path = Path.Combine(dir, $"testsrc2-720p30-{minutes}min.mp4");
        if (!File.Exists(path))
        {
            Console.WriteLine($"generating {path} ...");
            var list = Path.Combine(dir, $"concat-{minutes}.txt");
            File.WriteAllLines(list, Enumerable.Repeat($"file '{piece}'", minutes));
            FfmpegCli.Run($"-v error -y -f concat -safe 0 -i {list} -c copy {path}.part.mp4");
            File.Move(path + ".part.mp4", path);
        }
        return path;
    }

    private static string FfmpegArgs(string path, int[] indices, double fps, string dir, int firstOutput = 0)
    {
        var sb = new StringBuilder("-v error -y");
        foreach (int i in indices) sb.Append(CultureInfo.InvariantCulture, $" -ss {i / fps:F6} -i {path}");
        for (int k = 0; k < indices.Length; k++)
            sb.Append(CultureInfo.InvariantCulture, $" -map {k}:v:0 -frames:v 1 -f rawvideo -pix_fmt rgb24 {Path.Combine(dir, $"ffmpeg-frame-{firstOutput + k}.rgb")}");
        return sb.ToString();
    }

    /// <summary>ffmpeg's F frames against VidSeek's: mean absolute difference per byte (the RGB conversions may round differently).</summary>
    private static void CompareWithFfmpeg(DecodedFrames ours, string dir, Action<string> line)
    {
        double worst = 0;
        for (int k = 0; k < ours.Frames.Count; k++)
        {
            var theirs = File.ReadAllBytes(Path.Combine(dir, $"ffmpeg-frame-{k}.rgb"));
            if (theirs.Length != ours.Frames[k].Length) throw new InvalidOperationException($"ffmpeg frame {k}: {theirs.Length} bytes, ours {ours.Frames[k].Length}");
            long sum = 0;
            for (int b = 0; b < theirs.Length; b++) sum += Math.Abs(theirs[b] - ours.Frames[k][b]);
            worst = Math.Max(worst, (double)sum / theirs.Length);
        }
        // Neighbouring frames of testsrc2 differ by far more than RGB rounding; a wrong frame would show here.
        line($"{Path.GetFileName(ours.Path)}: frames {string.Join(",", ours.Indices)}; ffmpeg's frames vs VidSeek's: worst mean |diff| {worst:F2} per byte");
        for (int k = 0; k < ours.Frames.Count; k++) File.Delete(Path.Combine(dir, $"ffmpeg-frame-{k}.rgb"));
    }

    private static double Time(Action body)
    {
        var sw = Stopwatch.StartNew();
        body();
        return sw.Elapsed.TotalSeconds;
    }

    private static double Median(List<double> xs)
    {
        if (xs.Count == 0) return double.NaN;
        var s = xs.Order().ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }
}
