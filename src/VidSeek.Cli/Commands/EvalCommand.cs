using System.CommandLine;
using System.Text.Json;
using Spectre.Console;
using VidSeek.Models.DualEncoder;
using VidSeek.Retrieval;
using VidSeek.Training;

namespace VidSeek.Cli.Commands;

/// <summary><c>vidseek eval --checkpoint C --data DIR --split test [--dsl] [--json]</c></summary>
public static class EvalCommand
{
    public static Command Create()
    {
        var checkpoint = new Option<DirectoryInfo[]>("--checkpoint")
        {
            Description = "A VidSeek checkpoint folder (from train), or a Hugging Face CLIP folder (zero-shot, mean pooling). Repeat it (e.g. one per training seed) to report mean and std.",
            Required = true, AllowMultipleArgumentsPerToken = true,
        };
        var data = new DataOptions();
        var split = new Option<string>("--split") { Description = "Split to evaluate.", DefaultValueFactory = _ => "test" };
        var dsl = new Option<bool>("--dsl") { Description = "Dual softmax at inference (DSL)." };
        var json = new Option<bool>("--json") { Description = "Print the metrics as JSON." };
        var tokenizer = new Option<DirectoryInfo?>("--tokenizer") { Description = "vocab.json + merges.txt (default: the checkpoint's)." };
        var command = new Command("eval", "Evaluate retrieval (R@1/5/10/50, MdR, MnR; text-to-video and video-to-text; overall and per caption type).")
        {
            checkpoint, split, dsl, json, tokenizer,
        };
        data.AddTo(command);
        command.SetAction((parse, stdout) =>
        {
            var splitName = parse.GetValue(split)!;
            var loaded = DataOptions.Load(parse.GetValue(data.Format)!, parse.GetValue(data.Data)!.FullName, splitName, parse.GetValue(data.Videos)?.FullName, parse.GetValue(data.SkipMissing));
            var options = new EvalOptions { DualSoftmax = parse.GetValue(dsl) };
            var folders = parse.GetValue(checkpoint)!;
            var results = new List<EvalResult>();
            foreach (var folder in folders)
            {
                using var ckpt = RetrievalCheckpoint.Open(folder.FullName, parse.GetValue(tokenizer)?.FullName);
                var frames = new VideoFrameSource(loaded.Videos, ckpt.Model.Config.NumFrames, ckpt.Model.Clip.ImageSize, cacheBudgetBytes: 0);
                Cli.Err.Progress().AutoClear(true).Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
                    .Start(ctx =>
                    {
                        var task = ctx.AddTask($"encoding videos ({folder.Name})", maxValue: loaded.Videos.Count);
                        results.Add(Evaluator.Evaluate(ckpt.Model, loaded, frames, ckpt.Texts, options, (_, done, _) => task.Value = done));
                    });
            }

            var groups = new List<string> { "all" };
            groups.AddRange(results[0].ByType.Keys);
            RetrievalReport Pick(EvalResult r, string g) => g == "all" ? r.Overall : r.ByType[g];
            if (parse.GetValue(json))
            {
                var doc = new
                {
                    checkpoints = folders.Select(f => f.FullName), split = splitName, dsl = options.DualSoftmax, texts = results[0].Texts, videos = results[0].Videos,
                    tie_policy = options.Ties.ToString(),
                    results = groups.ToDictionary(g => g, g => new
                    {
                        t2v = MeanStd.Of(results.Select(r => Pick(r, g).TextToVideo).ToList()),
                        v2t = MeanStd.Of(results.Select(r => Pick(r, g).VideoToText).ToList()),
                    }),
                };
                stdout.WriteLine(JsonSerializer.Serialize(doc, new JsonSerializerOptions { WriteIndented = true }));
                return 0;
            }
            string runs = folders.Length > 1 ? $", mean ± std over {folders.Length} checkpoints" : "";
            var table = new Table().Title($"{loaded.Dataset} {splitName}: {results[0].Texts} captions, {results[0].Videos} videos{(options.DualSoftmax ? ", DSL" : "")}{runs}");
            table.AddColumns("captions", "dir", "R@1", "R@5", "R@10", "R@50", "MdR", "MnR", "queries");
            foreach (var g in groups)
                foreach (var dir in new[] { "t2v", "v2t" })
                {
                    var m = MeanStd.Of(results.Select(r => dir == "t2v" ? Pick(r, g).TextToVideo : Pick(r, g).VideoToText).ToList());
                    table.AddRow(g, dir, m.R1.Format("F1"), m.R5.Format("F1"), m.R10.Format("F1"), m.R50.Format("F1"), m.MedianRank.Format("0.#"), m.MeanRank.Format("F1"), $"{m.Queries}");
                }
            var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(stdout) });
            console.Profile.Width = Math.Max(console.Profile.Width, 140); // a pipe or file has no width; keep "14.4 ± 4.6" on one line
            console.Write(table);
            return 0;
        });
        return command;
    }
}
