using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace VidSeek.Models.XPool;

/// <summary>
/// The per-pair part of <see cref="XPoolFactored"/>, fused into one pass over a block of texts x videos: the softmax over
/// frames, the attention-weighted sum of the text-against-B products, the three Gram quadratic forms, the three linear
/// forms and the LayerNorm/cosine scalar algebra, for <see cref="Vector512{T}.Count"/> texts of one video at a time.
/// Hand-written because libtorch has no fused operation for it: done as tensor operations (softmax, permutes, a batched
/// <c>[tn, n] x [n, 3n]</c> product per video, about twenty elementwise passes over <c>[tn, vn]</c>) each step
/// materialises and re-reads an intermediate of the block, and at n = 12 those medium-sized operations took three
/// quarters of the time (docs/PERFORMANCE.md). Here every pair reads its n logits and n products once from the two GEMM
/// outputs and everything else stays in registers; a video's packed Grams (a few hundred scalars) are broadcast to the
/// lanes. Vectorised across texts, so both GEMM outputs are laid out text-minor: <c>[.., tn]</c>.
/// <see cref="Vector512{T}"/> (16 float32 texts per instruction) because VidSeek's CPUs have AVX-512: it halved the
/// instructions of the 256-bit version (busy machine, process CPU time of the block GEMMs plus this kernel minus the
/// GEMMs alone at 1k-A size: median about 0.06 s against 0.08 s); where Vector512 is not
/// hardware-accelerated, .NET computes it in software, correct but slower.
/// </summary>
internal static class XPoolPairKernel
{
    /// <summary>A span over a tensor's or an array's elements, fetched inside each worker (spans cannot be captured).</summary>
    public delegate Span<T> SpanOf<T>();

    /// <summary>Everything one block needs; strides are in elements.</summary>
    /// <param name="Logits"><c>[H, vn·F, tn]</c>: the attention logits (already scaled), row <c>h·vn·F + v·F + f</c>.</param>
    /// <param name="TextB"><c>[vn·n, tn]</c> from element <paramref name="TextBOffset"/>: <c>&lt;g3 t, B[v, i]&gt;</c>, row
    /// <c>v·n + i</c>, i = h·F + f.</param>
    /// <param name="Forms"><c>[V, 3m + 3n]</c> rows of the whole video set (the block's start at <paramref name="V0"/>):
    /// the lower triangles of A A^T, B B^T and (g3 B)(g3 B)^T with doubled off-diagonal entries (m = n(n+1)/2 each), then
    /// B·cc, (g3 B)·(g3 cc), (g3 B)·b3 (n each).</param>
    /// <param name="TextScalars"><c>[3, T]</c> of the whole text set (the block's start at <paramref name="T0"/>): |t|, &lt;t, b3&gt;,
    /// &lt;g3 t, cc&gt;.</param>
    /// <param name="Sims">Output: sim of block text i and block video j at <c>SimsOffset + i·SimsStrideT + j</c>.</param>
    /// <param name="Weights">Optional output <c>[vn, n, tn]</c>: the softmax weights.</param>
    public sealed record Block<T>(
        int Heads, int Frames, int Tn, int Vn, long T0, long V0, long TextCount,
        SpanOf<T> Logits, SpanOf<T> TextB, long TextBOffset, SpanOf<T> Forms, SpanOf<T> TextScalars,
        SpanOf<T> Sims, long SimsOffset, long SimsStrideT, SpanOf<T>? Weights) where T : unmanaged;

    /// <summary>Constants of the module: D, eps, |cc|², |g3 cc|², &lt;g3 cc, b3&gt;, |b3|².</summary>
    public readonly record struct Constants(double Dim, double Eps, double CcSq, double G3ccSq, double G3ccB3, double B3Sq);

    public static void Run<T>(Block<T> b, Constants c, int threads) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (b.Vn == 0 || b.Tn == 0) return;
        int workers = Math.Max(1, Math.Min(threads, b.Vn));
        if (workers == 1) { Videos(b, c, 0, b.Vn); return; }
        // Contiguous ranges of videos per worker: each worker streams its own rows of both GEMM outputs.
        Parallel.For(0, workers, new ParallelOptions { MaxDegreeOfParallelism = workers },
            w => Videos(b, c, (int)((long)b.Vn * w / workers), (int)((long)b.Vn * (w + 1) / workers)));
    }

    private static void Videos<T>(Block<T> b, Constants c, int vFrom, int vTo) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int lanes = Vector512<T>.Count, tn = b.Tn, f = b.Frames, n = b.Heads * b.Frames;
        int m = n * (n + 1) / 2, formsWidth = 3 * m + 3 * n;
        Span<T> logits = b.Logits(), textB = b.TextB().Slice((int)b.TextBOffset), forms = b.Forms(), scalars = b.TextScalars(), sims = b.Sims();
        Span<T> weights = b.Weights is null ? default : b.Weights();
        var a = new Vector512<T>[n];
        Span<T> tail = stackalloc T[lanes];
        var dim = V<T>(c.Dim); var eps = V<T>(c.Eps); var two = V<T>(2.0);
        var ccSq = V<T>(c.CcSq); var g3ccSq = V<T>(c.G3ccSq); var g3ccB3 = V<T>(c.G3ccB3); var b3Sq = V<T>(c.B3Sq);
        var tiny = V<T>(1e-12); var zero = Vector512<T>.Zero;
        long vnF = (long)b.Vn * f;
        for (int v = vFrom; v < vTo; v++)
        {
            var g = forms.Slice((int)((b.V0 + v) * formsWidth), formsWidth);
            for (int t = 0; t < tn; t += lanes)
            {
                int cnt = Math.Min(lanes, tn - t);
                // Softmax over frames, per head.
                for (int h = 0; h < b.Heads; h++)
                {
                    long row0 = h * vnF + (long)v * f;
                    var max = Load(logits, row0 * tn + t, cnt, tail);
                    for (int k = 1; k < f; k++) max = Vector512.Max(max, Load(logits, (row0 + k) * tn + t, cnt, tail));
                    var sum = zero;
                    for (int k = 0; k < f; k++)
                    {
                        var e = Exp(Load(logits, (row0 + k) * tn + t, cnt, tail) - max);
                        a[h * f + k] = e;
                        sum += e;
                    }
                    var inv = Vector512<T>.One / sum;                                                   // one division, F multiplications
                    for (int k = 0; k < f; k++) a[h * f + k] *= inv;
                }
                // <g3 t, sum_i a_i B_i>, the quadratic forms a^T G a (lower triangle, off-diagonals doubled), the linear forms.
                long tg = b.T0 + t;
                var numLin = zero;
                for (int i = 0; i < n; i++) numLin = Fma(a[i], Load(textB, ((long)v * n + i) * tn + t, cnt, tail), numLin);
                Vector512<T> qAA = zero, qBB = zero, qGG = zero;
                int p = 0;
                for (int i = 0; i < n; i++)
                {
                    var ai = a[i];
                    for (int j = 0; j <= i; j++, p++)
                    {
                        var aij = ai * a[j];
                        qAA = Fma(Vector512.Create(g[p]), aij, qAA);
                        qBB = Fma(Vector512.Create(g[m + p]), aij, qBB);
                        qGG = Fma(Vector512.Create(g[2 * m + p]), aij, qGG);
                    }
                }
                Vector512<T> lBcc = zero, lGcc = zero, lGb3 = zero;
                for (int i = 0; i < n; i++)
                {
                    lBcc = Fma(Vector512.Create(g[3 * m + i]), a[i], lBcc);
                    lGcc = Fma(Vector512.Create(g[3 * m + n + i]), a[i], lGcc);
                    lGb3 = Fma(Vector512.Create(g[3 * m + 2 * n + i]), a[i], lGb3);
                }
                // The scalar algebra of XPoolFactored's class comment.
                var invSigma = Vector512<T>.One / Vector512.Sqrt(qAA / dim + eps);                  // LN2: 1/sigma
                var invSigmaSq = invSigma * invSigma;
                var csSq = qBB * invSigmaSq + two * lBcc * invSigma + ccSq;                         // |C s|^2
                var invSigma3 = Vector512<T>.One / Vector512.Sqrt(csSq / dim + eps);                // LN3: 1/sigma3
                var g3csSq = qGG * invSigmaSq + two * lGcc * invSigma + g3ccSq;                     // |g3 C s|^2
                var g3csB3 = lGb3 * invSigma + g3ccB3;                                              // <g3 C s, b3>
                var zSq = g3csSq * invSigma3 * invSigma3 + two * g3csB3 * invSigma3 + b3Sq;         // |z|^2
                var norm = Load(scalars, tg, cnt, tail);
                var dotB3 = Load(scalars, b.TextCount + tg, cnt, tail);
                var dotCc = Load(scalars, 2 * b.TextCount + tg, cnt, tail);
                var num = (numLin * invSigma + dotCc) * invSigma3 + dotB3;                          // <t, z>
                var sim = num / (Vector512.Max(Vector512.Sqrt(Vector512.Max(zSq, zero)), tiny) * norm);
                for (int k = 0; k < cnt; k++) sims[(int)(b.SimsOffset + (t + k) * b.SimsStrideT + v)] = sim.GetElement(k);
                if (b.Weights is not null)
                    for (int i = 0; i < n; i++)
                    {
                        var dst = weights.Slice((int)(((long)v * n + i) * tn + t), cnt);
                        if (cnt == lanes) a[i].CopyTo(dst);
                        else for (int k = 0; k < cnt; k++) dst[k] = a[i].GetElement(k);
                    }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<T> Fma<T>(Vector512<T> x, Vector512<T> y, Vector512<T> z) where T : unmanaged, IFloatingPointIeee754<T> =>
        XPoolGramForms.Fma(x, y, z);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<T> V<T>(double x) where T : unmanaged, IFloatingPointIeee754<T> => Vector512.Create(T.CreateChecked(x));

    /// <summary><paramref name="cnt"/> elements at <paramref name="offset"/>; the lanes past a block's last text read 1 (finite, never stored).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<T> Load<T>(Span<T> s, long offset, int cnt, Span<T> tail) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (cnt == Vector512<T>.Count) return Vector512.Create((ReadOnlySpan<T>)s.Slice((int)offset, cnt));
        tail.Fill(T.One);
        s.Slice((int)offset, cnt).CopyTo(tail);
        return Vector512.Create((ReadOnlySpan<T>)tail);
    }

    // Vector512.Exp exists for float and double only; the JIT drops the branch that does not apply.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<T> Exp<T>(Vector512<T> x) where T : unmanaged, IFloatingPointIeee754<T> =>
        typeof(T) == typeof(float) ? Vector512.Exp(x.AsSingle()).As<float, T>()
        : typeof(T) == typeof(double) ? Vector512.Exp(x.AsDouble()).As<double, T>()
        : throw new NotSupportedException(typeof(T).Name);

    /// <summary>A span over a contiguous CPU tensor's elements (TorchSharp's <c>bytes</c> is a view of the native storage).</summary>
    public static SpanOf<T> Of<T>(TorchSharp.torch.Tensor tensor) where T : unmanaged => () => MemoryMarshal.Cast<byte, T>(tensor.bytes);

    public static SpanOf<T> Of<T>(T[] array) where T : unmanaged => () => array;
}
