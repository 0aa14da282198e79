using System.Text;
using TorchSharp;
using VidSeek.Models.Vlt;
using static TorchSharp.torch;

namespace VidSeek.Bench;

/// <summary>
/// <c>vlt-cost</c>: the cost of one (text, video) pair through each of the four joint encoders (what
/// <see cref="VideoLanguageModel.FusedCls"/> runs to re-score a pair), over a grid of T frames x L tokens a frame at a
/// fixed text length N: FLOPs counted from the shapes (<see cref="JointEncoderFlops"/>), measured time, GFLOP/s and the
/// fraction of the fp32 GEMM peak measured in the same run, and both relative to V2T. Random weights and inputs, eval
/// mode, no_grad; the text encoder and the video encoder do not run (their outputs are inputs here), nor does the ITM head.
/// The four fusions of one (T, L) are timed interleaved (see <see cref="Timing"/>), so they see the same machine load.
/// </summary>
public static class VltCostBench
{
    private sealed record Row(int Frames, int TokensPerFrame, FusionKind Kind, FlopCount Flops, Sample Time, int Pairs)
    {
        public double SecondsPerPair => Time.Median / Pairs;
        public double GFlops => Flops.Total / SecondsPerPair / 1e9;
    }

    public static int Run(Options o)
    {
        int[] frames = o.Ints("frames", [4, 8, 16]);
        // 4x4, 7x7 and 14x14 patches + [CLS]: 64 px or 224 px at patch 16, and 112 px at 16 / 224 px at 32.
        int[] tokens = o.Ints("tokens", [17, 50, 197]);
        int textTokens = o.Int("text-tokens", 32), pairs = o.Int("pairs", 4);
        int reps = o.Int("reps", 3), warmup = o.Int("warmup", 1), threads = o.Int("threads", 0);
        string configName = o.String("config") ?? "base";
        int[] gemmSizes = o.Ints("gemm-sizes", [1024, 2048, 3072]);
        string? outPath = o.String("out");
        Timing.MaxOthers = o.Int("max-others", (int)(Timing.MaxOthers * 100)) / 100.0;
        Timing.QuietWaitSeconds = o.Int("quiet-wait", (int)Timing.QuietWaitSeconds);
        o.CheckAllRead();
        Func<FusionKind, VideoLanguageConfig> preset = configName switch
        {
            "base" => VideoLanguagePresets.Base,
            "shapes-small" => VideoLanguagePresets.ShapesSmall,
            _ => throw new ArgumentException($"--config must be base or shapes-small, got '{configName}'"),
        };
        if (frames.Length == 0 || tokens.Length == 0 || frames.Concat(tokens).Any(x => x <= 0) || textTokens <= 0 || pairs <= 0 || reps <= 0)
            throw new ArgumentException("--frames, --tokens, --text-tokens, --pairs and --reps must be positive");
        if (threads > 0) torch.set_num_threads(threads);

        var machine = Machine.Describe();
        Console.WriteLine($"machine: {machine.Cores} cores, {machine.Cpu}, libtorch {machine.Torch}, {machine.TorchThreads} torch threads, load average {machine.LoadAverage}");
        var gemmBefore = GemmPeak.Measure(gemmSizes, warmup, reps);
        PrintGemm("GEMM peak (before)", gemmBefore);

        var kinds = Enum.GetValues<FusionKind>();
        var configs = kinds.ToDictionary(k => k, k => preset(k));
        foreach (var c in configs.Values) c.Validate($"{configName} ({c.Fusion})");
        var text = configs[FusionKind.V2T].Text;
        // The joint encoders run only the BERT model's fusion layers, so it is built with those alone (as layers
        // 0..n_f-1): same weights shapes and compute, without the text-only layers' memory and set-up time.
        // Self-attention fusion has its own layers and ignores it.
        using var bert = new BertModel(text with { NumHiddenLayers = configs[FusionKind.V2T].FusionLayers, FusionLayer = 0 });
        bert.eval();
        var joints = kinds.ToDictionary(k => k, k => JointEncoder.Create(configs[k]));
        foreach (var j in joints.Values) j.eval();

        long d = text.HiddenSize, dv = configs[FusionKind.V2T].Video.HiddenSize;
        Console.WriteLine($"{configName}: D = {d}, {text.NumAttentionHeads} heads, F = {text.IntermediateSize}, n_fusion = {configs[FusionKind.V2T].FusionLayers}, "
            + $"n_t2v = {configs[FusionKind.T2V2T].T2VLayers}; N = {textTokens} text tokens; {pairs} pairs a call; {warmup} warm-up + median of {reps}");

        var rows = new List<Row>();
        foreach (int t in frames)
            foreach (int l in tokens)
            {
                using var scope = torch.NewDisposeScope();
                var textHidden = torch.randn(new long[] { pairs, textTokens, d });                  // F_T [P, N, D]
                var textMask = torch.ones(new long[] { pairs, textTokens }, dtype: ScalarType.Int64); // [P, N], no padding
                var video = torch.randn(new long[] { pairs, t, l, dv });                              // F_V [P, T, L, Dv]
                var bodies = kinds.Select(k => (Action)(() =>
                {
                    using var _ = torch.no_grad();
                    joints[k].FuseCls(bert, textHidden, textMask, video);
                })).ToList();
                var samples = Timing.Measure(bodies, warmup, reps);
                foreach (var (k, s) in kinds.Zip(samples))
                {
                    var row = new Row(t, l, k, JointEncoderFlops.PerPair(configs[k], textTokens, t, l), s, pairs);
                    rows.Add(row);
                    Console.WriteLine($"  T {t,3}  L {l,4}  {k,-13} {row.Flops.Total / 1e9,9:F3} GFLOP/pair  {row.SecondsPerPair * 1e3,10:F2} ms/pair  "
                        + $"{row.GFlops,7:F1} GFLOP/s  spread {s.Spread,4:P0}  others {s.Others,4:P0}{(s.Disturbed ? " (disturbed)" : "")}");
                }
            }

        var gemmAfter = GemmPeak.Measure(gemmSizes, warmup, reps);
        PrintGemm("GEMM peak (after)", gemmAfter);
        // The higher of the two: fractions of peak are then conservative when the machine was busier at one end.
        double peak = gemmBefore.Concat(gemmAfter).Max(p => p.GFlops);
        foreach (var j in joints.Values) j.Dispose();

        string markdown = ToMarkdown(machine, configName, configs, textTokens, pairs, warmup, reps, gemmBefore, gemmAfter, peak, rows);
        Console.WriteLine();
        Console.WriteLine(markdown);
        if (outPath is not null)
        {
            File.WriteAllText(outPath, markdown);
            Console.WriteLine($"written: {outPath}");
        }
        return 0;
    }

    private static void PrintGemm(string title, IReadOnlyList<GemmPoint> points) =>
        Console.WriteLine($"{title}: " + string.Join(", ", points.Select(p => $"{p.N}: {p.GFlops:F1} GFLOP/s (spread {p.Time.Spread:P0}, others {p.Time.Others:P0})")));

    /// <summary>"14x14+1" for L = 197: the patch grid a token count stands for, when it is a square plus [CLS].</summary>
    private static string Grid(int l)
    {
        int g = (int)Math.Round(Math.Sqrt(l - 1));
        return g * g == l - 1 ? $"{l} ({g}x{g}+1)" : $"{l}";
    }

    private static string ToMarkdown(Machine m, string configName, IReadOnlyDictionary<FusionKind, VideoLanguageConfig> configs, int textTokens,
        int pairs, int warmup, int reps, IReadOnlyList<GemmPoint> gemmBefore, IReadOnlyList<GemmPoint> gemmAfter, double peak, IReadOnlyList<Row> rows)
    {
        var c = configs[FusionKind.T2V2T];
        var sb = new StringBuilder();
        sb.AppendLine($"Joint encoder per (text, video) pair, `{configName}` widths: D = {c.Text.HiddenSize}, {c.Text.NumAttentionHeads} heads, F = {c.Text.IntermediateSize}, "
            + $"n_fusion = {c.FusionLayers}, n_t2v = {c.T2VLayers} (T2V in the video width {c.Video.HiddenSize}, Fv = {c.Video.IntermediateSize}); "
            + $"N = {textTokens} text tokens, no padding. `FusedCls` on {pairs} pairs a call, random weights, eval, no_grad.");
        sb.AppendLine($"Machine: {m.Cores} cores, {m.Cpu}; libtorch {m.Torch}, {m.TorchThreads} torch threads; load average {m.LoadAverage} at start, {Machine.LoadAverageNow()} at end.");
        sb.AppendLine($"Timing: {warmup} warm-up round(s), median of {reps}; the four fusions of a row group interleaved. "
            + $"fp32 GEMM peak (torch.mm, best median of {string.Join(", ", gemmBefore.Select(p => p.N))} before and after): **{peak:F1} GFLOP/s** "
            + $"(before {gemmBefore.Max(p => p.GFlops):F1}, after {gemmAfter.Max(p => p.GFlops):F1}).");
        sb.AppendLine("FLOPs: matmuls only, 2 x multiply-adds of every Linear and of QK^T and AV (`JointEncoderFlops`); attn = the share of those FLOPs in QK^T and AV. "
            + "Ratios are to V2T at the same T and L. Others = CPU share used by other processes during the kept repetitions.");
        sb.AppendLine();
        sb.AppendLine("| T | L | T·L | fusion | GFLOP/pair | attn | ms/pair | GFLOP/s | of peak | FLOPs / V2T | time / V2T | spread | others |");
        sb.AppendLine("|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var row in rows)
        {
            var v2t = rows.Single(r => r.Frames == row.Frames && r.TokensPerFrame == row.TokensPerFrame && r.Kind == FusionKind.V2T);
            var s = row.Time;
            sb.AppendLine($"| {row.Frames} | {Grid(row.TokensPerFrame)} | {row.Frames * row.TokensPerFrame} | {row.Kind} | {row.Flops.Total / 1e9:F3} | {row.Flops.Attention / row.Flops.Total:P0} "
                + $"| {row.SecondsPerPair * 1e3:F2} | {row.GFlops:F1} | {row.GFlops / peak:P0} | {row.Flops.Total / v2t.Flops.Total:F2} | {row.SecondsPerPair / v2t.SecondsPerPair:F2} "
                + $"| {s.Spread:P0} | {s.Others:P0}{(s.Disturbed ? " (disturbed)" : "")} |");
        }
        return sb.ToString();
    }
}
