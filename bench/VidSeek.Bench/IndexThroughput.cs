using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using VidSeek.Index;
using VidSeek.Models;
using VidSeek.Models.Clip;

namespace VidSeek.Bench;

/// <summary>
/// Indexing throughput on a collection of long H.264 videos: seconds of video indexed per second, the time the decode and the
/// encode stages were busy (they overlap, so the two shares can add up to more than 100%), and peak RSS, for CLIP ViT-B/32
/// (random weights, from the fixture config; in fp32 and with <c>--precision bf16</c>) and the demo model, each indexed in its
/// own child process so that each peak RSS is that model's own.
/// </summary>
/// <remarks>
/// The collection is generated with Debian's <c>ffmpeg</c> (<c>bench/index-throughput.sh</c> installs it; VidSeek never uses
/// it): libx264 <c>ultrafast</c> (cheap to encode on a small machine) with 2 B-frames, a keyframe every 2 s as a phone
/// records (GOP 60 at 30 fps), ffmpeg's moving <c>testsrc2</c> pattern. Clips are encoded directly; the 60-minute file is
/// one encoded minute joined 60 times with the concat demuxer and <c>-c copy</c> (as <see cref="FrameSeekBench"/>: copying
/// packets decodes exactly like a fresh encode, and encoding an hour of 1080p would take a shared 2-core machine hours).
/// Files are cached under <c>--work</c> (default <c>/tmp/vidseek-index-bench/COLLECTION/videos</c>) and reused.
/// </remarks>
public static class IndexThroughput
{
    /// <summary>The issue's collection and a reduced one for a busy machine.</summary>
    private static readonly Dictionary<string, (int[] Durations, int[] Heights, int Long, int LongHeight)> Collections = new()
    {
        ["full"] = ([10, 30, 60, 120, 300], [720, 1080], 3600, 1080),
        ["small"] = ([10, 60], [720, 1080], 300, 720),
    };

    public static int Run(Options o)
    {
        string collection = o.String("collection") ?? "small";
        if (!Collections.TryGetValue(collection, out var c)) throw new ArgumentException($"unknown --collection '{collection}' (small, full)");
        string work = Path.GetFullPath(o.String("work") ?? Path.Combine(Path.GetTempPath(), "vidseek-index-bench", collection));
        int[] durations = o.Ints("durations", c.Durations);
        int[] heights = o.Ints("heights", c.Heights);
        int longSeconds = o.Int("long", c.Long);
        int longHeight = o.Int("long-height", c.LongHeight);
        string models = o.String("models") ?? "clip,clip-bf16,demo";
        string? output = o.String("out");
        string segment = o.String("segment") ?? "30s";
        bool generateOnly = o.String("generate-only") is "true" or "1" or "yes";
        // Frame access, one row per model and mode: "auto" seeks where the container can be trusted, "sequential" decodes every frame.
        string[] accesses = (o.String("access") ?? "auto").Split(',', StringSplitOptions.RemoveEmptyEntries);
        foreach (var a in accesses)
            if (a is not ("auto" or "sequential")) throw new ArgumentException($"unknown --access '{a}' (auto, sequential)");
        o.CheckAllRead();

        string videos = Path.Combine(work, "videos");
        Directory.CreateDirectory(videos);
        var clock = Stopwatch.StartNew();
        foreach (int d in durations)
            foreach (int h in heights)
                Generate(Path.Combine(videos, $"clip_{h}p_{d}s.mp4"), h, d);
        if (longSeconds > 0) GenerateLong(Path.Combine(videos, $"long_{longHeight}p_{longSeconds}s.mp4"), longHeight, longSeconds, work);
        var files = Directory.GetFiles(videos, "*.mp4").Order().ToArray();
        double total = files.Sum(f => VidSeek.Video.FrameScan.Probe(f).EstimatedDuration);
        Console.Error.WriteLine($"collection: {files.Length} files, {total:F0} s of video in {videos} (generated or found in {clock.Elapsed.TotalSeconds:F0} s)");
        if (generateOnly)
        {
            // What the indexer will do with each file: the seek check runs here once, so a file that would fall back shows now.
            foreach (var f in files)
            {
                var probe = VidSeek.Video.VideoReader.Probe(f);
                Console.Error.WriteLine($"  {Path.GetFileName(f)}: {probe.FrameCount} frames, {probe.Method}{(probe.FallbackReason is { } why ? $" ({why})" : "")}");
            }
            return 0;
        }

        string loadStart = Machine.LoadAverageNow();
        var rows = new List<string>();
        foreach (string name in models.Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            var (folder, label, precision) = name switch
            {
                "clip" => (RandomClip(Path.Combine(Path.GetDirectoryName(work)!, "clip-vit-base-patch32-random")), "CLIP ViT-B/32, random weights (12 frames)", "fp32"),
                "clip-bf16" => (RandomClip(Path.Combine(Path.GetDirectoryName(work)!, "clip-vit-base-patch32-random")), "CLIP ViT-B/32, random weights (12 frames)", "bf16"),
                "demo" => (Path.Combine(RepoRoot(), "assets", "demo-model"), "demo model (X-Pool, 64 px, 8 frames)", "fp32"),
                _ => throw new ArgumentException($"unknown model '{name}' (clip, clip-bf16, demo)"),
            };
            foreach (string access in accesses)
            {
                string index = Path.Combine(work, $"{name}.vsi");
                File.Delete(index);
                Console.Error.WriteLine($"{name} ({precision}), {access}: indexing ... (load average {Machine.LoadAverageNow()})");
                var result = Child(folder, videos, index, segment, access, precision);
                double wall = result.GetProperty("wall_seconds").GetDouble(), seconds = result.GetProperty("video_seconds").GetDouble();
                var row = $"| {label} | {precision} | {access} | {result.GetProperty("videos").GetInt32()} ({result.GetProperty("seeked").GetInt32()}) "
                    + $"| {result.GetProperty("segments").GetInt32()} | {result.GetProperty("frames").GetInt32():N0} | {seconds:N0} | {wall:N1} "
                    + $"| **{seconds / wall:F1}** | {Share(result, "decode_seconds")} | {Share(result, "encode_seconds")} | {result.GetProperty("peak_rss_mib").GetInt64():N0} |";
                Console.Error.WriteLine(row);
                rows.Add(row);
                File.Delete(index);
            }
        }
        var machine = Machine.Describe();
        var md = new List<string>
        {
            $"Collection `{collection}`: {files.Length} H.264 files, {total:N0} s of video ({string.Join(", ", heights.Select(h => h + "p"))} clips of {string.Join(", ", durations.Select(d => d + " s"))}"
                + (longSeconds > 0 ? $", one {longSeconds} s {longHeight}p file" : "") + $"); segments: windows of {segment}.",
            $"Machine: {machine.Cores} cores ({machine.Cpu}), libtorch {machine.Torch} with {machine.TorchThreads} threads; load average {loadStart} at the start, {Machine.LoadAverageNow()} at the end.",
            "",
            "| model | precision | access | videos (by seeking) | segments | frames encoded | video (s) | wall (s) | s of video / s | decode stage busy | encode stage busy | peak RSS (MiB) |",
            "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        };
        md.AddRange(rows);
        foreach (var line in md) Console.WriteLine(line);
        if (output is not null) File.WriteAllLines(output, md);
        return 0;
    }

    private static string Share(JsonElement r, string key) =>
        $"{r.GetProperty(key).GetDouble():F1} s ({100 * r.GetProperty(key).GetDouble() / r.GetProperty("wall_seconds").GetDouble():F0}%)";

    /// <summary>The child: indexes the folder and prints one JSON line with the report and the peak RSS.</summary>
    public static int ChildRun(string[] args)
    {
        string model = args[0], videos = args[1], index = args[2], segment = args[3];
        VidSeek.Models.InferencePrecision.Current = VidSeek.Models.InferencePrecision.Parse(args[5]);
        var read = new VidSeek.Video.VideoReadOptions
        {
            Access = args[4] == "sequential" ? VidSeek.Video.FrameAccessMode.Sequential : VidSeek.Video.FrameAccessMode.Auto,
        };
        using var indexModel = IndexModel.Open(model);
        var segmenting = new SegmentingOptions { Window = SegmentingOptions.ParseDuration(segment, "--segment"), Stride = SegmentingOptions.ParseDuration(segment, "--segment") };
        using var store = IndexStore.OpenOrCreate(index, indexModel.Manifest(model, null, videos, null, segmenting));
        var report = IndexBuilder.Update(store, indexModel, IndexBuilder.ScanFolder(videos), p =>
        {
            if (p.SecondsTotal > 0) Console.Error.Write($"\r{p.FilesDone}/{p.FilesTotal} files, {p.SecondsDone:F0}/{p.SecondsTotal:F0} s of video   ");
        }, read: read);
        Console.Error.WriteLine();
        if (report.Failed.Count > 0) throw new InvalidOperationException($"failed: {report.Failed[0].Path}: {report.Failed[0].Error}");
        Console.WriteLine(JsonSerializer.Serialize(new
        {
            videos = report.Added, seeked = report.SeekedVideos, segments = report.Segments, frames = report.Segments * store.Manifest.Frames, video_seconds = report.VideoSeconds,
            wall_seconds = report.WallSeconds, decode_seconds = report.DecodeSeconds, encode_seconds = report.EncodeSeconds,
            peak_rss_mib = XPoolEvalBench.PeakRssMiB(),
        }));
        return 0;
    }

    private static JsonElement Child(string model, string videos, string index, string segment, string access, string precision)
    {
        var start = new ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardOutput = true, UseShellExecute = false };
        // Under `dotnet run` the process is the dotnet host running the bench's dll; as a published app it is the app itself.
        if (Path.GetFileNameWithoutExtension(Environment.ProcessPath!) == "dotnet") start.ArgumentList.Add(typeof(IndexThroughput).Assembly.Location);
        foreach (var a in new[] { "index-throughput-child", model, videos, index, segment, access, precision }) start.ArgumentList.Add(a);
        using var child = Process.Start(start)!;
        string stdout = child.StandardOutput.ReadToEnd();
        child.WaitForExit();
        if (child.ExitCode != 0) throw new InvalidOperationException($"the indexing child failed ({child.ExitCode})");
        return JsonDocument.Parse(stdout.Trim().Split('\n')[^1]).RootElement.Clone();
    }

    /// <summary>H.264 (libx264, ultrafast, GOP 60 = a keyframe every 2 s, 2 B-frames) of ffmpeg's moving test pattern, at 16:9 and 30 fps.</summary>
    private static void Generate(string path, int height, int seconds)
    {
        if (File.Exists(path)) return;
        int width = height * 16 / 9 / 2 * 2;
        Console.Error.WriteLine($"generating {path} ...");
        string tmp = path + ".part.mp4";
        Ffmpeg(path, "-y", "-v", "error", "-f", "lavfi", "-i", $"testsrc2=size={width}x{height}:rate=30", "-t", seconds.ToString(CultureInfo.InvariantCulture),
            "-c:v", "libx264", "-preset", "ultrafast", "-crf", "28", "-g", "60", "-bf", "2", "-pix_fmt", "yuv420p", tmp);
        File.Move(tmp, path);
    }

    /// <summary>A long file: one encoded minute (<see cref="Generate"/>) joined with the concat demuxer, packets copied.</summary>
    private static void GenerateLong(string path, int height, int seconds, string work)
    {
        if (File.Exists(path)) return;
        if (seconds % 60 != 0) { Generate(path, height, seconds); return; }
        string piece = Path.Combine(work, $"piece_{height}p_60s.mp4");
        Generate(piece, height, 60);
        Console.Error.WriteLine($"generating {path} ({seconds / 60} x {Path.GetFileName(piece)}, packets copied) ...");
        string list = Path.Combine(work, $"concat_{height}p_{seconds}s.txt");
        File.WriteAllLines(list, Enumerable.Repeat($"file '{piece}'", seconds / 60));
        string tmp = path + ".part.mp4";
        Ffmpeg(path, "-y", "-v", "error", "-f", "concat", "-safe", "0", "-i", list, "-c", "copy", tmp);
        File.Move(tmp, path);
        File.Delete(list);
    }

    private static void Ffmpeg(string path, params string[] args)
    {
        var ffmpeg = new ProcessStartInfo("ffmpeg") { UseShellExecute = false, RedirectStandardError = true };
        foreach (var a in args) ffmpeg.ArgumentList.Add(a);
        Process p;
        try { p = Process.Start(ffmpeg)!; }
        catch (System.ComponentModel.Win32Exception) { throw new InvalidOperationException("ffmpeg not found: this bench generates its videos with Debian's ffmpeg (bench/index-throughput.sh installs it)"); }
        string err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"ffmpeg failed for {path}: {err}");
    }

    /// <summary>CLIP ViT-B/32 with random weights, saved as a Hugging Face folder (config, weights, the bundled tokenizer).</summary>
    private static string RandomClip(string folder)
    {
        if (File.Exists(Path.Combine(folder, "model.safetensors"))) return folder;
        string config = Path.Combine(RepoRoot(), "tests", "VidSeek.Tests", "Fixtures", "clip-vit-base-patch32", "config.json");
        TorchSharp.torch.manual_seed(0);
        using var model = new ClipModel(ClipConfig.Load(config));
        PretrainedFolder.Save(folder, model, File.ReadAllText(config));
        foreach (var f in Directory.GetFiles(Path.Combine(RepoRoot(), "assets", "clip-tokenizer"), "*.*").Where(f => f.EndsWith(".json") || f.EndsWith(".txt")))
            File.Copy(f, Path.Combine(folder, Path.GetFileName(f)), overwrite: true);
        return folder;
    }

    private static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "VidSeek.sln"))) return dir.FullName;
        throw new InvalidOperationException("VidSeek.sln not found above " + AppContext.BaseDirectory);
    }
}
