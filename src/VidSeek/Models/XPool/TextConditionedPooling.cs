using VidSeek.Tensors;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace VidSeek.Models.XPool;

/// <summary>What text-conditioned pooling returns.</summary>
/// <param name="Pooled"><c>[V, T, D]</c>: video v pooled for text t.</param>
/// <param name="CrossAttnOut"><c>[V, T, D]</c>: the cross-attention output before <c>layer_norm2</c> (a debug aid).</param>
/// <param name="Weights"><c>[V, T, H, F]</c>: attention of each text over each video's frames.</param>
public sealed record PoolingOutput(Tensor Pooled, Tensor CrossAttnOut, Tensor Weights);

/// <summary>
/// X-Pool (CVPR 2022) text-conditioned pooling of frame embeddings (SPEC 2.3; X-Pool's <c>Transformer</c>):
/// <code>
/// q = Wq LN1(t)   k_f = Wk LN1(x_f)   v_f = Wv LN1(x_f)          one LayerNorm module, shared
/// a = softmax_f(q . k_f / sqrt(d_head))                          per head
/// r = LN2(Wo concat_heads(sum_f a_f v_f))
/// z = LN3(r + Dropout(Wl r))
/// </code>
/// Every Linear starts as the identity with zero bias, as in X-Pool, so an untrained module passes frames through
/// an attention-weighted average. Key names follow X-Pool's state_dict.
/// </summary>
public sealed class TextConditionedPooling : nn.Module<Tensor, Tensor, PoolingOutput>
{
    private readonly LayerNorm layer_norm1, layer_norm2, layer_norm3;
    private readonly XPoolCrossAttention cross_attn;
    private readonly Linear linear_proj;
    private readonly Dropout dropout;

    /// <summary>PyTorch's LayerNorm default, which X-Pool keeps.</summary>
    public const double LayerNormEps = 1e-5;

    /// <summary>Attention heads (X-Pool's <c>num_mha_heads</c>; not stored in its checkpoints).</summary>
    public int NumHeads { get; }

    public TextConditionedPooling(int embedDim, int numHeads = 1, double dropoutRate = 0.3) : base(nameof(TextConditionedPooling))
    {
        NumHeads = numHeads;
        cross_attn = new XPoolCrossAttention(embedDim, numHeads);
        linear_proj = nn.Linear(embedDim, embedDim);
        layer_norm1 = nn.LayerNorm(embedDim, LayerNormEps);
        layer_norm2 = nn.LayerNorm(embedDim, LayerNormEps);
        layer_norm3 = nn.LayerNorm(embedDim, LayerNormEps);
        dropout = nn.Dropout(dropoutRate);
        RegisterComponents();
        InitIdentity();
    }

    private void InitIdentity()
    {
        using var _ = torch.no_grad();
        foreach (var (name, p) in named_parameters())
        {
            if (!name.StartsWith("layer_norm", StringComparison.Ordinal))
            {
                if (p.dim() == 2) p.copy_(torch.eye(p.shape[0], p.shape[1]));
                else p.zero_();
            }
        }
    }

    /// <param name="text">Text embeddings <c>[T, D]</c>.</param>
    /// <param name="frames">Frame embeddings <c>[V, F, D]</c>.</param>
    public override PoolingOutput forward(Tensor text, Tensor frames)
    {
        using var scope = torch.NewDisposeScope();
        var t = layer_norm1.forward(text);
        var v = layer_norm1.forward(frames);
        var (attnOut, weights) = cross_attn.forward(t, v);
        var r = layer_norm2.forward(attnOut);
        var z = layer_norm3.forward(r.Plus(dropout.forward(linear_proj.forward(r))));
        return new PoolingOutput(z.MoveToOuterDisposeScope(), attnOut.MoveToOuterDisposeScope(), weights.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// The pooled vector a text would get if its attention (in every head) were one-hot on frame f, for each f, and the one it
    /// would get with uniform attention: <c>[V, F + 1, D]</c> (rows 0..F-1 the frames' vertices, row F the uniform point).
    /// Text-independent: for any text, X-Pool's pooled vector is <c>LN3(s)</c> of an affine function of a convex combination of
    /// the frames' <c>out_proj(v_proj(LN1 x_f))</c>, so these points span what any text can pull out of the video; the search's
    /// first stage indexes them (max of the text's cosine over the rows). As at inference: no dropout, whatever the module's mode.
    /// </summary>
    /// <param name="frames">Frame embeddings <c>[V, F, D]</c>.</param>
    public Tensor Vertices(Tensor frames)
    {
        using var scope = torch.NewDisposeScope();
        long f = frames.shape[1];
        using var uniform = (1.0 / f).ToScalar();
        var attention = torch.cat([torch.eye(f, dtype: frames.dtype, device: frames.device),
            torch.full(1, f, uniform, dtype: frames.dtype, device: frames.device)], 0);          // [F + 1, F]
        return PooledAt(frames, attention).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The pooled vectors <c>[V, P, D]</c> for given attention weights <c>[P, F]</c> over the frames (rows sum to 1; the same
    /// weights in every head and video) instead of the text's softmax: X-Pool's output after the attention, as in
    /// <see cref="forward"/> without dropout.
    /// </summary>
    /// <param name="frames">Frame embeddings <c>[V, F, D]</c>.</param>
    public Tensor PooledAt(Tensor frames, Tensor attention)
    {
        using var scope = torch.NewDisposeScope();
        var values = cross_attn.Values(layer_norm1.forward(frames));                            // [V, F, D], heads concatenated
        var points = attention.matmul(values);                                                  // [V, P, D]
        var r = layer_norm2.forward(cross_attn.OutProj(points));
        return layer_norm3.forward(r.Plus(linear_proj.forward(r))).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// X-Pool's similarity <c>[T, V]</c>: cosine of each raw text embedding (not layer-normed) with the video pooled for it.
    /// </summary>
    /// <param name="text"><c>[T, D]</c></param>
    /// <param name="pooled"><c>[V, T, D]</c> from <see cref="forward"/>.</param>
    public static Tensor Similarity(Tensor text, Tensor pooled)
    {
        using var scope = torch.NewDisposeScope();
        var tn = nn.functional.normalize(text, dim: -1);                     // [T, D]
        var pn = nn.functional.normalize(pooled, dim: -1);                   // [V, T, D]
        var sims = (pn * tn.unsqueeze(0)).sum(-1);                            // [V, T]
        return sims.T.contiguous().MoveToOuterDisposeScope();
    }
}
