using System.CommandLine;
using Spectre.Console;
using VidSeek.Index;

namespace VidSeek.Cli.Commands;

/// <summary><c>vidseek index DIR --model M --out INDEX</c>, or <c>vidseek index --data D --split test --model M --out INDEX</c>.</summary>
public static class IndexCommand
{
    /// <summary>Fault injection for the crash-safety tests: the process exits hard inside the N-th video's transaction.</summary>
    public const string AbortAfterVariable = "VIDSEEK_TEST_INDEX_ABORT_AFTER";

    public static Command Create()
    {
        var dir = new Argument<DirectoryInfo?>("DIR") { Description = "Folder of videos, searched recursively (mp4, m4v, mov, avi, webm, mkv, mts, m2ts, 3gp, mpg, mpeg, wmv, flv, ogv; any case), or one video file.", Arity = ArgumentArity.ZeroOrOne };
        var model = new Option<string>("--model") { Description = "A checkpoint from vidseek train (xpool, meanp, vlt), a Hugging Face CLIP folder, or a hub id (openai/clip-vit-base-patch32).", Required = true };
        var output = new Option<FileInfo>("--out") { Description = "The index file (created, or brought up to date).", Required = true };
        var frames = new Option<int?>("--frames") { Description = "Frames sampled per video (default: the model's)." };
        var data = new DataOptions();
        data.Data.Required = false;
        data.Data.Description = "Index the videos of an annotated dataset split instead of DIR; their captions become the ground truth the web page outlines.";
        var split = new Option<string>("--split") { Description = "With --data: the split to index.", DefaultValueFactory = _ => "test" };
        var command = new Command("index", "Encode a folder of videos (or a dataset split) into a search index; re-running adds new and changed files and drops deleted ones.")
        {
            dir, model, output, frames, split,
        };
        data.AddTo(command);
        command.Validators.Add(r =>
        {
            bool hasDir = r.GetValue(dir) is not null, hasData = r.GetValue(data.Data) is not null;
            if (hasDir == hasData) r.AddError("give either DIR or --data (not both)");
        });
        command.SetAction((parse, stdout) =>
        {
            string modelDir = CommonOptions.ResolveModel(parse.GetValue(model)!);
            string indexFile = parse.GetValue(output)!.FullName;
            if (parse.GetValue(frames) is < 1) throw new VidSeekException("--frames must be at least 1");
            List<IndexSourceVideo> videos;
            string root;
            string? dataset = null;
            if (parse.GetValue(dir) is { } folder)
            {
                (videos, root) = VideoFiles.Scan(folder.FullName);
            }
            else
            {
                string format = parse.GetValue(data.Format)!, dataRoot = parse.GetValue(data.Data)!.FullName, splitName = parse.GetValue(split)!;
                var loaded = DataOptions.Load(format, dataRoot, splitName, parse.GetValue(data.Videos)?.FullName, parse.GetValue(data.SkipMissing));
                (videos, root) = IndexBuilder.FromSplit(loaded);
                dataset = $"{format}:{dataRoot}:{splitName}";
            }

            using var indexModel = IndexModel.Open(modelDir, parse.GetValue(frames));
            using var index = IndexStore.OpenOrCreate(indexFile, indexModel.Manifest(modelDir, parse.GetValue(frames), root, dataset));

            Action<int>? abort = int.TryParse(Environment.GetEnvironmentVariable(AbortAfterVariable), out int n)
                ? done => { if (done >= n) Environment.Exit(86); } : null;
            using var cancel = new CancellationTokenSource();
            ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; cancel.Cancel(); };
            Console.CancelKeyPress += onCancel;
            IndexUpdateReport report = null!;
            try
            {
                Cli.Err.Progress().AutoClear(true)
                    .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new RateColumn("files"), new RemainingTimeColumn())
                    .Start(ctx =>
                    {
                        var task = ctx.AddTask("indexing", maxValue: Math.Max(1, videos.Count));
                        report = IndexBuilder.Update(index, indexModel, videos, (done, total, path) =>
                        {
                            task.Description = $"indexing {Markup.Escape(Shorten(path))}";
                            task.Value = done;
                        }, cancel.Token, abort);
                    });
            }
            finally
            {
                Console.CancelKeyPress -= onCancel;
            }
            var stderr = parse.InvocationConfiguration.Error;
            foreach (var (path, error) in report.Failed)
                stderr.WriteLine($"skipped {path}: {error}");
            stdout.WriteLine($"{index.VideoCount} videos in {indexFile}: {report.Added} added, {report.Updated} updated, {report.Unchanged} unchanged, {report.Removed} removed, {report.Failed.Count} failed to decode");
            if (cancel.IsCancellationRequested) stdout.WriteLine("interrupted: run the same command again to finish");
            return cancel.IsCancellationRequested ? Cli.Interrupted : 0;
        });
        return command;
    }

    private static string Shorten(string path) => path.Length <= 40 ? path : "..." + path[^37..];
}
