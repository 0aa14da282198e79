using System.CommandLine;
using Spectre.Console;
using VidSeek.Index;

namespace VidSeek.Cli.Commands;

/// <summary><c>vidseek index DIR --model M --out INDEX</c>, or <c>vidseek index --data D --split test --model M --out INDEX</c>.</summary>
public static class IndexCommand
{
    /// <summary>
    /// The fault-injection hooks' exit: libc's <c>_exit</c>, like a kill (no unwinding, no finalizers, no atexit handlers).
    /// <see cref="Environment.Exit"/> runs the process's exit handlers and libtorch's static destructors while the decoder and
    /// encoder threads are still inside native code, which sometimes ended in SIGSEGV (exit 139) instead of the code asked for.
    /// </summary>
    internal static void ExitHard(int code)
    {
        Console.Out.Flush();
        Console.Error.Flush();
        _exit(code);
    }

    [System.Runtime.InteropServices.DllImport("libc")]
    private static extern void _exit(int status);

    /// <summary>Fault injection for the crash-safety tests: the process exits hard inside the N-th video's transaction.</summary>
    public const string AbortAfterVariable = "VIDSEEK_TEST_INDEX_ABORT_AFTER";

    /// <summary>Fault injection for the ANN crash tests: the process exits hard at this point of saving the ANN index (<see cref="AnnIndex.FaultPoint"/>).</summary>
    public const string AnnAbortAtVariable = "VIDSEEK_TEST_ANN_ABORT_AT";
    /// <summary>Fault injection for the frame sidecar's crash tests (<see cref="FrameSidecar.FaultPoint"/>).</summary>
    public const string FramesAbortAtVariable = "VIDSEEK_TEST_FRAMES_ABORT_AT";

    public static Command Create()
    {
        var dir = new Argument<DirectoryInfo?>("DIR") { Description = "Folder of videos, searched recursively (mp4, m4v, mov, avi, webm, mkv, mts, m2ts, 3gp, mpg, mpeg, wmv, flv, ogv; any case), or one video file.", Arity = ArgumentArity.ZeroOrOne };
        var model = new Option<string>("--model") { Description = "A checkpoint from vidseek train (xpool, meanp, vlt), a Hugging Face CLIP folder, or a hub id (openai/clip-vit-base-patch32).", Required = true };
        var output = new Option<string>("--out") { Description = "The index: a file, or a postgres://user@host:port/db[?schema=NAME] URL (created, or brought up to date).", Required = true };
        var frames = new Option<int?>("--frames") { Description = "Frames sampled per segment (default: the model's)." }.Bound(1, CommonOptions.MaxFrames);
        var data = new DataOptions();
        data.Data.Required = false;
        data.Data.Description = "Index the videos of an annotated dataset split instead of DIR; their captions become the ground truth the web page outlines.";
        var split = new Option<string>("--split") { Description = "With --data: the split to index.", DefaultValueFactory = _ => "test" };
        var precision = CommonOptions.Precision();
        var segments = new Option<SegmentMode?>("--segments")
        {
            Description = "How a video is cut into the moments search ranks: window (fixed windows, for videos longer than 2 windows), shots (at cuts), none (whole video). Default: window; --data: none.",
        };
        var window = new Option<string>("--segment") { Description = "Window length (30s, 2m, 1:30); with shots, the pieces long shots are split into.", DefaultValueFactory = _ => "30s" };
        var stride = new Option<string?>("--stride") { Description = "Start of one window to the next (default: the window length; shorter overlaps)." };
        var threshold = new Option<double>("--shot-threshold") { Description = "Shots: mean HSV change between frames that makes a cut (PySceneDetect's ContentDetector scale).", DefaultValueFactory = _ => Video.ShotDetector.DefaultThreshold };
        var minShot = new Option<string>("--min-shot") { Description = "Shots: the shortest shot.", DefaultValueFactory = _ => "1s" };
        var lease = new Option<double>("--lease")
        {
            Description = "PostgreSQL index: seconds a video this process has claimed stays its own if the process dies (renewed every third of it while it works). Several index processes may share one index.",
            DefaultValueFactory = _ => IndexBuilder.DefaultLease.TotalSeconds,
        }.Bound(1, 86400);
        var command = new Command("index", "Encode a folder of videos (or a dataset split) into a search index; re-running adds new and changed files and drops deleted ones.")
        {
            dir, model, output, frames, split, precision, segments, window, stride, threshold, minShot, lease,
        };
        data.AddTo(command);
        command.Subcommands.Add(CreateCopy());
        command.AddValidator(r =>
        {
            bool hasDir = r.GetValue(dir) is not null, hasData = r.GetValue(data.Data) is not null;
            if (hasDir == hasData) r.AddError("give either DIR or --data (not both)");
        });
        command.SetAction((parse, stdout) =>
        {
            string modelDir = CommonOptions.ResolveModel(parse.GetValue(model)!);
            string indexFile = IndexStore.Normalize(parse.GetValue(output)!);
            List<IndexSourceVideo> videos;
            string root;
            string? dataset = null;
            double windowSeconds = SegmentingOptions.ParseDuration(parse.GetValue(window)!, "--segment");
            var segmenting = new SegmentingOptions
            {
                Mode = parse.GetValue(segments) ?? (parse.GetValue(data.Data) is null ? SegmentMode.Window : SegmentMode.None),
                Window = windowSeconds,
                Stride = parse.GetValue(stride) is { } st ? SegmentingOptions.ParseDuration(st, "--stride") : windowSeconds,
                ShotThreshold = parse.GetValue(threshold),
                MinShot = SegmentingOptions.ParseDuration(parse.GetValue(minShot)!, "--min-shot"),
            };
            segmenting.Validate();
            if (parse.GetValue(data.Data) is not null && segmenting.Mode != SegmentMode.None)
                throw new VidSeekException("--data indexes every clip as one segment (its captions describe whole clips); leave out --segments");
            if (segmenting.Mode == SegmentMode.None) segmenting = SegmentingOptions.WholeVideo;
            if (parse.GetValue(dir) is { } folder)
            {
                var err = parse.InvocationConfiguration.Error;
                (videos, root) = VideoFiles.Scan(folder.FullName, (path, why) => err.WriteLine($"warning: skipped {path}: {why}"));
            }
            else
            {
                string format = parse.GetValue(data.Format)!, dataRoot = parse.GetValue(data.Data)!.FullName, splitName = parse.GetValue(split)!;
                var loaded = DataOptions.Load(format, dataRoot, splitName, parse.GetValue(data.Videos)?.FullName, parse.GetValue(data.SkipMissing));
                (videos, root) = IndexBuilder.FromSplit(loaded);
                dataset = $"{format}:{dataRoot}:{splitName}";
            }

            CommonOptions.ApplyPrecision(parse, precision);
            using var indexModel = IndexModel.Open(modelDir, parse.GetValue(frames));
            using var index = IndexStore.OpenOrCreate(indexFile, indexModel.Manifest(modelDir, parse.GetValue(frames), root, dataset, segmenting));

            Action<int>? abort = int.TryParse(Environment.GetEnvironmentVariable(AbortAfterVariable), out int n)
                ? done => { if (done >= n) ExitHard(86); } : null;
            using var cancel = new CancellationTokenSource();
            ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; cancel.Cancel(); };
            Console.CancelKeyPress += onCancel;
            IndexUpdateReport report = null!;
            try
            {
                // By duration, not file count: one hour-long film is most of the work of a folder of phone clips.
                Cli.Progress().AutoClear(true)
                    .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new VideoRateColumn(), new RemainingTimeColumn())
                    .Start(ctx =>
                    {
                        var task = ctx.AddTask("indexing", maxValue: 1);
                        report = IndexBuilder.Update(index, indexModel, videos, p =>
                        {
                            task.Description = $"indexing {p.FilesDone}/{p.FilesTotal} {Markup.Escape(Shorten(p.Path))}";
                            task.MaxValue = Math.Max(1e-6, p.SecondsTotal);
                            task.Value = Math.Min(p.SecondsDone, task.MaxValue);
                        }, cancel.Token, abort, lease: TimeSpan.FromSeconds(parse.GetValue(lease)));
                    });
            }
            finally
            {
                Console.CancelKeyPress -= onCancel;
            }
            var stderr = parse.InvocationConfiguration.Error;
            foreach (var (path, error) in report.Failed)
                stderr.WriteLine($"skipped {path}: {error}");
            foreach (var (path, warning) in report.Warnings)
                stderr.WriteLine($"warning: {path}: {warning}");
            // The files beside the index that search uses: each kept in step once it exists or the index is large enough to need it.
            bool KeepInStep(string file) => index is SqliteIndexStore && (File.Exists(file) || index.SegmentCount > VideoSearcher.DefaultCandidates);
            // The first stage of search: a nearest-neighbour graph, except for X-Pool, whose first stage (XPoolScan) is built from
            // the frame sidecar when a search opens the index (a graph made earlier is still kept in step).
            bool scans = VideoSearcher.ScannedPool(indexModel) is not null;
            if (scans ? File.Exists(AnnIndex.PathFor(indexFile)) : KeepInStep(AnnIndex.PathFor(indexFile)))
            {
                if (Environment.GetEnvironmentVariable(AnnAbortAtVariable) is { Length: > 0 } point)
                    AnnIndex.FaultPoint = p => { if (p == point) ExitHard(87); };
                using var ann = AnnIndex.Open(index, indexModel, w => stderr.WriteLine($"warning: {w}"));
                stdout.WriteLine($"approximate index {AnnIndex.PathFor(indexFile)}: {ann.Count} segments, {ann.OpenedAs}");
            }
            // The candidates' frames for search's second stage, by offset (dual encoders; a VLT reads its tokens from the index).
            if (indexModel is IndexModel.Dual && KeepInStep(FrameSidecar.PathFor(indexFile)))
            {
                if (Environment.GetEnvironmentVariable(FramesAbortAtVariable) is { Length: > 0 } point)
                    FrameSidecar.FaultPoint = p => { if (p == point) ExitHard(87); };
                using var frames = FrameSidecar.Open(index, w => stderr.WriteLine($"warning: {w}"));
                if (frames is not null)
                    stdout.WriteLine($"frame sidecar {FrameSidecar.PathFor(indexFile)}: {frames.Count} segments, {frames.OpenedAs}");
            }
            // What the scores mean on this index (generic captions against its videos), stored in it for search and serve.
            if (!cancel.IsCancellationRequested && index.SegmentCount > 0)
            {
                var calibration = ScoreCalibration.ForIndex(index, indexModel, w => stderr.WriteLine($"warning: {w}"));
                stdout.WriteLine($"score calibration: {calibration.Captions} generic captions against {calibration.SegmentIds.Length} of {calibration.SegmentsTotal} segments");
            }
            stdout.WriteLine($"{index.VideoCount} videos in {index.Location}: {report.Added} added, {report.Updated} updated, {report.Unchanged} unchanged, {report.Removed} removed, {report.Failed.Count} failed to decode");
            if (report.TakenOver > 0)
                stdout.WriteLine($"{report.TakenOver} videos encoded here were written by another worker instead (this one's lease ran out while it worked; a longer --lease avoids that)");
            if (report.Segments > 0)
                stdout.WriteLine($"encoded {report.Segments} segments ({index.Manifest.SegmentingOrDefault.Describe()}), {report.VideoSeconds:F0} s of video in {report.WallSeconds:F1} s: "
                    + $"{report.VideoSeconds / Math.Max(1e-9, report.WallSeconds):F1} s of video per second (decoding {report.DecodeSeconds:F1} s, encoding {report.EncodeSeconds:F1} s, overlapped)");
            if (cancel.IsCancellationRequested) stdout.WriteLine("interrupted: run the same command again to finish");
            return cancel.IsCancellationRequested ? Cli.Interrupted : 0;
        });
        return command;
    }

    /// <summary><c>vidseek index copy FROM TO</c>: an index moved between stores (a file and a postgres:// URL, either way).</summary>
    private static Command CreateCopy()
    {
        var from = new Argument<string>("FROM") { Description = "The index to copy: a file, or a postgres:// URL." };
        var to = new Argument<string>("TO") { Description = "Where to: a new file, or a postgres:// URL (created, or completed if it holds the same index)." };
        var command = new Command("copy", "Copy an index between stores (SQLite file <-> PostgreSQL) with everything in it: videos, captions, segments, embeddings, thumbnails, manifest.") { from, to };
        command.SetAction((parse, stdout) =>
        {
            string source = IndexStore.Normalize(parse.GetValue(from)!), target = IndexStore.Normalize(parse.GetValue(to)!);
            IndexCopyReport report = null!;
            Cli.Progress().AutoClear(true)
                .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new RateColumn("videos"))
                .Start(ctx =>
                {
                    var task = ctx.AddTask("copying", maxValue: 1);
                    report = IndexCopy.Copy(source, target, (done, total, path) =>
                    {
                        task.MaxValue = Math.Max(1, total);
                        task.Description = $"copying {Markup.Escape(Shorten(path))}";
                        task.Value = done;
                    });
                });
            stdout.WriteLine($"copied {report.Copied} videos ({report.Segments} segments in all) to {(IndexStore.IsUrl(target) ? PostgresIndexStore.Redact(target) : target)}: {report.AlreadyThere} were there already, {report.Removed} removed");
            return 0;
        });
        return command;
    }

    private static string Shorten(string path) => path.Length <= 40 ? path : "..." + path[^37..];

    /// <summary>Seconds of video indexed per second of wall time (the task's values are seconds of video).</summary>
    private sealed class VideoRateColumn : ProgressColumn, CliProgress.IUnitColumn
    {
        public string Unit => "s of video";

        public override Spectre.Console.Rendering.IRenderable Render(Spectre.Console.Rendering.RenderOptions options, ProgressTask task, TimeSpan deltaTime) =>
            new Markup($"{task.Speed ?? 0:F1} s video/s");
    }
}
