using TorchSharp;
using VidSeek.Tensors;
using static TorchSharp.torch;

namespace VidSeek.Models.XPool;

/// <summary>Which of two equal computations scores X-Pool pairs.</summary>
public enum XPoolSimilarity
{
    /// <summary>X-Pool's own order: per (text, video) pair, attention, <c>out_proj</c>, LN2, <c>linear_proj</c>, LN3, cosine (about 2·D² multiply-adds a pair).</summary>
    Direct,
    /// <summary><see cref="XPoolFactored"/>: the same numbers from per-frame precomputation, two GEMMs and per-video Gram matrices.</summary>
    Factored,
}

/// <summary>
/// X-Pool's exact similarity (the module of <see cref="TextConditionedPooling"/> in eval mode, then cosine with the raw
/// text) rewritten so that nothing D x D is applied per (text, video) pair. Dropout is the identity at inference, so
/// everything after the softmax is linear in the attention weights <c>a[h,f]</c> except the scalar statistics of the
/// two LayerNorms:
/// <code>
/// o   = out_proj(concat_h sum_f a[h,f] v[h,f]) = sum_{h,f} a[h,f] P[h,f]       P[h,f] = W_o[:, head h] v[h,f] + b_o / H
///                                                                               (b_o split over heads: sum_f a[h,f] = 1)
/// LN2: C o = sum a A[h,f]   with A = C P (C: subtract the mean over channels), sigma^2 = |C o|^2 / D + eps
/// s   = r + W_l r + b_l, r = g2 * C o / sigma + b2  =>  C s = (sum a B[h,f]) / sigma + cc
///       B = C (I + W_l) diag(g2) A,   cc = C ((I + W_l) b2 + b_l)
/// LN3: sigma3^2 = |C s|^2 / D + eps,  z = g3 * C s / sigma3 + b3
/// sim = &lt;t, z&gt; / (|t| |z|),  &lt;t, z&gt; = (&lt;g3 t, sum a B&gt; / sigma + &lt;g3 t, cc&gt;) / sigma3 + &lt;t, b3&gt;
/// |z|^2 = |g3 C s|^2 / sigma3^2 + 2 &lt;g3 C s, b3&gt; / sigma3 + |b3|^2
/// </code>
/// So per video (independent of the text) we keep the keys <c>k[h,f]</c>, the vectors <c>B[h,f]</c> and three
/// Gram matrices of the n = H·F vectors (<c>A A^T</c>, <c>B B^T</c>, <c>(g3 B)(g3 B)^T</c>, each n x n) with their
/// products with <c>cc</c>, <c>g3 cc</c> and <c>b3</c>; per pair the squared norms are quadratic forms <c>a^T G a</c>
/// plus linear terms. For a block of texts x videos that is two GEMMs, the keys against <c>q</c> (the attention logits)
/// and <c>B</c> against <c>g3 t</c>, both <c>[V·n, D] x [D, T]</c> and straight from row ranges of the stored matrices,
/// then one fused pass (<see cref="XPoolPairKernel"/>): per pair the softmax, the weighted sum, the three quadratic
/// forms over the packed Gram triangles and the scalar algebra below, in registers, 8 texts (float32) per instruction.
/// With one head, <c>k_proj</c> folds into the queries and <c>out_proj</c>, <c>v_proj</c>, both centrings and
/// <c>(I + W_l) diag(g2)</c> into one <c>[2D, D]</c> weight that gives A and B of a frame in one GEMM.
///
/// Numerics (float32): every squared norm is a Gram form of vectors that are already centred over the channels
/// (<c>C</c> is applied to the vectors before the products), never <c>E[x²] - E[x]²</c>, which cancels when a vector's mean
/// is large against its spread (biases, LayerNorm offsets). What is left cancels only where the true quantity is
/// small against the frames it averages, which is the conditioning of the problem itself; tests compare with the
/// float64 direct module and the golden folders at 1e-5.
/// </summary>
public sealed class XPoolFactored : IDisposable
{
    /// <summary>The module's LayerNorm epsilon (PyTorch's default, which X-Pool keeps).</summary>
    public const double Eps = TextConditionedPooling.LayerNormEps;

    private readonly Dictionary<string, Tensor> w;
    private readonly Tensor cc, g3cc;
    private readonly Tensor? abWeight, abBias;   // one head: [2D, D] and [2D], frames (after LN1) to A and B in one GEMM
    private readonly Tensor? nT;                 // several heads: N^T, N = C (I + W_l) diag(g2), so B = A N^T
    private readonly XPoolPairKernel.Constants constants;
    private readonly int heads, dim, headDim;

    public ScalarType Dtype { get; }
    public int Heads => heads;

    /// <summary>Reads the module's weights (by their checkpoint keys) in <paramref name="dtype"/> and folds the text- and video-independent constants.</summary>
    public XPoolFactored(TextConditionedPooling pool, ScalarType dtype = ScalarType.Float32)
    {
        Dtype = dtype;
        heads = pool.NumHeads;
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        w = pool.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().to(dtype).contiguous().MoveToOuterDisposeScope());
        dim = (int)w["linear_proj.weight"].shape[0];
        headDim = dim / heads;
        // c = (I + W_l) b2 + b_l, centred: the part of C s that does not depend on the frames.
        var b2 = w["layer_norm2.bias"];
        var c = b2.Plus(w["linear_proj.weight"].matmul(b2)).Plus(w["linear_proj.bias"]);
        cc = Centre(c).MoveToOuterDisposeScope();
        g3cc = (cc * w["layer_norm3.weight"]).MoveToOuterDisposeScope();
        // N = C (I + W_l) diag(g2): B = N A for each of the vectors A = C P (C centres a vector over the channels,
        // which for a matrix acting on column vectors means centring each column).
        var n = CentreColumns(torch.eye(dim, dtype: dtype).Plus(w["linear_proj.weight"]) * w["layer_norm2.weight"]);
        if (heads == 1)
        {
            // A = C (W_o W_v x + W_o b_v + b_o) and B = N A: both linear in the LN1'd frame x.
            var wo = w["cross_attn.out_proj.weight"];
            var wA = CentreColumns(wo.matmul(w["cross_attn.v_proj.weight"]));
            var bA = Centre(wo.matmul(w["cross_attn.v_proj.bias"]).Plus(w["cross_attn.out_proj.bias"]));
            abWeight = torch.cat([wA, n.matmul(wA)], 0).contiguous().MoveToOuterDisposeScope();
            abBias = torch.cat([bA, n.matmul(bA)], 0).MoveToOuterDisposeScope();
        }
        else nT = n.T.contiguous().MoveToOuterDisposeScope();
        var b3 = w["layer_norm3.bias"];
        constants = new XPoolPairKernel.Constants(dim, Eps, cc.dot(cc).ToDouble(), g3cc.dot(g3cc).ToDouble(),
            g3cc.dot(b3).ToDouble(), b3.dot(b3).ToDouble());
    }

    private static Tensor CentreColumns(Tensor m) => m - m.mean(new long[] { 0 }, keepdim: true);

    /// <summary>The floor of a norm before dividing by it (rooted: see Tensors/Scalars.cs).</summary>
    private static readonly Scalar NormFloor = 1e-12.ToScalar();

    private static Tensor Centre(Tensor x) => x - x.mean(new long[] { -1 }, keepdim: true);

    private Tensor LayerNorm1(Tensor x) =>
        nn.functional.layer_norm(x, [dim], w["layer_norm1.weight"], w["layer_norm1.bias"], Eps);

    private Tensor Linear(Tensor x, string name) => nn.functional.linear(x, w[name + ".weight"], w[name + ".bias"]);

    /// <summary>Per-video data, independent of the texts. n = H·F.</summary>
    /// <param name="Keys"><c>[H, V·F, d_head]</c>: the keys of every frame, per head (rows of video v are v·F .. v·F+F-1);
    /// with one head the LN1'd frames themselves, <c>[1, V·F, D]</c> (k_proj is folded into the queries).</param>
    /// <param name="B"><c>[V·n, D]</c>: the vectors B[h,f] (row v·n + h·F + f); null with one head, where the text side
    /// carries <c>W_B^T (g3 t)</c> instead and both GEMMs run against the frames.</param>
    /// <param name="Forms"><c>[V, 3m + 3n]</c>, m = n(n+1)/2: the lower triangles (row by row, off-diagonal entries doubled)
    /// of A A^T, B B^T and (g3 B)(g3 B)^T, then B·cc, (g3 B)·(g3 cc), (g3 B)·b3: what the pair kernel reads per video.</param>
    public sealed record Videos(Tensor Keys, Tensor? B, Tensor Forms, int Count, int Frames) : IDisposable
    {
        public void Dispose() { Keys.Dispose(); B?.Dispose(); Forms.Dispose(); }

        /// <summary>Takes the tensors out of the caller's dispose scope, for data kept beyond it.</summary>
        public Videos DetachFromDisposeScope()
        {
            Keys.DetachFromDisposeScope(); B?.DetachFromDisposeScope(); Forms.DetachFromDisposeScope();
            return this;
        }
    }

    /// <summary>Per-text data. <c>Q</c> <c>[H, T, d_head]</c> already scaled by 1/sqrt(d_head), and <c>G3T</c> <c>[T, D]</c>;
    /// with one head <c>Q</c> is <c>[2, T, D]</c>: row 0 the query times W_k (so it meets the LN1'd frames), row 1
    /// <c>u = W_B^T (g3 t)</c> (so that <c>&lt;g3 t, B_f&gt; = &lt;u, x_f&gt; + &lt;g3 t, b_B&gt;</c>), and <c>G3T</c> is null.
    /// <c>Scalars</c> <c>[4, T]</c>: |t|, &lt;t, b3&gt;, &lt;g3 t, cc&gt;, &lt;g3 t, b_B&gt; (0 with several heads).</summary>
    public sealed record Texts(Tensor Q, Tensor? G3T, Tensor Scalars, int Count) : IDisposable
    {
        public void Dispose() { Q.Dispose(); G3T?.Dispose(); Scalars.Dispose(); }
    }

    /// <param name="frames">Frame embeddings <c>[V, F, D]</c> (any float dtype; computed in <see cref="Dtype"/>).</param>
    public Videos PrepareVideos(Tensor frames)
    {
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        long v = frames.shape[0], f = frames.shape[1];
        long n = heads * f;
        var x = LayerNorm1(frames.to(Dtype));                                                   // [V, F, D]
        Tensor keys, a, b;
        if (heads == 1)
        {
            // One head: k_proj moves to the text side (PrepareTexts), and out_proj, both centrings and (I + W_l) diag(g2)
            // fold into one [2D, D] weight, so a frame costs one GEMM row here: A and B side by side.
            keys = x.reshape(1, v * f, dim);                                                    // [1, V·F, D]
            var ab = nn.functional.linear(x.reshape(v * f, dim), abWeight!, abBias!);            // [V·F, 2D]
            a = ab.narrow(1, 0, dim).reshape(v, n, dim);                                        // [V, n, D]
            b = ab.narrow(1, dim, dim).reshape(v, n, dim);
        }
        else
        {
            keys = Linear(x, "cross_attn.k_proj").view(v * f, heads, headDim).permute(1, 0, 2).contiguous(); // [H, V·F, hd]
            var values = Linear(x, "cross_attn.v_proj").view(v, f, heads, headDim);            // [V, F, H, hd]
            // P[v,h,f] = W_o[:, head h] v[v,f,h] + b_o / H: out_proj applied head by head (columns h·hd .. h·hd+hd-1).
            var wo = w["cross_attn.out_proj.weight"].view(dim, heads, headDim);                // [D, H, hd]
            var p = torch.einsum("vfhe,dhe->vhfd", values, wo).Plus(w["cross_attn.out_proj.bias"].DividedBy(heads)); // [V, H, F, D]
            a = Centre(p).reshape(v, n, dim);                                                   // [V, n, D]
            b = a.matmul(nT);                                                                   // C (I + W_l) diag(g2) A
        }
        var gb = b * w["layer_norm3.weight"];
        var grams = torch.stack([a.bmm(a.transpose(1, 2)), b.bmm(b.transpose(1, 2)), gb.bmm(gb.transpose(1, 2))], 1)
            .view(v, 3, n * n);                                                                 // [V, 3, n·n]
        // Lower triangles, off-diagonals doubled: a^T G a = sum_{i >= j} G'_ij a_i a_j.
        var tril = torch.tril_indices(n, n);
        var rows = tril[0]; var cols = tril[1];
        var packed = grams.index_select(2, rows.Times(n).Plus(cols)) * torch.where(rows == cols, 1.0, 2.0).to(Dtype); // [V, 3, m]
        var linear = torch.stack([b.matmul(cc), gb.matmul(g3cc), gb.matmul(w["layer_norm3.bias"])], 1);      // [V, 3, n]
        var forms = torch.cat([packed.reshape(v, -1), linear.reshape(v, -1)], 1).contiguous(); // [V, 3m + 3n]
        return new Videos(keys.contiguous().MoveToOuterDisposeScope(), heads == 1 ? null : b.reshape(v * n, dim).contiguous().MoveToOuterDisposeScope(),
            forms.MoveToOuterDisposeScope(), (int)v, (int)f);
    }

    /// <param name="text">Raw text embeddings <c>[T, D]</c> (not layer-normed: the cosine uses them as they are).</param>
    public Texts PrepareTexts(Tensor text)
    {
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        var t = text.to(Dtype);
        long n = t.shape[0];
        var q = Linear(LayerNorm1(t), "cross_attn.q_proj").DivideInPlace(Math.Sqrt(headDim));            // [T, D]
        // One head: the logits q·(W_k x + b_k) = (W_k^T q)·x + q·b_k, and q·b_k is the same for every frame of a video,
        // so the softmax drops it. Several heads keep their keys (W_k^T q_h would be D wide per head).
        var g3t = (t * w["layer_norm3.weight"]).contiguous();
        // F.normalize divides by max(|t|, 1e-12).
        var norm = t.square().sum(new long[] { -1 }).sqrt().clamp_min(NormFloor);
        Tensor gbB;
        if (heads == 1)
        {
            // B_f = W_B x_f + b_B (the second half of the folded weight), so <g3 t, B_f> = <W_B^T g3 t, x_f> + <g3 t, b_B>:
            // both per-pair products are against the LN1'd frames, one GEMM with the queries and u side by side.
            var u = g3t.matmul(abWeight!.narrow(0, dim, dim));                                  // [T, D]
            q = torch.stack([q.matmul(w["cross_attn.k_proj.weight"]), u], 0).contiguous();     // [2, T, D]
            gbB = g3t.matmul(abBias!.narrow(0, dim, dim));
        }
        else
        {
            q = q.view(n, heads, headDim).permute(1, 0, 2).contiguous();                       // [H, T, hd]
            gbB = torch.zeros(n, dtype: Dtype);
        }
        var scalars = torch.stack([norm, t.matmul(w["layer_norm3.bias"]), g3t.matmul(cc), gbB], 0).contiguous(); // [4, T]
        return new Texts(q.MoveToOuterDisposeScope(), heads == 1 ? null : g3t.MoveToOuterDisposeScope(), scalars.MoveToOuterDisposeScope(), (int)n);
    }

    /// <summary>
    /// Similarities of texts <c>[t0, t0+tn)</c> against videos <c>[v0, v0+vn)</c>.
    /// Returns sims <c>[tn, vn]</c> and the attention weights <c>[tn, vn, H, F]</c> (the softmax over frames).
    /// </summary>
    public (Tensor Sims, Tensor Weights) Score(Texts texts, Videos videos, long t0, long tn, long v0, long vn)
    {
        using var scope = torch.NewDisposeScope();
        var sims = torch.empty(tn, vn, dtype: Dtype);
        var weights = torch.empty(vn, heads, videos.Frames, tn, dtype: Dtype);                 // the kernel's [vn, n, tn]
        if (Dtype == ScalarType.Float64)
            Run(texts, videos, t0, tn, v0, vn, XPoolPairKernel.Of<double>(sims), 0, vn, XPoolPairKernel.Of<double>(weights));
        else
            Run(texts, videos, t0, tn, v0, vn, XPoolPairKernel.Of<float>(sims), 0, vn, XPoolPairKernel.Of<float>(weights));
        return (sims.MoveToOuterDisposeScope(), weights.permute(3, 0, 1, 2).MoveToOuterDisposeScope());
    }

    /// <summary>
    /// Similarities of texts <c>[t0, t0+tn)</c> against videos <c>[v0, v0+vn)</c> written into a row-major
    /// <c>[T, V]</c> matrix: the pair (t, v) at <c>t · <paramref name="rowStride"/> + v</c> (float32 only; no attention weights).
    /// </summary>
    public void ScoreInto(Texts texts, Videos videos, long t0, long tn, long v0, long vn, float[] result, long rowStride)
    {
        if (Dtype != ScalarType.Float32) throw new InvalidOperationException("ScoreInto writes float32; this XPoolFactored computes in " + Dtype);
        Run(texts, videos, t0, tn, v0, vn, XPoolPairKernel.Of(result), t0 * rowStride + v0, rowStride, null);
    }

    /// <summary>
    /// The block's GEMMs, laid out text-minor for the pair kernel, straight from row ranges of the stored matrices:
    /// returns the tensor holding the logits <c>[H, vn·F, tn]</c> at element 0 and the tensor holding
    /// <c>&lt;g3 t, B&gt;</c> <c>[vn·n, tn]</c> (up to the text constant <c>&lt;g3 t, b_B&gt;</c>) at the returned offset.
    /// One head: one batched product of the frames against the queries and u, <c>[2, vn·F, tn]</c>, both halves in one
    /// tensor; several heads: the keys against the queries per head and B against <c>g3 t</c>.
    /// </summary>
    public (Tensor Logits, Tensor TextB, long TextBOffset) BlockGemms(Texts texts, Videos videos, long t0, long tn, long v0, long vn)
    {
        long f = videos.Frames, n = heads * f;
        var k = videos.Keys.narrow(1, v0 * f, vn * f);                                          // [H, vn·F, hd]
        if (heads == 1)
        {
            var both = k.expand(2, vn * f, dim).bmm(texts.Q.narrow(1, t0, tn).transpose(1, 2)).contiguous(); // [2, vn·F, tn]
            return (both, both, vn * f * tn);
        }
        var logits = k.bmm(texts.Q.narrow(1, t0, tn).transpose(1, 2)).contiguous();            // [H, vn·F, tn]
        var textB = videos.B!.narrow(0, v0 * n, vn * n).mm(texts.G3T!.narrow(0, t0, tn).T).contiguous(); // [vn·n, tn]
        return (logits, textB, 0);
    }

    // The block's GEMMs, then the fused per-pair kernel (XPoolPairKernel), which writes the sims (and the weights
    // when asked) where the caller wants them.
    private void Run<T>(Texts texts, Videos videos, long t0, long tn, long v0, long vn,
        XPoolPairKernel.SpanOf<T> sims, long simsOffset, long simsStrideT, XPoolPairKernel.SpanOf<T>? weights)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        var (logits, textB, textBOffset) = BlockGemms(texts, videos, t0, tn, v0, vn);
        var block = new XPoolPairKernel.Block<T>(heads, videos.Frames, (int)tn, (int)vn, t0, v0, texts.Count,
            XPoolPairKernel.Of<T>(logits), XPoolPairKernel.Of<T>(textB), textBOffset, XPoolPairKernel.Of<T>(videos.Forms),
            XPoolPairKernel.Of<T>(texts.Scalars), sims, simsOffset, simsStrideT, weights);
        XPoolPairKernel.Run(block, constants, torch.get_num_threads());
    }

    /// <summary>
    /// Multiply-adds x 2 of the factored all-pairs computation for <paramref name="texts"/> x <paramref name="videos"/>:
    /// per video the keys, values and out_proj of every frame (3·F·D² MACs; one head: W_o W_v only, F·D²), (I + W_l)
    /// of every B (H·F·D²; one head: A and B in one [2D, D] GEMM, 2·F·D²) and the three Grams (3·n²·D); per text q (D²;
    /// one head 3·D²: q, W_k^T q and u = W_B^T g3 t); per pair the two GEMMs (F·D + n·D) and the Gram forms as the kernel computes them (the m = n(n+1)/2
    /// products a_i a_j, three packed triangles, three linear forms: 4m + 3n). Elementwise work (softmax, LayerNorm
    /// statistics) is not counted.
    /// </summary>
    public static double Flops(long texts, long videos, int frames, int dim, int heads)
    {
        double n = (double)heads * frames, d = dim;
        double perVideo = (heads == 1 ? 2 : 3 + heads) * frames * d * d + 3 * n * n * d + 3 * n * d;
        double perText = (heads == 1 ? 3 : 1) * d * d + 2 * d;
        double perPair = frames * d + n * d + 4 * (n * (n + 1) / 2) + 3 * n;
        return 2 * (videos * perVideo + texts * perText + (double)texts * videos * perPair);
    }

    /// <summary>Takes the folded weights out of the caller's dispose scope, for an object kept beyond it.</summary>
    public XPoolFactored DetachFromDisposeScope()
    {
        foreach (var t in w.Values) t.DetachFromDisposeScope();
        cc.DetachFromDisposeScope();
        g3cc.DetachFromDisposeScope();
        abWeight?.DetachFromDisposeScope();
        abBias?.DetachFromDisposeScope();
        nT?.DetachFromDisposeScope();
        return this;
    }

    public void Dispose()
    {
        foreach (var t in w.Values) t.Dispose();
        cc.Dispose();
        g3cc.Dispose();
        abWeight?.Dispose();
        abBias?.Dispose();
        nT?.Dispose();
    }
}
