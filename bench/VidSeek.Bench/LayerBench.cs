using System.Text;
using TorchSharp;
using VidSeek.Models;
using VidSeek.Models.Clip.Module;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace VidSeek.Bench;

/// <summary>
/// <c>clip-layer</c>: one ViT-B/32 encoder layer (L = 50 tokens, D = 768, F = 3072, 12 heads) at a few
/// batch sizes, op by op, with the variants that docs/PERFORMANCE.md discusses (separate vs fused q/k/v,
/// SDPA vs explicit attention, QuickGELU forms, MLP in row chunks), next to the library's own
/// <see cref="ClipEncoderLayer"/>. Each op runs 12 times per repetition (one tower's worth of layers) so that
/// short ops time reliably; times are per layer. All ops of one batch size are interleaved (see Timing).
/// Weights are random; only shapes matter here.
/// </summary>
public static class LayerBench
{
    private const int Tokens = 50, Hidden = 768, Intermediate = 3072, Heads = 12, HeadDim = Hidden / Heads, Layers = 12;

    public static int Run(Options o)
    {
        int reps = o.Int("reps", 7), warmup = o.Int("warmup", 2), threads = o.Int("threads", 0);
        int[] batches = o.Ints("batches", [1, 8, 16, 32]);
        string? outPath = o.String("out");
        Timing.MaxOthers = o.Int("max-others", (int)(Timing.MaxOthers * 100)) / 100.0;
        Timing.QuietWaitSeconds = o.Int("quiet-wait", (int)Timing.QuietWaitSeconds);
        o.CheckAllRead();
        if (threads > 0) torch.set_num_threads(threads);
        var machine = Machine.Describe();
        var md = new StringBuilder();
        void Line(string s) { Console.WriteLine(s); md.AppendLine(s); }
        Line($"Machine: {machine.Cores} cores, {machine.Cpu}; libtorch {machine.Torch}, {machine.TorchThreads} torch threads; load average {machine.LoadAverage}.");
        Line($"Timing: {warmup} warm-up rounds, median of {reps} interleaved repetitions; each repetition runs the op {Layers} times; ms are per layer.");

        using var mode = torch.no_grad();
        var gemm = GemmPeak.Measure([2048], warmup, reps)[0];
        double peak = gemm.GFlops;
        Line($"GEMM 2048 x 2048: {peak:F1} GFLOP/s (others {gemm.Time.Others:P0}; reference for the % column).");

        var layer = new ClipEncoderLayer(Hidden, Intermediate, Heads, "quick_gelu", 1e-5);
        layer.eval();
        Tensor W(params long[] shape) => torch.randn(shape) * 0.02f;
        using var wq = W(Hidden, Hidden); using var wk = W(Hidden, Hidden); using var wv = W(Hidden, Hidden);
        using var bq = W(Hidden); using var bk = W(Hidden); using var bv = W(Hidden);
        using var wqkv = torch.cat([wq, wk, wv], 0); using var bqkv = torch.cat([bq, bk, bv], 0);
        using var wo = W(Hidden, Hidden); using var bo = W(Hidden);
        using var w1 = W(Intermediate, Hidden); using var b1 = W(Intermediate);
        using var w2 = W(Hidden, Intermediate); using var b2 = W(Hidden);
        using var lnW = torch.ones(Hidden); using var lnB = torch.zeros(Hidden);

        foreach (int b in batches)
        {
            using var scope = torch.NewDisposeScope();
            long m = (long)b * Tokens;
            var x = torch.randn(b, Tokens, Hidden);
            var qkvOut = F.linear(x, wqkv, bqkv);
            // [B, L, 3D] -> three [B, H, L, hd] views, as a fused projection would hand them to attention.
            var qkv = qkvOut.view(b, Tokens, 3, Heads, HeadDim).permute(2, 0, 3, 1, 4);
            Tensor q = qkv[0], k = qkv[1], v = qkv[2];
            Tensor qc = q.contiguous(), kc = k.contiguous(), vc = v.contiguous();
            var att = F.scaled_dot_product_attention(q, k, v);
            var h = F.linear(x, w1, b1);
            double scale = 1.0 / Math.Sqrt(HeadDim);
            double proj = 2.0 * m * Hidden * Hidden, mlp = 2.0 * m * Hidden * Intermediate, attnF = 2 * 2.0 * b * Tokens * Tokens * Hidden;
            double layerF = ClipFlops.EncoderLayer(b, Tokens, Hidden, Intermediate);

            var ops = new List<(string Name, double Flops, Func<Tensor> Body)>
            {
                ("layer: ClipEncoderLayer.forward (library), no_grad", layerF, () => layer.forward(x, false)),
                ("layer: ClipEncoderLayer.forward (library), inference_mode", layerF, () => { using var inference = torch.inference_mode(); return layer.forward(x, false); }),
                ("layer_norm", 0, () => F.layer_norm(x, [Hidden], lnW, lnB, 1e-5)),
                ("q, k, v: 3 x linear 768->768", 3 * proj, () => { F.linear(x, wq, bq); F.linear(x, wk, bk); return F.linear(x, wv, bv); }),
                ("qkv: 1 x fused linear 768->2304", 3 * proj, () => F.linear(x, wqkv, bqkv)),
                ("attention: SDPA on views of fused qkv", attnF, () => F.scaled_dot_product_attention(q, k, v)),
                ("attention: SDPA on contiguous q, k, v", attnF, () => F.scaled_dot_product_attention(qc, kc, vc)),
                ("attention: matmul, softmax, matmul", attnF, () =>
                {
                    using var scores = torch.matmul(q, k.transpose(-2, -1)).mul_(scale);
                    using var p = scores.softmax(-1);
                    return torch.matmul(p, v);
                }),
                ("merge heads: transpose(1, 2).reshape", 0, () => att.transpose(1, 2).reshape(b, Tokens, Hidden)),
                ("out_proj: linear 768->768", proj, () => F.linear(x, wo, bo)),
                ("residual add", 0, () => x + x),
                ("fc1: linear 768->3072", mlp, () => F.linear(x, w1, b1)),
                ("QuickGELU x * sigmoid(1.702 x), 3 new tensors", 0, () => Activations.QuickGelu(h)),
                ("QuickGELU as silu(1.702 x) / 1.702, on a copy", 0, () => Activations.ApplyInPlace("quick_gelu", h.clone())),
                ("copy of fc1's output (clone)", 0, () => h.clone()),
                ("fc2: linear 3072->768", mlp, () => F.linear(h, w2, b2)),
                ("MLP: fc1, QuickGELU (3 new tensors), fc2", 2 * mlp, () =>
                {
                    using var a = F.linear(x, w1, b1);
                    using var g = Activations.QuickGelu(a);
                    return F.linear(g, w2, b2);
                }),
                ("MLP: fc1, QuickGELU in place, fc2", 2 * mlp, () =>
                {
                    using var a = F.linear(x, w1, b1);
                    return F.linear(Activations.ApplyInPlace("quick_gelu", a), w2, b2);
                }),
            };
            foreach (int chunk in new[] { 800, 400 }.Where(c => c < m))
                ops.Add(($"MLP in chunks of {chunk} rows, GELU in place", 2 * mlp, () =>
                {
                    var parts = x.view(m, Hidden).split(chunk).Select(c =>
                    {
                        using var a = F.linear(c, w1, b1);
                        return F.linear(Activations.ApplyInPlace("quick_gelu", a), w2, b2);
                    }).ToList();
                    return torch.cat(parts, 0);
                }));

            var samples = Timing.Measure(ops.Select(op => (Action)(() => { for (int i = 0; i < Layers; i++) op.Body(); })).ToList(), warmup, reps);
            md.AppendLine();
            md.AppendLine($"Batch {b} (M = {m} rows):");
            md.AppendLine();
            md.AppendLine("| op | ms per layer | GFLOP/s | of GEMM 2048 | page faults per layer | others |");
            md.AppendLine("|---|---:|---:|---:|---:|---:|");
            foreach (var (op, s) in ops.Zip(samples))
            {
                double ms = s.Median / Layers * 1e3;
                string gf = op.Flops > 0 ? $"{op.Flops / (ms / 1e3) / 1e9:F1}" : "";
                string of = op.Flops > 0 ? $"{op.Flops / (ms / 1e3) / 1e9 / peak:P0}" : "";
                string others = $"{s.Others:P0}{(s.Disturbed ? " (disturbed)" : "")}";
                Console.WriteLine($"  batch {b,2}  {op.Name,-58} {ms,8:F2} ms  {gf,6} GFLOP/s  faults {s.PageFaultsPerRun / Layers,6:F0}  others {others}");
                md.AppendLine($"| {op.Name} | {ms:F2} | {gf} | {of} | {s.PageFaultsPerRun / Layers:F0} | {others} |");
            }
        }
        if (outPath is not null) { File.WriteAllText(outPath, md.ToString()); Console.WriteLine($"written: {outPath}"); }
        return 0;
    }
}
