using System.CommandLine;
using System.Text.Json;
using Spectre.Console;
using VidSeek.Data;
using VidSeek.Models;
using VidSeek.Models.DualEncoder;
using VidSeek.Models.Vlt;
using VidSeek.Retrieval;
using VidSeek.Text;
using VidSeek.Training;

namespace VidSeek.Cli.Commands;

/// <summary><c>vidseek eval --checkpoint C --data DIR --split test [--dsl] [--json]</c></summary>
/// <remarks>
/// A dual encoder (X-Pool, mean pooling, zero-shot CLIP) gives one set of metrics. A VLT model gives two, side by side:
/// ITC only (every video ranked by the contrastive similarity) and re-ranked (each caption's top <c>--rerank-k</c> re-scored
/// by ITM). Re-ranking is text-to-video; the video-to-text rows are the ITC ranking in both.
/// </remarks>
public static class EvalCommand
{
    public const string ItcStage = "itc", RerankedStage = "itm-reranked";

    public static Command Create()
    {
        var checkpoint = new Option<string[]>("--checkpoint")
        {
            Description = "A VidSeek checkpoint folder (from train), or a Hugging Face CLIP folder (zero-shot, mean pooling). Repeat it (e.g. one per training seed) to report mean and std.",
            Required = true, AllowMultipleArgumentsPerToken = true,
        };
        var data = new DataOptions();
        var split = new Option<string>("--split") { Description = "Split to evaluate.", DefaultValueFactory = _ => "test" };
        var dsl = new Option<bool>("--dsl") { Description = "Dual softmax at inference (DSL)." };
        var json = new Option<bool>("--json") { Description = "Print the metrics as JSON." };
        var tokenizer = new Option<DirectoryInfo?>("--tokenizer") { Description = "vocab.json + merges.txt, or a VLT's vocab.txt + tokenizer_config.json if its config.json says wordpiece (default: the checkpoint's)." };
        var frames = new Option<int?>("--frames") { Description = $"Frames per video (default: the dual encoder's own; vlt: {VltTrainer.DefaultEvalFrames})." }.Bound(1, CommonOptions.MaxFrames);
        var rerankK = new Option<int>("--rerank-k") { Description = "vlt: videos per caption re-scored by ITM after the ITC ranking.", DefaultValueFactory = _ => 128 }.Bound(1, CommonOptions.MaxRerankK);
        var precision = CommonOptions.Precision();
        var command = new Command("eval", "Evaluate retrieval (R@1/5/10/50, MdR, MnR; text-to-video and video-to-text; overall and per caption type).")
        {
            checkpoint, split, dsl, json, tokenizer, frames, rerankK, precision,
        };
        data.AddTo(command);
        command.SetAction((parse, stdout) =>
        {
            CommonOptions.ApplyPrecision(parse, precision);
            var splitName = parse.GetValue(split)!;
            var loaded = DataOptions.Load(parse.GetValue(data.Format)!, parse.GetValue(data.Data)!.FullName, splitName, parse.GetValue(data.Videos)?.FullName, parse.GetValue(data.SkipMissing));
            var options = new EvalOptions { DualSoftmax = parse.GetValue(dsl) };
            var folders = parse.GetValue(checkpoint)!.Select(c => new DirectoryInfo(CommonOptions.ResolveModel(c, "--checkpoint"))).ToArray();
            var kinds = folders.Select(f => PretrainedFolder.ModelType(f.FullName) == "vidseek-vlt").Distinct().ToList();
            if (kinds.Count > 1) throw new VidSeekException("--checkpoint mixes video-language (VLT) and dual-encoder models; evaluate them separately");
            bool vlt = kinds[0];
            if (vlt && options.DualSoftmax) throw new VidSeekException("--dsl applies to dual encoders; a VLT model re-ranks with ITM instead");
            int k = parse.GetValue(rerankK);

            // One list of results per stage: the dual encoder's only, or the VLT's ITC and re-ranked.
            var stages = vlt ? new[] { ItcStage, RerankedStage } : new[] { "" };
            var results = stages.ToDictionary(s => s, _ => new List<EvalResult>());
            foreach (var folder in folders)
                Cli.Progress().AutoClear(true).Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
                    .Start(ctx =>
                    {
                        var task = ctx.AddTask($"encoding videos ({folder.Name})", maxValue: loaded.Videos.Count);
                        void Report(string what, int done, int total) { task.Description = $"{what} ({folder.Name})"; task.MaxValue = total; task.Value = done; }
                        if (vlt)
                        {
                            var (itc, reranked) = EvaluateVlt(folder.FullName, parse.GetValue(tokenizer)?.FullName, loaded, parse.GetValue(frames), k, options, Report);
                            results[ItcStage].Add(itc);
                            results[RerankedStage].Add(reranked);
                        }
                        else
                        {
                            using var ckpt = RetrievalCheckpoint.Open(folder.FullName, parse.GetValue(tokenizer)?.FullName);
                            var source = new VideoFrameSource(loaded.Videos, parse.GetValue(frames) ?? ckpt.Model.Config.NumFrames, ckpt.Model.Clip.ImageSize, cacheBudgetBytes: 0);
                            results[""].Add(Evaluator.Evaluate(ckpt.Model, loaded, source, ckpt.Texts, options, Report));
                        }
                    });

            var first = results[stages[0]][0];
            var groups = new List<string> { "all" };
            groups.AddRange(first.ByType.Keys);
            RetrievalReport Pick(EvalResult r, string g) => g == "all" ? r.Overall : r.ByType[g];
            object Metrics(List<EvalResult> rs, string g) => new
            {
                t2v = MeanStd.Of(rs.Select(r => Pick(r, g).TextToVideo).ToList()),
                v2t = MeanStd.Of(rs.Select(r => Pick(r, g).VideoToText).ToList()),
            };
            if (parse.GetValue(json))
            {
                var doc = new
                {
                    checkpoints = folders.Select(f => f.FullName), split = splitName, dsl = options.DualSoftmax, texts = first.Texts, videos = first.Videos,
                    tie_policy = options.Ties.ToString(), rerank_k = vlt ? Math.Min(k, first.Videos) : (int?)null,
                    results = vlt ? null : groups.ToDictionary(g => g, g => Metrics(results[""], g)),
                    stages = vlt ? stages.ToDictionary(s => s, s => groups.ToDictionary(g => g, g => Metrics(results[s], g))) : null,
                };
                stdout.WriteLine(JsonSerializer.Serialize(doc, new JsonSerializerOptions(CommonOptions.JsonIndented) { DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull }));
                return 0;
            }
            string runs = folders.Length > 1 ? $", mean ± std over {folders.Length} checkpoints" : "";
            var table = new Table().Title($"{loaded.Dataset} {splitName}: {first.Texts} captions, {first.Videos} videos{(options.DualSoftmax ? ", DSL" : "")}{(vlt ? $", ITM re-ranks the top {Math.Min(k, first.Videos)}" : "")}{runs}");
            table.AddColumns("captions", "dir");
            if (vlt) table.AddColumn("ranking");
            table.AddColumns("R@1", "R@5", "R@10", "R@50", "MdR", "MnR", "queries");
            foreach (var g in groups)
                foreach (var dir in new[] { "t2v", "v2t" })
                    foreach (var stage in stages)
                    {
                        if (stage == RerankedStage && dir == "v2t") continue; // re-ranking is text-to-video
                        var m = MeanStd.Of(results[stage].Select(r => dir == "t2v" ? Pick(r, g).TextToVideo : Pick(r, g).VideoToText).ToList());
                        var row = new List<string> { g, dir };
                        if (vlt) row.Add(stage == ItcStage ? "ITC" : "ITC + ITM");
                        row.AddRange([m.R1.Format("F1"), m.R5.Format("F1"), m.R10.Format("F1"), m.R50.Format("F1"), m.MedianRank.Format("0.#"), m.MeanRank.Format("F1"), $"{m.Queries}"]);
                        table.AddRow(row.ToArray());
                    }
            var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(stdout) });
            console.Profile.Width = Math.Max(console.Profile.Width, 160); // a pipe or file has no width; keep "14.4 ± 4.6" on one line
            console.Write(table);
            return 0;
        });
        return command;
    }

    /// <summary>Two-stage evaluation of one VLT checkpoint: ITC-only and re-ranked results.</summary>
    private static (EvalResult Itc, EvalResult Reranked) EvaluateVlt(string folder, string? tokenizerDir, RetrievalSplit split, int? frames, int k,
        EvalOptions options, Action<string, int, int> progress)
    {
        using var model = VideoLanguageModel.Load(folder);
        model.SetPrecision(Models.InferencePrecision.Current);                 // --precision: the encoders in bf16, or fp32
        var tok = VltTextTokenizer.ForModel(folder, model.Config, tokenizerDir); // the kind the checkpoint's config.json records
        var source = new VideoFrameSource(split.Videos, frames ?? VltTrainer.DefaultEvalFrames, model.Config.Video.ImageSize, cacheBudgetBytes: 0);
        var (itc, reranked, _) = TwoStageRetrieval.Evaluate(model, split, source, tok.Tokenize, new TwoStageOptions { TopK = k }, options, progress);
        return (itc, reranked);
    }
}
