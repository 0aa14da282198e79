using TorchSharp;
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
/// plus linear terms. For a block of texts x videos that is two GEMMs, <c>q</c> against the keys (the attention logits)
/// and <c>g3 t</c> against <c>B</c>, both <c>[T, D] x [D, V·n]</c>, and a batched <c>[T, n] x [n, 3n + 3]</c> per video.
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
    private readonly Tensor? woWv, woBv;   // one head: out_proj . v_proj, and its bias W_o b_v + b_o
    private readonly double ccSq, g3ccSq, g3ccB3, b3Sq;
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
        var c = b2 + w["linear_proj.weight"].matmul(b2) + w["linear_proj.bias"];
        cc = Centre(c).MoveToOuterDisposeScope();
        g3cc = (cc * w["layer_norm3.weight"]).MoveToOuterDisposeScope();
        if (heads == 1)
        {
            var wo = w["cross_attn.out_proj.weight"];
            woWv = wo.matmul(w["cross_attn.v_proj.weight"]).MoveToOuterDisposeScope();
            woBv = (wo.matmul(w["cross_attn.v_proj.bias"]) + w["cross_attn.out_proj.bias"]).MoveToOuterDisposeScope();
        }
        var b3 = w["layer_norm3.bias"];
        ccSq = cc.dot(cc).ToDouble();
        g3ccSq = g3cc.dot(g3cc).ToDouble();
        g3ccB3 = g3cc.dot(b3).ToDouble();
        b3Sq = b3.dot(b3).ToDouble();
    }

    private static Tensor Centre(Tensor x) => x - x.mean(new long[] { -1 }, keepdim: true);

    private Tensor LayerNorm1(Tensor x) =>
        nn.functional.layer_norm(x, [dim], w["layer_norm1.weight"], w["layer_norm1.bias"], Eps);

    private Tensor Linear(Tensor x, string name) => nn.functional.linear(x, w[name + ".weight"], w[name + ".bias"]);

    /// <summary>Per-video data, independent of the texts. n = H·F.</summary>
    /// <param name="Keys"><c>[H, V·F, d_head]</c>: the keys of every frame, per head (rows of video v are v·F .. v·F+F-1);
    /// with one head the LN1'd frames themselves, <c>[1, V·F, D]</c> (k_proj is folded into the queries).</param>
    /// <param name="B"><c>[V·n, D]</c>: the vectors B[h,f] (row v·n + h·F + f).</param>
    /// <param name="Grams"><c>[V, n, 3n]</c>: A A^T | B B^T | (g3 B)(g3 B)^T.</param>
    /// <param name="Linear"><c>[V, n, 3]</c>: B·cc | (g3 B)·(g3 cc) | (g3 B)·b3.</param>
    public sealed record Videos(Tensor Keys, Tensor B, Tensor Grams, Tensor Linear, int Count, int Frames) : IDisposable
    {
        public void Dispose() { Keys.Dispose(); B.Dispose(); Grams.Dispose(); Linear.Dispose(); }

        /// <summary>Takes the tensors out of the caller's dispose scope, for data kept beyond it.</summary>
        public Videos DetachFromDisposeScope()
        {
            Keys.DetachFromDisposeScope(); B.DetachFromDisposeScope(); Grams.DetachFromDisposeScope(); Linear.DetachFromDisposeScope();
            return this;
        }
    }

    /// <summary>Per-text data. <c>Q</c> <c>[H, T, d_head]</c> already scaled by 1/sqrt(d_head) (one head: <c>[1, T, D]</c>, times W_k); <c>G3T</c> <c>[T, D]</c>; the rest <c>[T]</c>.</summary>
    public sealed record Texts(Tensor Q, Tensor G3T, Tensor Norm, Tensor DotB3, Tensor DotCc, int Count) : IDisposable
    {
        public void Dispose() { Q.Dispose(); G3T.Dispose(); Norm.Dispose(); DotB3.Dispose(); DotCc.Dispose(); }
    }

    /// <param name="frames">Frame embeddings <c>[V, F, D]</c> (any float dtype; computed in <see cref="Dtype"/>).</param>
    public Videos PrepareVideos(Tensor frames)
    {
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        long v = frames.shape[0], f = frames.shape[1];
        long n = heads * f;
        var x = LayerNorm1(frames.to(Dtype));                                                   // [V, F, D]
        Tensor keys, p;
        if (heads == 1)
        {
            // One head: k_proj moves to the text side (PrepareTexts), and out_proj folds into v_proj, so a frame costs
            // one D x D product here instead of three.
            keys = x.reshape(1, v * f, dim);                                                    // [1, V·F, D]
            p = nn.functional.linear(x, woWv!, woBv!).view(v, 1, f, dim);                      // [V, 1, F, D]
        }
        else
        {
            keys = Linear(x, "cross_attn.k_proj").view(v * f, heads, headDim).permute(1, 0, 2).contiguous(); // [H, V·F, hd]
            var values = Linear(x, "cross_attn.v_proj").view(v, f, heads, headDim);            // [V, F, H, hd]
            // P[v,h,f] = W_o[:, head h] v[v,f,h] + b_o / H: out_proj applied head by head (columns h·hd .. h·hd+hd-1).
            var wo = w["cross_attn.out_proj.weight"].view(dim, heads, headDim);                // [D, H, hd]
            p = torch.einsum("vfhe,dhe->vhfd", values, wo) + w["cross_attn.out_proj.bias"] / heads; // [V, H, F, D]
        }
        var a = Centre(p).reshape(v, n, dim);                                                   // [V, n, D]
        var ag = a * w["layer_norm2.weight"];
        var b = Centre(ag + ag.matmul(w["linear_proj.weight"].T));                             // C (I + W_l) diag(g2) A
        var gb = b * w["layer_norm3.weight"];
        var grams = torch.cat([a.bmm(a.transpose(1, 2)), b.bmm(b.transpose(1, 2)), gb.bmm(gb.transpose(1, 2))], 2); // [V, n, 3n]
        var linear = torch.stack([b.matmul(cc), gb.matmul(g3cc), gb.matmul(w["layer_norm3.bias"])], 2);           // [V, n, 3]
        return new Videos(keys.MoveToOuterDisposeScope(), b.reshape(v * n, dim).MoveToOuterDisposeScope(),
            grams.MoveToOuterDisposeScope(), linear.MoveToOuterDisposeScope(), (int)v, (int)f);
    }

    /// <param name="text">Raw text embeddings <c>[T, D]</c> (not layer-normed: the cosine uses them as they are).</param>
    public Texts PrepareTexts(Tensor text)
    {
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        var t = text.to(Dtype);
        long n = t.shape[0];
        var q = Linear(LayerNorm1(t), "cross_attn.q_proj").div_(Math.Sqrt(headDim));            // [T, D]
        // One head: the logits q·(W_k x + b_k) = (W_k^T q)·x + q·b_k, and q·b_k is the same for every frame of a video,
        // so the softmax drops it. Several heads keep their keys (W_k^T q_h would be D wide per head).
        q = heads == 1 ? q.matmul(w["cross_attn.k_proj.weight"]).unsqueeze(0).contiguous()   // [1, T, D]
                       : q.view(n, heads, headDim).permute(1, 0, 2).contiguous();              // [H, T, hd]
        var g3t = (t * w["layer_norm3.weight"]).contiguous();
        // F.normalize divides by max(|t|, 1e-12).
        var norm = t.square().sum(new long[] { -1 }).sqrt().clamp_min(1e-12);
        var dotB3 = t.matmul(w["layer_norm3.bias"]);
        var dotCc = g3t.matmul(cc);
        return new Texts(q.MoveToOuterDisposeScope(), g3t.MoveToOuterDisposeScope(), norm.MoveToOuterDisposeScope(),
            dotB3.MoveToOuterDisposeScope(), dotCc.MoveToOuterDisposeScope(), (int)n);
    }

    /// <summary>
    /// Similarities of texts <c>[t0, t0+tn)</c> against videos <c>[v0, v0+vn)</c>.
    /// Returns sims <c>[tn, vn]</c> and the attention weights <c>[tn, vn, H, F]</c> (the softmax over frames).
    /// </summary>
    public (Tensor Sims, Tensor Weights) Score(Texts texts, Videos videos, long t0, long tn, long v0, long vn)
    {
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        long f = videos.Frames, n = heads * f;
        var q = texts.Q.narrow(1, t0, tn);                                                      // [H, tn, hd]
        var k = videos.Keys.narrow(1, v0 * f, vn * f);                                          // [H, vn·F, hd]
        var weights = q.matmul(k.transpose(1, 2)).view(heads, tn, vn, f).softmax(-1);          // [H, tn, vn, F]
        var a = weights.permute(1, 2, 0, 3).reshape(tn, vn, n);                                 // [tn, vn, n], index h·F + f

        // <g3 t, sum a B>: the second GEMM, then the attention-weighted sum over the n vectors.
        var tb = texts.G3T.narrow(0, t0, tn).matmul(videos.B.narrow(0, v0 * n, vn * n).T).view(tn, vn, n);
        var numLin = tb.mul_(a).sum(-1).T;                                                      // [vn, tn]
        tb.Dispose();

        // Quadratic and linear forms with the per-video Grams: [vn, tn, n] x [vn, n, 3n] and [vn, n, 3].
        // The scalar work below runs on [vn, tn]: views of these results, transposed once at the end.
        var av = a.transpose(0, 1).contiguous();                                                // [vn, tn, n]
        var forms = av.bmm(videos.Grams.narrow(0, v0, vn)).view(vn, tn, 3, n);
        var quad = forms.mul_(av.unsqueeze(2)).sum(-1);                                        // [vn, tn, 3]
        forms.Dispose();
        var lin = av.bmm(videos.Linear.narrow(0, v0, vn));                                      // [vn, tn, 3]
        av.Dispose();
        var qAA = quad.select(2, 0); var qBB = quad.select(2, 1); var qGG = quad.select(2, 2);
        var lBcc = lin.select(2, 0); var lGcc = lin.select(2, 1); var lGb3 = lin.select(2, 2);

        var invSigma = qAA.div(dim).add_(Eps).rsqrt_();                                        // LN2: 1/sigma
        var invSigmaSq = invSigma.square();
        var csSq = qBB.mul(invSigmaSq).add_(lBcc.mul(invSigma), alpha: 2).add_(ccSq);          // |C s|^2
        var invSigma3 = csSq.div_(dim).add_(Eps).rsqrt_();                                     // LN3: 1/sigma3
        var g3csSq = qGG.mul(invSigmaSq).add_(lGcc.mul(invSigma), alpha: 2).add_(g3ccSq);      // |g3 C s|^2
        var g3csB3 = lGb3.mul(invSigma).add_(g3ccB3);                                          // <g3 C s, b3>
        var zSq = g3csSq.mul_(invSigma3.square()).add_(g3csB3.mul_(invSigma3), alpha: 2).add_(b3Sq); // |z|^2
        var num = numLin.mul(invSigma).add_(texts.DotCc.narrow(0, t0, tn)).mul_(invSigma3).add_(texts.DotB3.narrow(0, t0, tn)); // <t, z>
        var sims = num.div_(zSq.clamp_min_(0).sqrt_().clamp_min_(1e-12).mul_(texts.Norm.narrow(0, t0, tn))).T; // [tn, vn]
        return (sims.MoveToOuterDisposeScope(), weights.permute(1, 2, 0, 3).MoveToOuterDisposeScope());
    }

    /// <summary>
    /// Multiply-adds x 2 of the factored all-pairs computation for <paramref name="texts"/> x <paramref name="videos"/>:
    /// per video the keys, values and out_proj of every frame (3·F·D² MACs; one head: W_o W_v only, F·D²), (I + W_l)
    /// of every B (H·F·D²) and the three Grams (3·n²·D); per text q (D², one head 2·D²); per pair the two GEMMs
    /// (F·D + n·D) and the Gram forms (n·(3n + 3)). Elementwise work (softmax, LayerNorm statistics) is not counted.
    /// </summary>
    public static double Flops(long texts, long videos, int frames, int dim, int heads)
    {
        double n = (double)heads * frames, d = dim;
        double perVideo = (heads == 1 ? 2 : 3 + heads) * frames * d * d + 3 * n * n * d + 3 * n * d;
        double perText = (heads == 1 ? 2 : 1) * d * d + 2 * d;
        double perPair = frames * d + n * d + n * (3 * n + 3);
        return 2 * (videos * perVideo + texts * perText + (double)texts * videos * perPair);
    }

    /// <summary>Takes the folded weights out of the caller's dispose scope, for an object kept beyond it.</summary>
    public XPoolFactored DetachFromDisposeScope()
    {
        foreach (var t in w.Values) t.DetachFromDisposeScope();
        cc.DetachFromDisposeScope();
        g3cc.DetachFromDisposeScope();
        woWv?.DetachFromDisposeScope();
        woBv?.DetachFromDisposeScope();
        return this;
    }

    public void Dispose()
    {
        foreach (var t in w.Values) t.Dispose();
        cc.Dispose();
        g3cc.Dispose();
        woWv?.Dispose();
        woBv?.Dispose();
    }
}
