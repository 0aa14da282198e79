using System.Diagnostics;
using TorchSharp;
using VidSeek.Models.XPool;
using static TorchSharp.torch;

namespace VidSeek.Bench;

// TEMPORARY: per-op profile of the old factored Score at 1k-A (512 x 1024 blocks).
public static class XPoolProfileOld
{
    public static int Run(Options o)
    {
        int reps = o.Int("reps", 2); o.CheckAllRead();
        using var mode = torch.inference_mode();
        torch.manual_seed(0);
        const int dim = 512, frames = 12, T = 1000, V = 1000;
        var pool = new TextConditionedPooling(dim, 1);
        foreach (var p in pool.parameters()) p.add_(0.05 * torch.randn(p.shape));
        pool.eval();
        var text = torch.randn(T, dim);
        var fr = torch.randn(V, 1, dim) + 0.5 * torch.randn(V, frames, dim);
        var f = new XPoolFactored(pool);
        var times = new Dictionary<string, double>();
        void Tm(string name, Func<Tensor> body, List<Tensor> keep) { var sw = Stopwatch.StartNew(); keep.Add(body()); times[name] = times.GetValueOrDefault(name) + sw.Elapsed.TotalSeconds; }
        for (int r = 0; r < reps; r++)
        {
            var keep = new List<Tensor>();
            var sw0 = Stopwatch.StartNew();
            var videos = f.PrepareVideos(fr);
            times["prep videos"] = times.GetValueOrDefault("prep videos") + sw0.Elapsed.TotalSeconds;
            sw0.Restart();
            var texts = f.PrepareTexts(text);
            times["prep texts"] = times.GetValueOrDefault("prep texts") + sw0.Elapsed.TotalSeconds;
            long n = frames;
            for (long t0 = 0; t0 < T; t0 += 512)
            {
                long tn = Math.Min(512, T - t0), v0 = 0, vn = V;
                using var scope = torch.NewDisposeScope();
                Tensor logits = null!, w = null!, a = null!, tb = null!, numLin = null!, av = null!, forms = null!, quad = null!, lin = null!;
                Tm("logits GEMM", () => logits = texts.Q.narrow(1, t0, tn).matmul(videos.Keys.narrow(1, v0 * frames, vn * frames).transpose(1, 2)), keep);
                Tm("softmax", () => w = logits.view(1, tn, vn, frames).softmax(-1), keep);
                Tm("permute a", () => a = w.permute(1, 2, 0, 3).reshape(tn, vn, n), keep);
                Tm("text.B GEMM", () => tb = texts.G3T.narrow(0, t0, tn).matmul(videos.B.narrow(0, v0 * n, vn * n).T).view(tn, vn, n), keep);
                Tm("a*tb sum", () => numLin = tb.mul_(a).sum(-1).T, keep);
                Tm("transpose a", () => av = a.transpose(0, 1).contiguous(), keep);
                Tm("bmm Grams", () => forms = av.bmm(videos.Grams.narrow(0, v0, vn)).view(vn, tn, 3, n), keep);
                Tm("forms*a sum", () => quad = forms.mul_(av.unsqueeze(2)).sum(-1), keep);
                Tm("bmm linear", () => lin = av.bmm(videos.Linear.narrow(0, v0, vn)), keep);
                Tm("scalar LN math (approx 20 ops)", () =>
                {
                    var s = quad.select(2, 0).div(dim).add_(1e-5).rsqrt_();
                    var x = quad.select(2, 1).mul(s.square()).add_(lin.select(2, 0).mul(s), alpha: 2);
                    var y = quad.select(2, 2).mul(s.square()).add_(lin.select(2, 1).mul(s), alpha: 2);
                    var z = x.div(dim).add_(1e-5).rsqrt_();
                    var q = y.mul_(z.square()).add_(lin.select(2, 2).mul(s).mul_(z), alpha: 2);
                    return numLin.mul(s).mul_(z).div_(q.clamp_min_(0).sqrt_()).T.contiguous();
                }, keep);
            }
            foreach (var t in keep) t.Dispose();
            videos.Dispose(); texts.Dispose();
        }
        double total = times.Values.Sum();
        Console.WriteLine($"old factored form, 1k-A, per-op totals (mean of {reps} runs), total {total / reps:F3} s:");
        foreach (var (k, v) in times.OrderByDescending(kv => kv.Value)) Console.WriteLine($"| {k} | {v / reps:F3} s | {v / total:P0} |");
        return 0;
    }
}
