using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using TorchSharp;
using static TorchSharp.torch;

namespace VidSeek.Models.XPool;

/// <summary>
/// The per-video part of <see cref="XPoolFactored"/> that follows its GEMMs: for each video's n vectors
/// <c>A[i]</c> and <c>B[i]</c> (n = heads x frames), the lower triangles of the three Gram matrices
/// <c>A A^T</c>, <c>B B^T</c> and <c>B diag(w) B^T</c> (off-diagonal entries doubled, so that
/// <c>a^T G a = sum_{i >= j} G'_ij a_i a_j</c>), and three linear forms <c>B·l_k</c>, packed into one row of
/// <c>[V, 3m + 3n]</c> (m = n(n+1)/2), the layout <see cref="XPoolPairKernel"/> reads.
/// <para>
/// Hand-written (<see cref="Vector512{T}"/>, as <see cref="XPoolPairKernel"/>; videos split over the torch threads) because the libtorch form of this step
/// was most of X-Pool's per-video preparation although it is a small share of its FLOPs: three batched
/// <c>[n, D] x [D, n]</c> products of 12 x 512 x 12 per video (too small for the BLAS to reach speed), a weighted copy of B for
/// the third one, a stack, an index_select for the triangles and a cat, each materialising and re-reading a
/// <c>[V, ...]</c> intermediate. Here each video's 2n rows (48 KiB at n = 12, D = 512) are read from cache once per
/// triangle entry, the three dot products of an entry share one pass over D, and the triangle is written in place.
/// No library call offers a weighted dot product or fuses the three.
/// </para>
/// </summary>
public static class XPoolGramForms
{
    /// <summary>
    /// Forms <c>[V, 3m + 3n]</c> of the rows of <paramref name="a"/> and <paramref name="b"/> (both <c>[V·n, D]</c>,
    /// contiguous, row <c>v·n + i</c> is vector i of video v): the triangles of A A^T, B B^T, B diag(<paramref name="w"/>) B^T,
    /// then <c>B·l_0</c>, <c>B·l_1</c>, <c>B·l_2</c> for the rows of <paramref name="linear"/> <c>[3, D]</c>. When
    /// <paramref name="scaleB"/> <c>[D]</c> is given, each row of B times it is written, once its forms are taken (while
    /// it is still in cache), to the contiguous tensor (or view) <paramref name="into"/> of B's size (B itself when
    /// <paramref name="into"/> is null), so the caller gets <c>B diag(scaleB)</c> where it wants it without another pass.
    /// </summary>
    public static Tensor Compute(Tensor a, Tensor b, int n, Tensor w, Tensor linear, Tensor? scaleB = null, Tensor? into = null)
    {
        if (a.dim() != 2 || !a.shape.SequenceEqual(b.shape) || a.shape[0] % n != 0)
            throw new ArgumentException($"A and B must both be [V·n, D] with n = {n}; got [{string.Join(", ", a.shape)}] and [{string.Join(", ", b.shape)}]");
        if (b.dtype != a.dtype || !a.is_contiguous() || !b.is_contiguous())
            throw new ArgumentException("A and B must be contiguous, of one dtype");
        long d = a.shape[1];
        return Compute(new Rows(a, 0, b, 0, d), a.shape[0], d, n, w, linear, scaleB, into ?? b);
    }

    /// <summary>
    /// As <see cref="Compute(Tensor, Tensor, int, Tensor, Tensor, Tensor?, Tensor?)"/> with A and B side by side in one
    /// contiguous <c>[V·n, 2D]</c> tensor <paramref name="ab"/> (A in columns 0 .. D-1, B in D .. 2D-1), the output of one
    /// GEMM with both weights; the scaled B goes to <paramref name="into"/> <c>[V·n, D]</c>.
    /// </summary>
    public static Tensor ComputeSideBySide(Tensor ab, int n, Tensor w, Tensor linear, Tensor scaleB, Tensor into)
    {
        if (ab.dim() != 2 || ab.shape[1] % 2 != 0 || ab.shape[0] % n != 0 || !ab.is_contiguous())
            throw new ArgumentException($"A|B must be a contiguous [V·n, 2D] with n = {n}; got [{string.Join(", ", ab.shape)}]");
        long d = ab.shape[1] / 2;
        return Compute(new Rows(ab, 0, ab, d, 2 * d), ab.shape[0], d, n, w, linear, scaleB, into);
    }

    /// <summary>Where the vectors are: row r of A starts at element <c>AOffset + r·Stride</c> of <c>A</c>, likewise B.</summary>
    private sealed record Rows(Tensor A, long AOffset, Tensor B, long BOffset, long Stride);

    private static Tensor Compute(Rows rows, long count, long d, int n, Tensor w, Tensor linear, Tensor? scaleB, Tensor into)
    {
        long v = count / n;
        if (w.numel() != d || linear.numel() != 3 * d || (scaleB is not null && scaleB.numel() != d))
            throw new ArgumentException("w and scaleB must have D elements, linear 3 x D");
        var dtype = rows.A.dtype;
        if (into.dtype != dtype || !into.is_contiguous() || into.numel() != count * d)
            throw new ArgumentException("the output for the scaled B must be contiguous, of B's dtype and size");
        using var wc = w.to(dtype).contiguous();
        using var lc = linear.to(dtype).contiguous();
        using var sc = scaleB?.to(dtype).contiguous();
        int m = n * (n + 1) / 2;
        var forms = torch.empty(v, 3 * m + 3 * n, dtype: dtype);
        int threads = Math.Max(1, Math.Min(torch.get_num_threads(), (int)v));
        if (dtype == ScalarType.Float64) Run<double>(rows, wc, lc, sc, into, forms, n, (int)d, (int)v, threads);
        else if (dtype == ScalarType.Float32) Run<float>(rows, wc, lc, sc, into, forms, n, (int)d, (int)v, threads);
        else throw new ArgumentException($"XPoolGramForms computes in float32 or float64, not {dtype}");
        return forms;
    }

    private static void Run<T>(Rows rows, Tensor w, Tensor linear, Tensor? scaleB, Tensor into, Tensor forms,
        int n, int d, int v, int threads)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (v == 0) return;
        if (threads == 1) { Videos<T>(rows, w, linear, scaleB, into, forms, n, d, 0, v); return; }
        // Contiguous ranges of videos per worker.
        Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads },
            k => Videos<T>(rows, w, linear, scaleB, into, forms, n, d, (int)((long)v * k / threads), (int)((long)v * (k + 1) / threads)));
    }

    private static Span<T> Of<T>(Tensor t) where T : unmanaged => MemoryMarshal.Cast<byte, T>(t.bytes);

    private static void Videos<T>(Rows rows, Tensor wt, Tensor lt, Tensor? st, Tensor it, Tensor ft,
        int n, int d, int vFrom, int vTo)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Span<T> a = Of<T>(rows.A).Slice((int)rows.AOffset), b = Of<T>(rows.B).Slice((int)rows.BOffset);
        Span<T> w = Of<T>(wt), l = Of<T>(lt), forms = Of<T>(ft);
        int stride = (int)rows.Stride;
        Span<T> into = Of<T>(it);
        Span<T> scale = st is null ? default : Of<T>(st);
        int m = n * (n + 1) / 2, width = 3 * m + 3 * n, lanes = Vector512<T>.Count;
        var wbi = new T[d];                                                                   // w ∘ B[i], reused for every j <= i
        T two = T.CreateChecked(2);
        for (int v = vFrom; v < vTo; v++)
        {
            var row = forms.Slice(v * width, width);
            int p = 0;
            for (int i = 0; i < n; i++)
            {
                var ai = a.Slice((v * n + i) * stride, d);
                var bi = b.Slice((v * n + i) * stride, d);
                for (int k = 0; k < d; k++) wbi[k] = w[k] * bi[k];
                for (int j = 0; j <= i; j++, p++)
                {
                    var aj = a.Slice((v * n + j) * stride, d);
                    var bj = b.Slice((v * n + j) * stride, d);
                    Vector512<T> sAA = Vector512<T>.Zero, sBB = Vector512<T>.Zero, sGG = Vector512<T>.Zero;
                    int k = 0;
                    for (; k + lanes <= d; k += lanes)
                    {
                        var vbj = Vector512.Create((ReadOnlySpan<T>)bj.Slice(k, lanes));
                        sAA = Fma(Vector512.Create((ReadOnlySpan<T>)ai.Slice(k, lanes)), Vector512.Create((ReadOnlySpan<T>)aj.Slice(k, lanes)), sAA);
                        sBB = Fma(Vector512.Create((ReadOnlySpan<T>)bi.Slice(k, lanes)), vbj, sBB);
                        sGG = Fma(Vector512.Create((ReadOnlySpan<T>)wbi.AsSpan(k, lanes)), vbj, sGG);
                    }
                    T gAA = Vector512.Sum(sAA), gBB = Vector512.Sum(sBB), gGG = Vector512.Sum(sGG);
                    for (; k < d; k++) { gAA += ai[k] * aj[k]; gBB += bi[k] * bj[k]; gGG += wbi[k] * bj[k]; }
                    T factor = i == j ? T.One : two;
                    row[p] = factor * gAA;
                    row[m + p] = factor * gBB;
                    row[2 * m + p] = factor * gGG;
                }
            }
            for (int i = 0; i < n; i++)
            {
                var bi = b.Slice((v * n + i) * stride, d);
                for (int r = 0; r < 3; r++) row[3 * m + r * n + i] = Dot(bi, l.Slice(r * d, d));
                if (st is not null)
                {
                    var dst = into.Slice((v * n + i) * d, d);
                    int k = 0;
                    for (; k + lanes <= d; k += lanes)
                        (Vector512.Create((ReadOnlySpan<T>)bi.Slice(k, lanes)) * Vector512.Create((ReadOnlySpan<T>)scale.Slice(k, lanes))).CopyTo(dst.Slice(k, lanes));
                    for (; k < d; k++) dst[k] = bi[k] * scale[k];
                }
            }
        }
    }

    // Vector512.FusedMultiplyAdd exists for float and double only; the JIT drops the branch that does not apply.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<T> Fma<T>(Vector512<T> x, Vector512<T> y, Vector512<T> z) where T : unmanaged, IFloatingPointIeee754<T> =>
        typeof(T) == typeof(float) ? Vector512.FusedMultiplyAdd(x.AsSingle(), y.AsSingle(), z.AsSingle()).As<float, T>()
        : typeof(T) == typeof(double) ? Vector512.FusedMultiplyAdd(x.AsDouble(), y.AsDouble(), z.AsDouble()).As<double, T>()
        : throw new NotSupportedException(typeof(T).Name);

    private static T Dot<T>(Span<T> x, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int lanes = Vector512<T>.Count, k = 0;
        var s = Vector512<T>.Zero;
        for (; k + lanes <= x.Length; k += lanes)
            s = Fma(Vector512.Create((ReadOnlySpan<T>)x.Slice(k, lanes)), Vector512.Create((ReadOnlySpan<T>)y.Slice(k, lanes)), s);
        T r = Vector512.Sum(s);
        for (; k < x.Length; k++) r += x[k] * y[k];
        return r;
    }
}
