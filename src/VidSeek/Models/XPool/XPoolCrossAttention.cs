using VidSeek.Tensors;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace VidSeek.Models.XPool;

/// <summary>What X-Pool's cross-attention returns.</summary>
/// <param name="Output"><c>[V, T, D]</c>: for every video and text, the text-weighted sum of the frames, after <c>out_proj</c>.</param>
/// <param name="Weights"><c>[V, T, H, F]</c>: the softmax over frames, per video, text and head (what the UI shows).</param>
public sealed record XPoolAttentionOutput(Tensor Output, Tensor Weights);

/// <summary>
/// X-Pool's multi-head attention with texts as queries and one video's frames as keys/values
/// (key names as X-Pool's <c>cross_attn.{q,k,v,out}_proj</c>). Heads are contiguous channel slices;
/// the softmax runs over the frames axis, separately for each video, text and head.
/// </summary>
public sealed class XPoolCrossAttention : nn.Module<Tensor, Tensor, XPoolAttentionOutput>
{
    private readonly Linear q_proj, k_proj, v_proj, out_proj;
    private readonly int numHeads;

    public XPoolCrossAttention(int embedDim, int numHeads) : base(nameof(XPoolCrossAttention))
    {
        if (embedDim % numHeads != 0) throw new ArgumentException($"embed_dim {embedDim} is not a multiple of {numHeads} heads");
        this.numHeads = numHeads;
        q_proj = nn.Linear(embedDim, embedDim);
        k_proj = nn.Linear(embedDim, embedDim);
        v_proj = nn.Linear(embedDim, embedDim);
        out_proj = nn.Linear(embedDim, embedDim);
        RegisterComponents();
    }

    /// <summary>The values <c>v_proj(x)</c> of layer-normed frames <c>[..., D]</c>, heads concatenated (channel h*hd + i).</summary>
    public Tensor Values(Tensor frames) => v_proj.forward(frames);

    /// <summary>The keys <c>k_proj(x)</c> of layer-normed frames <c>[..., D]</c>, heads concatenated (channel h*hd + i).</summary>
    public Tensor Keys(Tensor frames) => k_proj.forward(frames);

    /// <summary>The queries <c>q_proj(t)</c> of layer-normed texts <c>[..., D]</c>, heads concatenated (channel h*hd + i).</summary>
    public Tensor Queries(Tensor text) => q_proj.forward(text);

    /// <summary><c>out_proj</c> of merged head outputs <c>[..., D]</c>.</summary>
    public Tensor OutProj(Tensor merged) => out_proj.forward(merged);

    /// <param name="text">Layer-normed text embeddings <c>[T, D]</c>.</param>
    /// <param name="frames">Layer-normed frame embeddings <c>[V, F, D]</c>.</param>
    public override XPoolAttentionOutput forward(Tensor text, Tensor frames)
    {
        long t = text.shape[0], d = text.shape[1], v = frames.shape[0], f = frames.shape[1];
        long hd = d / numHeads;
        using var q = q_proj.forward(text).view(t, numHeads, hd).permute(1, 0, 2);              // [H, T, hd]
        using var k = k_proj.forward(frames).view(v, f, numHeads, hd).permute(0, 2, 3, 1);      // [V, H, hd, F]
        using var val = v_proj.forward(frames).view(v, f, numHeads, hd).permute(0, 2, 1, 3);    // [V, H, F, hd]
        using var logits = q.matmul(k).DivideInPlace(Math.Sqrt(hd));                                     // [V, H, T, F]
        var weights = logits.softmax(-1);                                                       // over frames
        using var att = weights.matmul(val);                                                    // [V, H, T, hd]
        using var merged = att.permute(0, 2, 1, 3).reshape(v, t, d);                            // [V, T, D], channel = h*hd + i
        var output = out_proj.forward(merged);
        return new XPoolAttentionOutput(output, weights.permute(0, 2, 1, 3));                   // weights [V, T, H, F]
    }
}
