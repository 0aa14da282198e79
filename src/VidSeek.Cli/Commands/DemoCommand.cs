using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using Spectre.Console;
using VidSeek.Data;
using VidSeek.Data.Shapes;
using VidSeek.Index;
using VidSeek.Models.DualEncoder;
using VidSeek.Retrieval;
using VidSeek.Training;

namespace VidSeek.Cli.Commands;

/// <summary>
/// <c>vidseek demo [--work DIR]</c>: the quickstart. Generates the Shapes corpus the shipped model was trained on, indexes its
/// test split with that model, runs example queries (top 5 with X-Pool's attention per frame) and evaluates the model on the
/// test split next to the metrics recorded when it was trained (<c>assets/demo-model/TRAINING.md</c>).
/// </summary>
public static class DemoCommand
{
    /// <summary>The corpus of the shipped model's training run: <c>vidseek synth --seed 1 --videos 800</c>.</summary>
    public static ShapesOptions Corpus(string outputDir) => new() { OutputDir = outputDir, Seed = 1, Videos = 800, Force = true };

    public static string ModelFolder => Path.Combine(AppContext.BaseDirectory, "demo-model");

    public static Command Create()
    {
        var work = new Option<DirectoryInfo>("--work") { Description = "Folder for the corpus and the index (kept, so that serve can use it).", DefaultValueFactory = _ => new DirectoryInfo("vidseek-demo") };
        var queries = new Option<int>("--queries") { Description = "Example queries to run.", DefaultValueFactory = _ => 3 }.Bound(0, 20);
        var command = new Command("demo", "Quickstart: generate Shapes videos, index them with the bundled model, search them, and evaluate.") { work, queries };
        command.SetAction((parse, stdout) =>
        {
            var clock = Stopwatch.StartNew();
            string dir = parse.GetValue(work)!.FullName, data = Path.Combine(dir, "data"), indexFile = Path.Combine(dir, "demo.vsi");
            if (!File.Exists(Path.Combine(ModelFolder, "model.safetensors")))
                throw new VidSeekException($"the bundled demo model is missing from {ModelFolder} (build the CLI project to copy assets/demo-model there)");

            // 1. The corpus (skipped when an earlier demo run left the same one).
            var corpus = Corpus(data);
            if (!SameCorpus(data, corpus))
            {
                Cli.Progress().AutoClear(true).Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RateColumn("videos"), new RemainingTimeColumn())
                    .Start(ctx =>
                    {
                        var task = ctx.AddTask("1/4 generating the Shapes corpus", maxValue: corpus.Videos);
                        ShapesGenerator.Generate(corpus, new Progress<int>(_ => task.Increment(1)));
                    });
            }
            stdout.WriteLine($"1/4 corpus: {corpus.Videos} Shapes videos in {data} ({clock.Elapsed.TotalSeconds:F0} s)");

            // 2. The index of the test split (its captions are the ground truth).
            var test = DataOptions.Load("msrvtt", data, "test", null, false);
            using (var indexModel = IndexModel.Open(ModelFolder))
            {
                var (videos, root) = IndexBuilder.FromSplit(test);
                var manifest = indexModel.Manifest(ModelFolder, null, root, $"msrvtt:{data}:test");
                if (File.Exists(indexFile) && !SameIndex(indexFile, manifest)) File.Delete(indexFile); // from another build of the demo model
                using var index = IndexStore.OpenOrCreate(indexFile, manifest);
                IndexUpdateReport report = null!;
                Cli.Progress().AutoClear(true).Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RateColumn("files"), new RemainingTimeColumn())
                    .Start(ctx =>
                    {
                        var task = ctx.AddTask("2/4 indexing the test videos", maxValue: videos.Count);
                        report = IndexBuilder.Update(index, indexModel, videos, p => task.Value = p.FilesDone);
                    });
                if (report.Failed.Count > 0) throw new VidSeekException($"{report.Failed.Count} demo videos failed to decode, e.g. {report.Failed[0].Path}: {report.Failed[0].Error}");
                ScoreCalibration.ForIndex(index, indexModel, w => Cli.Err.WriteLine($"warning: {w}")); // what the scores mean (stored in the index)
                stdout.WriteLine($"2/4 index: {index.VideoCount} test videos in {indexFile} ({report.Added} encoded now; {clock.Elapsed.TotalSeconds:F0} s)");
            }

            // 3. Example queries: ground-truth captions of the test split, one of each kind first.
            using (var searcher = VideoSearcher.Open(indexFile))
            {
                // Not chosen by how well the model does on them: the first full caption, then segment captions of other videos.
                var full = test.Captions.First(c => c.Type == "full");
                var examples = new[] { full }.Concat(test.Captions.Where(c => c.Type == "segment" && c.VideoIndex != full.VideoIndex).DistinctBy(c => c.VideoIndex))
                    .Take(parse.GetValue(queries)).ToList();
                stdout.WriteLine($"3/4 example queries (top 5; bars: X-Pool's attention over the {searcher.Index.Manifest.Frames} sampled frames):");
                foreach (var c in examples)
                {
                    stdout.WriteLine();
                    stdout.WriteLine($"  \"{c.Text}\"  ({c.Type} caption of {Path.GetFileName(test.Videos[c.VideoIndex].Path)})");
                    var top = searcher.Search(c.Text, 5);
                    stdout.WriteLine(SearchCommand.Render(top, searcher.Kind));
                    if (SearchCommand.VerdictLine(top) is { } verdict) stdout.WriteLine("  " + verdict);
                    var all = searcher.Search(c.Text, searcher.Videos.Count);
                    var truth = all.Where(h => h.IsGroundTruth).Select(h => $"{h.Video.Path} at rank {h.Rank}");
                    stdout.WriteLine($"  ground truth: {string.Join(", ", truth)} of {all.Count}");
                }
            }

            // 4. Test metrics, next to those recorded when the model was trained.
            using (var ckpt = RetrievalCheckpoint.Open(ModelFolder))
            {
                var source = new VideoFrameSource(test.Videos, ckpt.Model.Config.NumFrames, ckpt.Model.Clip.ImageSize, cacheBudgetBytes: 0);
                EvalResult result = null!;
                Cli.Progress().AutoClear(true).Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn())
                    .Start(ctx =>
                    {
                        var task = ctx.AddTask("4/4 evaluating", maxValue: test.Videos.Count);
                        result = Evaluator.Evaluate(ckpt.Model, test, source, ckpt.Texts, progress: (_, done, _) => task.Value = done);
                    });
                var recorded = Recorded();
                stdout.WriteLine();
                stdout.WriteLine($"4/4 test metrics ({result.Texts} captions, {result.Videos} videos; chance R@1 {100.0 / result.Videos:F2}%), measured now vs recorded at training (assets/demo-model/TRAINING.md):");
                var table = new Table().AddColumns("captions", "dir", "R@1", "R@5", "R@10", "MdR", "recorded R@1");
                var groups = new List<string> { "all" };
                groups.AddRange(result.ByType.Keys);
                int differ = 0;
                foreach (var g in groups)
                    foreach (var d in new[] { "t2v", "v2t" })
                    {
                        var report = g == "all" ? result.Overall : result.ByType[g];
                        var s = d == "t2v" ? report.TextToVideo : report.VideoToText;
                        string rec = recorded?.TryGetValue((g, d), out var r1) == true ? r1.ToString("F1") : "-";
                        if (recorded is not null && (!recorded.TryGetValue((g, d), out r1) || Math.Abs(r1 - s.R1) > 1e-6)) differ++;
                        table.AddRow(g, d, s.R1.ToString("F1"), s.R5.ToString("F1"), s.R10.ToString("F1"), s.MedianRank.ToString("0.#"), rec);
                    }
                var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(stdout), Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors });
                console.Profile.Width = 120;
                console.Write(table);
                stdout.WriteLine(recorded is null ? "no recorded metrics to compare with (eval-test.json missing)"
                    : differ == 0 ? "the measured R@1 equal the recorded ones"
                    : $"warning: {differ} measured R@1 differ from the recorded ones (a different corpus generator or decoder?)");
            }
            stdout.WriteLine();
            stdout.WriteLine($"done in {clock.Elapsed.TotalSeconds:F0} s. Next: vidseek search {indexFile} \"a red circle moves left\"   or   vidseek serve {indexFile}");
            return 0;
        });
        return command;
    }

    /// <summary>Whether <paramref name="data"/> already holds the corpus of <paramref name="options"/> (same seed, size and generator version).</summary>
    private static bool SameCorpus(string data, ShapesOptions options)
    {
        string manifest = Path.Combine(data, "shapes.json");
        if (!File.Exists(manifest) || !File.Exists(Path.Combine(data, "MSRVTT_data.json"))) return false;
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(manifest));
            var r = doc.RootElement;
            return r.GetProperty("version").GetInt32() == ShapesOptions.GeneratorVersion && r.GetProperty("seed").GetInt64() == options.Seed
                && r.GetProperty("videos").GetInt32() == options.Videos && r.GetProperty("size").GetInt32() == options.Size
                && Directory.GetFiles(Path.Combine(data, "videos")).Length == options.Videos;
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or IOException) { return false; }
    }

    private static bool SameIndex(string file, IndexManifest manifest)
    {
        try
        {
            using var index = IndexStore.Open(file);
            return index.Manifest.ModelSha256 == manifest.ModelSha256 && index.Manifest.Root == manifest.Root && index.Manifest.Frames == manifest.Frames;
        }
        catch (VidSeekException) { return false; }
    }

    /// <summary>R@1 by (caption group, direction) from the shipped <c>eval-test.json</c>, or null if it is missing.</summary>
    private static Dictionary<(string, string), double>? Recorded()
    {
        string path = Path.Combine(ModelFolder, "eval-test.json");
        if (!File.Exists(path)) return null;
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        var result = new Dictionary<(string, string), double>();
        foreach (var group in doc.RootElement.GetProperty("results").EnumerateObject())
            foreach (var dir in new[] { "t2v", "v2t" })
                result[(group.Name, dir)] = group.Value.GetProperty(dir).GetProperty("R1").GetProperty("mean").GetDouble();
        return result;
    }
}
