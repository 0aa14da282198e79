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
        var checkpoint = new Option<DirectoryInfo>("--checkpoint") { Description = "A VidSeek checkpoint folder (from train), or a Hugging Face CLIP folder (zero-shot, mean pooling).", Required = true };
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
            using var ckpt = RetrievalCheckpoint.Open(parse.GetValue(checkpoint)!.FullName, parse.GetValue(tokenizer)?.FullName);
            var splitName = parse.GetValue(split)!;
            var loaded = DataOptions.Load(parse.GetValue(data.Format)!, parse.GetValue(data.Data)!.FullName, splitName, parse.GetValue(data.Videos)?.FullName, parse.GetValue(data.SkipMissing));
            var frames = new VideoFrameSource(loaded.Videos, ckpt.Model.Config.NumFrames, ckpt.Model.Clip.ImageSize, cacheBudgetBytes: 0);
            var options = new EvalOptions { DualSoftmax = parse.GetValue(dsl) };
            EvalResult result = null!;
            Cli.Err.Progress().AutoClear(true).Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
                .Start(ctx =>
                {
                    var task = ctx.AddTask("encoding videos", maxValue: loaded.Videos.Count);
                    result = Evaluator.Evaluate(ckpt.Model, loaded, frames, ckpt.Texts, options, (_, done, _) => task.Value = done);
                });

            var rows = new List<(string Name, RetrievalReport Report)> { ("all", result.Overall) };
            rows.AddRange(result.ByType.Select(kv => (kv.Key, kv.Value)));
            if (parse.GetValue(json))
            {
                var doc = new
                {
                    checkpoint = ckpt.Folder, split = splitName, dsl = options.DualSoftmax, texts = result.Texts, videos = result.Videos, tie_policy = options.Ties.ToString(),
                    results = rows.ToDictionary(r => r.Name, r => new { t2v = r.Report.TextToVideo, v2t = r.Report.VideoToText }),
                };
                stdout.WriteLine(JsonSerializer.Serialize(doc, new JsonSerializerOptions { WriteIndented = true }));
                return 0;
            }
            var table = new Table().Title($"{loaded.Dataset} {splitName}: {result.Texts} captions, {result.Videos} videos{(options.DualSoftmax ? ", DSL" : "")}");
            table.AddColumns("captions", "dir", "R@1", "R@5", "R@10", "R@50", "MdR", "MnR", "queries");
            foreach (var (name, report) in rows)
                foreach (var (dir, s) in new[] { ("t2v", report.TextToVideo), ("v2t", report.VideoToText) })
                    table.AddRow(name, dir, $"{s.R1:F1}", $"{s.R5:F1}", $"{s.R10:F1}", $"{s.R50:F1}", $"{s.MedianRank:0.#}", $"{s.MeanRank:F1}", $"{s.Queries}");
            var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(stdout) });
            console.Write(table);
            return 0;
        });
        return command;
    }
}
