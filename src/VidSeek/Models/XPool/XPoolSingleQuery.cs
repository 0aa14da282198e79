using TorchSharp;
using VidSeek.Tensors;
using static TorchSharp.torch;

namespace VidSeek.Models.XPool;

/// <summary>
/// X-Pool's exact similarity of ONE text against many videos (a search's candidates), with no per-video D x D work and
/// no per-video preparation: the form for the second stage of search, where each candidate is scored for one query only
/// (<see cref="XPoolFactored"/> prepares every video's keys and Gram matrices, which pays off only when a video meets
/// many texts).
/// <code>
/// x_f = LN1(frame f)                                         [N, F, D]
/// logit[h,f] = q_h . (W_k,h x_f + b_k,h) / sqrt(d_head) = x_f . u_h + const_h,   u_h = W_k,h^T q_h / sqrt(d_head)
///              (the constant q_h . b_k,h / sqrt(d_head) is the same for every frame of the head: the softmax drops it)
/// a[h,:] = softmax_f(logit[h,:])
/// sum_f a[h,f] v_h(f) = W_v,h (sum_f a[h,f] x_f) + b_v,h     (the weights sum to 1)
///                    = W_v,h y_h,  y_h = a[h,:] x              [N, H, D]
/// then out_proj, LN2, linear_proj + residual, LN3 and the cosine with the raw text, as X-Pool does,
/// </code>
/// so per candidate the work is O(H·F·D) (LN1, the logits, the weighted sums) plus three [N, D] x [D, D] GEMMs over all
/// candidates at once (v_proj per head, out_proj, linear_proj; with one head v_proj and out_proj fold into one matrix).
/// The same numbers as the module (<see cref="TextConditionedPooling.forward"/> then <see cref="TextConditionedPooling.Similarity"/>)
/// up to float rounding; tested against it and against <see cref="XPoolFactored"/> for 1, 2 and 4 heads.
/// </summary>
public sealed class XPoolSingleQuery : IDisposable
{
    private readonly Dictionary<string, Tensor> w;
    private readonly Tensor? ov;      // one head: W_o W_v [D, D]
    private readonly Tensor? ovBias;  // one head: W_o b_v + b_o [D]
    private readonly int heads, dim, headDim;

    public int Heads => heads;

    /// <summary>Reads the module's weights (by their checkpoint keys), float32, and folds what does not depend on the text; the
    /// tensors are its own (out of any caller's dispose scope) until <see cref="Dispose"/>.</summary>
    public XPoolSingleQuery(TextConditionedPooling pool)
    {
        heads = pool.NumHeads;
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        w = pool.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().to(ScalarType.Float32).contiguous().DetachFromDisposeScope());
        dim = (int)w["linear_proj.weight"].shape[0];
        headDim = dim / heads;
        if (heads == 1)
        {
            var wo = w["cross_attn.out_proj.weight"];
            ov = wo.matmul(w["cross_attn.v_proj.weight"]).contiguous().DetachFromDisposeScope();
            ovBias = wo.matmul(w["cross_attn.v_proj.bias"]).Plus(w["cross_attn.out_proj.bias"]).DetachFromDisposeScope();
        }
    }

    private Tensor LayerNorm(Tensor x, string name) =>
        nn.functional.layer_norm(x, [dim], w[name + ".weight"], w[name + ".bias"], TextConditionedPooling.LayerNormEps);

    private Tensor Linear(Tensor x, string name) => nn.functional.linear(x, w[name + ".weight"], w[name + ".bias"]);

    /// <summary>
    /// The similarities of one text with N videos, and its attention over each video's frames.
    /// </summary>
    /// <param name="text">The raw text embedding <c>[D]</c> or <c>[1, D]</c> (not layer-normed).</param>
    /// <param name="frames">Frame embeddings <c>[N, F, D]</c>.</param>
    /// <returns>Sims <c>[N]</c> (cosine of the text with the video pooled for it) and weights <c>[N, H, F]</c> (softmax over frames).</returns>
    public (Tensor Sims, Tensor Weights) Score(Tensor text, Tensor frames)
    {
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        var (sims, weights) = ScoreLayerNormed(text, LayerNorm1(frames));
        return (sims.MoveToOuterDisposeScope(), weights.MoveToOuterDisposeScope());
    }

    /// <summary>The module's <c>layer_norm1</c> of frame embeddings <c>[..., D]</c>, float32: what the attention sees of a frame.</summary>
    public Tensor LayerNorm1(Tensor frames)
    {
        using var _ = torch.no_grad();
        return LayerNorm(frames.to(ScalarType.Float32), "layer_norm1");
    }

    /// <summary><see cref="Score"/> of frames already through <see cref="LayerNorm1"/> <c>[N, F, D]</c> (or any points of that space).</summary>
    public (Tensor Sims, Tensor Weights) ScoreLayerNormed(Tensor text, Tensor normedFrames)
    {
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        var t = text.reshape(dim).to(ScalarType.Float32);                                         // [D]
        var x = normedFrames.to(ScalarType.Float32);                                               // [N, F, D]
        long n = x.shape[0];
        // Queries, folded through k_proj: u_h = W_k,h^T q_h / sqrt(d_head), one row per head.
        var q = Linear(LayerNorm(t, "layer_norm1"), "cross_attn.q_proj").view(heads, headDim);    // [H, hd]
        var wk = w["cross_attn.k_proj.weight"].view(heads, headDim, dim);                          // [H, hd, D]: output channel h*hd + i
        var u = q.unsqueeze(1).bmm(wk).squeeze(1).DivideInPlace(Math.Sqrt(headDim));                       // [H, D]
        var weights = x.matmul(u.T).transpose(1, 2).softmax(-1);                                   // [N, H, F], over frames
        // [N, H, D]: attention-weighted LN1'd frames, as a broadcast product and a sum over F rather than N tiny [H, F] x [F, D]
        // batched products (libtorch's bmm pays per batch; this is one vectorised pass over [N, H, F, D]).
        var y = (weights.unsqueeze(-1) * x.unsqueeze(1)).sum(2);
        Tensor o;
        if (heads == 1) o = nn.functional.linear(y.squeeze(1), ov!, ovBias!);                      // [N, D]
        else
        {
            // v_proj head by head: merged[n, h*hd + i] = W_v[h*hd + i, :] . y[n, h, :] + b_v[h*hd + i].
            var wv = w["cross_attn.v_proj.weight"].view(heads, headDim, dim);                      // [H, hd, D]
            var merged = y.transpose(0, 1).bmm(wv.transpose(1, 2)).transpose(0, 1).reshape(n, dim) // [N, D], heads concatenated
                         .Plus(w["cross_attn.v_proj.bias"]);
            o = Linear(merged, "cross_attn.out_proj");
        }
        var r = LayerNorm(o, "layer_norm2");
        var z = LayerNorm(r.Plus(Linear(r, "linear_proj")), "layer_norm3");                            // [N, D]
        var sims = nn.functional.normalize(z, dim: -1).matmul(nn.functional.normalize(t, dim: 0)); // [N]
        return (sims.MoveToOuterDisposeScope(), weights.MoveToOuterDisposeScope());
    }

    public void Dispose()
    {
        foreach (var t in w.Values) t.Dispose();
        ov?.Dispose();
        ovBias?.Dispose();
    }
}
