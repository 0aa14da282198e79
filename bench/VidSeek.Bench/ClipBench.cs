using System.Text;
using System.Text.Json;
using TorchSharp;
using VidSeek.Models.Clip;
using static TorchSharp.torch;

namespace VidSeek.Bench;

/// <summary>One timed call of a CLIP tower.</summary>
/// <param name="GradMode">"no_grad" (what callers are told to use) or "inference_mode".</param>
/// <param name="FractionOfPeak">GFLOP/s divided by the GEMM peak measured in the same run.</param>
public sealed record ClipRow(string Tower, string Call, int Batch, int? MicroBatch, string GradMode,
    double MedianSeconds, double Spread, double Others, bool Disturbed, double PageFaults, double ItemsPerSecond, double GFlops, double FractionOfPeak);

public sealed record ClipReport(Machine Machine, string LoadAverageAtEnd, string Config, int Repetitions, int Warmup, double MaxOthers,
    IReadOnlyList<GemmPoint> GemmBefore, IReadOnlyList<GemmPoint> GemmAfter, double PeakGFlops,
    double GFlopPerImage, double GFlopPerText, int DefaultMicroBatch, ClipRow Image, ClipRow Text, IReadOnlyList<ClipRow> Rows);

/// <summary>
/// <c>clip</c>: CLIP ViT-B/32 with random weights (the HF config of openai/clip-vit-base-patch32), image
/// tower at batch 32 x 224 px and text tower at batch 64 x 77 tokens, as frames/s, texts/s and the
/// fraction of this machine's fp32 GEMM peak, measured in the same process before and after.
/// </summary>
public static class ClipBench
{
    public static int Run(Options o)
    {
        int reps = o.Int("reps", 5), warmup = o.Int("warmup", 2);
        int threads = o.Int("threads", 0);
        int imageBatch = o.Int("image-batch", 32), textBatch = o.Int("text-batch", 64);
        int[] microBatches = o.Ints("micro-batches", [1, 4, 8, 16, 32]);
        int[] gemmSizes = o.Ints("gemm-sizes", [1024, 2048, 3072]);
        // The tests' fixture is the one copy of the ViT-B/32 config in the repository; read it from there.
        string configPath = o.String("config") ?? Path.Combine(Machine.RepoRoot(), "tests", "VidSeek.Tests", "Fixtures", "clip-vit-base-patch32", "config.json");
        string? outPath = o.String("out");
        Timing.MaxOthers = o.Int("max-others", (int)(Timing.MaxOthers * 100)) / 100.0;
        Timing.QuietWaitSeconds = o.Int("quiet-wait", (int)Timing.QuietWaitSeconds);
        o.CheckAllRead();
        if (threads > 0) torch.set_num_threads(threads);

        var machine = Machine.Describe();
        Console.WriteLine($"machine: {machine.Cores} cores, {machine.Cpu}, libtorch {machine.Torch}, {machine.TorchThreads} torch threads, load average {machine.LoadAverage}");
        Console.WriteLine($"timing: {warmup} warm-up + median of {reps} repetitions");

        var gemmBefore = GemmPeak.Measure(gemmSizes, warmup, reps);
        PrintGemm("GEMM peak (before)", gemmBefore);

        var config = ClipConfig.Load(configPath);
        using var model = new ClipModel(config);
        model.eval();
        // The library's own default, so that the headline is what a caller of EncodeImages(pixels) gets.
        int defaultMicro = (int)typeof(ClipModel).GetMethod(nameof(ClipModel.EncodeImages))!.GetParameters()[1].DefaultValue!;

        using var pixels = torch.randn(imageBatch, 3, model.ImageSize, model.ImageSize);
        using var ids = torch.randint(0, config.TextConfig.VocabSize, [textBatch, model.ContextLength], dtype: ScalarType.Int64);
        double imageFlops = ClipFlops.ImageTower(config, imageBatch);
        double textFlops = ClipFlops.TextTower(config, textBatch, model.ContextLength);

        // Timed first, the peak is not known yet: fractions are filled in at the end. The calls of one tower are
        // interleaved (see Timing) so that they see the same machine load.
        var timed = new List<(string Tower, string Call, int Batch, int? Micro, string Mode, Sample Time, double Flops)>();
        void TimeAll(IReadOnlyList<(string Tower, string Call, int Batch, int? Micro, bool Inference, double Flops, Func<Tensor> Body)> calls)
        {
            var bodies = calls.Select(c => (Action)(() =>
            {
                // no_grad is what callers are told to use; inference_mode additionally skips version counters.
                using var mode = c.Inference ? torch.inference_mode() : torch.no_grad();
                c.Body();
            })).ToList();
            var samples = Timing.Measure(bodies, warmup, reps);
            foreach (var (c, s) in calls.Zip(samples))
            {
                string mode = c.Inference ? "inference_mode" : "no_grad";
                timed.Add((c.Tower, c.Call, c.Batch, c.Micro, mode, s, c.Flops));
                Console.WriteLine($"  {c.Tower,-5} {c.Call,-28} {mode,-14} {s.Median,8:F3} s  spread {s.Spread,4:P0}  others {s.Others,4:P0}{(s.Disturbed ? " (disturbed)" : "")}  faults {s.PageFaultsPerRun,7:F0}  {c.Batch / s.Median,7:F2} /s  {c.Flops / s.Median / 1e9,6:F1} GFLOP/s");
            }
        }

        Console.WriteLine($"image tower, batch {imageBatch} x {model.ImageSize} px, {imageFlops / imageBatch / 1e9:F2} GFLOP per image:");
        TimeAll(microBatches.Append(defaultMicro).Distinct().Order()
            .Select(mb => ("image", $"EncodeImages(microBatch: {mb})", imageBatch, (int?)mb, false, imageFlops, (Func<Tensor>)(() => model.EncodeImages(pixels, mb))))
            .Append(("image", $"EncodeImages(microBatch: {defaultMicro})", imageBatch, defaultMicro, true, imageFlops, () => model.EncodeImages(pixels, defaultMicro)))
            .ToList());

        Console.WriteLine($"text tower, batch {textBatch} x {model.ContextLength} tokens, {textFlops / textBatch / 1e9:F2} GFLOP per text:");
        TimeAll([
            ("text", "GetTextFeatures", textBatch, null, false, textFlops, () => model.GetTextFeatures(ids)),
            ("text", "GetTextFeatures", textBatch, null, true, textFlops, () => model.GetTextFeatures(ids)),
        ]);

        var gemmAfter = GemmPeak.Measure(gemmSizes, warmup, reps);
        PrintGemm("GEMM peak (after)", gemmAfter);
        // The higher of the two: fractions of peak are then conservative when the machine was busier at one end.
        double peak = gemmBefore.Concat(gemmAfter).Max(p => p.GFlops);

        var rows = timed.Select(t => new ClipRow(t.Tower, t.Call, t.Batch, t.Micro, t.Mode, t.Time.Median, t.Time.Spread, t.Time.Others, t.Time.Disturbed, t.Time.PageFaultsPerRun,
            t.Batch / t.Time.Median, t.Flops / t.Time.Median / 1e9, t.Flops / t.Time.Median / 1e9 / peak)).ToList();
        var report = new ClipReport(machine, Machine.LoadAverageNow(), configPath, reps, warmup, Timing.MaxOthers, gemmBefore, gemmAfter, peak,
            imageFlops / imageBatch / 1e9, textFlops / textBatch / 1e9, defaultMicro,
            rows.First(r => r.Tower == "image" && r.MicroBatch == defaultMicro && r.GradMode == "no_grad"),
            rows.First(r => r.Tower == "text" && r.GradMode == "no_grad"), rows);

        string markdown = ToMarkdown(report);
        Console.WriteLine();
        Console.WriteLine(markdown);
        if (outPath is not null)
        {
            File.WriteAllText(outPath, outPath.EndsWith(".md", StringComparison.OrdinalIgnoreCase)
                ? markdown
                : JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true }));
            Console.WriteLine($"written: {outPath}");
        }
        return 0;
    }

    private static void PrintGemm(string title, IReadOnlyList<GemmPoint> points) =>
        Console.WriteLine($"{title}: " + string.Join(", ", points.Select(p => $"{p.N}: {p.GFlops:F1} GFLOP/s (spread {p.Time.Spread:P0}, others {p.Time.Others:P0})")));

    public static string ToMarkdown(ClipReport r)
    {
        var sb = new StringBuilder();
        var m = r.Machine;
        sb.AppendLine($"Machine: {m.Cores} cores, {m.Cpu}; libtorch {m.Torch}, {m.TorchThreads} torch threads; load average {m.LoadAverage} at start, {r.LoadAverageAtEnd} at end.");
        sb.AppendLine($"Timing: {r.Warmup} warm-up runs, median of {r.Repetitions}. Spread = (max - min) / median; others = share of the machine's CPU used by other processes meanwhile (repetitions during which others used more than {r.MaxOthers:P0} are discarded and run again; disturbed marks rows with too few clean ones); page faults = minor page faults per repetition.");
        sb.AppendLine();
        sb.AppendLine("| fp32 GEMM (torch.mm) | before GFLOP/s | after GFLOP/s |");
        sb.AppendLine("|---|---:|---:|");
        foreach (var (b, a) in r.GemmBefore.Zip(r.GemmAfter))
            sb.AppendLine($"| {b.N} x {b.N} | {b.GFlops:F1} (spread {b.Time.Spread:P0}, others {b.Time.Others:P0}) | {a.GFlops:F1} (spread {a.Time.Spread:P0}, others {a.Time.Others:P0}) |");
        sb.AppendLine($"| **peak (best median)** | | **{r.PeakGFlops:F1}** |");
        sb.AppendLine();
        sb.AppendLine($"Model FLOPs (matmuls only, see ClipFlops.cs): {r.GFlopPerImage:F2} GFLOP per image, {r.GFlopPerText:F2} GFLOP per 77-token text.");
        sb.AppendLine();
        sb.AppendLine("| tower | call | batch | grad mode | median s | spread | others | page faults | items/s | GFLOP/s | of peak |");
        sb.AppendLine("|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var x in r.Rows)
            sb.AppendLine($"| {x.Tower} | {x.Call} | {x.Batch} | {x.GradMode} | {x.MedianSeconds:F3} | {x.Spread:P0} | {x.Others:P0}{(x.Disturbed ? " (disturbed)" : "")} | {x.PageFaults:F0} | {x.ItemsPerSecond:F2} | {x.GFlops:F1} | {x.FractionOfPeak:P1} |");
        sb.AppendLine();
        sb.AppendLine($"**Image tower** (EncodeImages, default microBatch {r.DefaultMicroBatch}): {r.Image.ItemsPerSecond:F2} frames/s, {r.Image.GFlops:F1} GFLOP/s = **{r.Image.FractionOfPeak:P1} of peak**.");
        sb.AppendLine($"**Text tower** (GetTextFeatures, 77 tokens): {r.Text.ItemsPerSecond:F2} texts/s, {r.Text.GFlops:F1} GFLOP/s = **{r.Text.FractionOfPeak:P1} of peak**.");
        return sb.ToString();
    }
}
