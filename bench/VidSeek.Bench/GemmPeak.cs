using TorchSharp;
using static TorchSharp.torch;

namespace VidSeek.Bench;

/// <summary>fp32 GEMM throughput of one square size: <paramref name="Calls"/> x <c>torch.mm</c> of two n x n matrices per repetition, 2*n^3 FLOPs each.</summary>
public sealed record GemmPoint(int N, int Calls, Sample Time)
{
    public double GFlops => Calls * 2.0 * N * N * N / Time.Median / 1e9;
}

/// <summary>The machine's practical fp32 GEMM peak: the best median GFLOP/s of <c>torch.mm</c> over a few square sizes.</summary>
public static class GemmPeak
{
    public static IReadOnlyList<GemmPoint> Measure(IReadOnlyList<int> sizes, int warmup, int repetitions)
    {
        using var mode = torch.inference_mode();
        var a = sizes.Select(n => torch.randn(n, n)).ToList();
        var b = sizes.Select(n => torch.randn(n, n)).ToList();
        // Small sizes repeat so that every repetition runs about as long as one 3072 x 3072 product (~0.4 s):
        // long enough for the 10 ms /proc/stat clock that tells disturbed repetitions apart.
        var calls = sizes.Select(n => (int)Math.Max(1, Math.Round(Math.Pow(3072.0 / n, 3)))).ToList();
        var bodies = sizes.Select((n, i) => (Action)(() => { for (int c = 0; c < calls[i]; c++) torch.mm(a[i], b[i]); })).ToList();
        var samples = Timing.Measure(bodies, warmup, repetitions);
        foreach (var t in a.Concat(b)) t.Dispose();
        return sizes.Select((n, i) => new GemmPoint(n, calls[i], samples[i])).ToList();
    }
}
