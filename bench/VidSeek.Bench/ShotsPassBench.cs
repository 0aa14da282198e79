using System.Diagnostics;
using TorchSharp;
using VidSeek.Index;
using VidSeek.Video;

namespace VidSeek.Bench;

/// <summary>
/// Shots mode, how the frames are taken after the detection pass: a second sequential decode (the path before issue 11's
/// shots change), seeking (the path now), and the least a single pass that keeps the frames it may need would cost.
/// </summary>
/// <remarks>
/// A one-pass design cannot know which frames a shot samples until the shot ends (uniform within the shot), so under bounded
/// memory it must preprocess (and thumbnail) every frame of the open shot as it decodes it and keep the results until the cut:
/// its cost is at least the detection pass plus preprocessing and thumbnailing every frame, which is what the third row times
/// (frames are converted and dropped, so its memory is not the design's). Rows run one after another on the same file;
/// every row produces the same segments (the first two compared here; the tests compare them exactly).
/// </remarks>
public static class ShotsPassBench
{
    public static int Run(Options o)
    {
        string[] files = (o.String("files") ?? "/tmp/vidseek-index-bench/small/videos/long_720p_300s.mp4,cuts").Split(',', StringSplitOptions.RemoveEmptyEntries)
            .Select(f => f == "cuts" ? CutsFile("/tmp/vidseek-index-bench") : f).ToArray();
        int frames = o.Int("frames", 12), size = o.Int("size", 224);
        string? output = o.String("out");
        o.CheckAllRead();
        var preprocessor = new ClipImagePreprocessor(size);
        var shots = new SegmentingOptions { Mode = SegmentMode.Shots };
        var md = new List<string>
        {
            $"Machine: {Environment.ProcessorCount} cores, load average {Machine.LoadAverageNow()} at the start. Shots mode (threshold 27, min 1 s, long shots in 30 s windows), {frames} frames per segment, {size} px model input.",
            "",
            "| video | frames | segments | sampled frames | detection pass alone (s) | detect + sequential pass (s) | detect + seek (s) | detect + preprocess every frame (s, one-pass lower bound) | seek path |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
        };
        foreach (var path in files)
        {
            int count = 0;
            double detect = Time(() =>
            {
                using var detector = new ShotDetector();
                count = FrameScan.Pass(path, _ => true, (i, _, bgr) => detector.Push(i, bgr)).FrameCount;
            });
            var seq = new List<DecodedSegment>();
            var seek = new List<DecodedSegment>();
            DecodedVideoInfo? seqInfo = null, seekInfo = null;
            double sequential = Time(() => seqInfo = SegmentDecoder.Decode(path, shots, frames, preprocessor, s => seq.Add(Light(s)), seq.Clear, default,
                new VideoReadOptions { Access = FrameAccessMode.Sequential }));
            double sought = Time(() => seekInfo = SegmentDecoder.Decode(path, shots, frames, preprocessor, s => seek.Add(Light(s)), seek.Clear));
            if (!seq.Select(s => (s.FirstFrame, s.EndFrame, s.Start, s.End, string.Join(",", s.Indices))).SequenceEqual(seek.Select(s => (s.FirstFrame, s.EndFrame, s.Start, s.End, string.Join(",", s.Indices)))))
                throw new InvalidOperationException($"{path}: the two paths gave different segments");
            double once = Time(() =>
            {
                using var detector = new ShotDetector();
                FrameScan.Pass(path, _ => true, (i, _, bgr) =>
                {
                    detector.Push(i, bgr);
                    using (var scope = torch.NewDisposeScope()) preprocessor.ProcessBgr([bgr]).contiguous().data<float>().ToArray();
                    IndexBuilder.Thumbnail(bgr);
                });
            });
            string row = $"| {Path.GetFileName(path)} | {count:N0} | {seq.Count} | {seq.Sum(s => s.Indices.Length):N0} | {detect:F1} | {sequential:F1} | **{sought:F1}** | {once:F1} | {seekInfo!.Method}{(seekInfo.FallbackReason is { } why ? $" ({why})" : "")} |";
            Console.Error.WriteLine(row);
            md.Add(row);
        }
        md.Add("");
        md.Add($"Load average at the end: {Machine.LoadAverageNow()}.");
        foreach (var line in md) Console.WriteLine(line);
        if (output is not null) File.WriteAllLines(output, md);
        return 0;
    }

    /// <summary>
    /// Five minutes of 720p with a cut every 4 s (film-like editing): two 4 s pieces (ffmpeg's testsrc2 and its still SMPTE HD bars,
    /// libx264 ultrafast, GOP 60, 2 B-frames) alternated 37 times each with the concat demuxer, packets copied.
    /// </summary>
    private static string CutsFile(string dir)
    {
        string path = Path.Combine(dir, "cuts_720p_296s.mp4");
        if (File.Exists(path)) return path;
        Directory.CreateDirectory(dir);
        string a = Path.Combine(dir, "cuts-a.mp4"), b = Path.Combine(dir, "cuts-b.mp4"), list = Path.Combine(dir, "cuts.txt");
        const string x264 = "-c:v libx264 -preset ultrafast -crf 28 -g 60 -bf 2 -pix_fmt yuv420p";
        FfmpegCli.Run($"-v error -y -f lavfi -i testsrc2=size=1280x720:rate=30:duration=4 {x264} {a}");
        FfmpegCli.Run($"-v error -y -f lavfi -i smptehdbars=size=1280x720:rate=30:duration=4 {x264} {b}");
        File.WriteAllLines(list, Enumerable.Range(0, 74).Select(i => $"file '{(i % 2 == 0 ? a : b)}'"));
        FfmpegCli.Run($"-v error -y -f concat -safe 0 -i {list} -c copy {path}.part.mp4");
        File.Move(path + ".part.mp4", path);
        return path;
    }

    /// <summary>The segment without its pixels (the bench keeps only what it compares).</summary>
    private static DecodedSegment Light(DecodedSegment s) => s with { Pixels = [], Thumbnails = [] };

    private static double Time(Action body)
    {
        var sw = Stopwatch.StartNew();
        body();
        return sw.Elapsed.TotalSeconds;
    }
}
