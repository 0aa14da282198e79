using VidSeek.Tensors;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace VidSeek.Models.Vlt.Module;

/// <summary>
/// Multi-head attention with its output projection (keys <c>q_proj</c>, <c>k_proj</c>, <c>v_proj</c>, <c>out_proj</c>, as CLIP's):
/// queries from <c>[B, Lq, D]</c>, keys and values from a context <c>[B, Lk, D]</c> -> <c>[B, Lq, D]</c>. Heads are contiguous
/// channel slices, scores scaled by 1/sqrt(hd), the additive mask acts on keys only, no dropout.
/// </summary>
public sealed class CrossAttention : nn.Module<Tensor, Tensor, Tensor?, Tensor>
{
    private readonly Linear q_proj, k_proj, v_proj, out_proj;
    private readonly int numHeads;

    public CrossAttention(int hiddenSize, int numHeads) : base(nameof(CrossAttention))
    {
        if (hiddenSize % numHeads != 0) throw new ArgumentException($"hidden size {hiddenSize} is not a multiple of {numHeads} heads");
        this.numHeads = numHeads;
        q_proj = nn.Linear(hiddenSize, hiddenSize);
        k_proj = nn.Linear(hiddenSize, hiddenSize);
        v_proj = nn.Linear(hiddenSize, hiddenSize);
        out_proj = nn.Linear(hiddenSize, hiddenSize);
        RegisterComponents();
    }

    /// <param name="x">Queries' source <c>[B, Lq, D]</c>.</param>
    /// <param name="context">Keys' and values' source <c>[B, Lk, D]</c>.</param>
    /// <param name="keyMask">Additive mask <c>[B, 1, 1, Lk]</c> (0 or a large negative), or null for none.</param>
    public override Tensor forward(Tensor x, Tensor context, Tensor? keyMask)
    {
        long b = x.shape[0], n = x.shape[1], d = x.shape[2];
        long hd = d / numHeads;
        // [B, L, D] -> [B, H, L, hd]
        Tensor Heads(Tensor t) => t.view(b, t.shape[1], numHeads, hd).transpose(1, 2);
        // bf16 (VideoLanguageModel.SetPrecision): projections and SDPA in bf16, the output back in x's float32 for the
        // residual. In fp32 every cast is a no-op.
        var low = q_proj.weight!.dtype;
        using var xin = x.to(low);
        using var cin = context.to(low);
        using var mask = keyMask?.to(low);
        using var q = Heads(q_proj.forward(xin));
        using var k = Heads(k_proj.forward(cin));
        using var v = Heads(v_proj.forward(cin));
        using var att = nn.functional.scaled_dot_product_attention(q, k, v, mask);
        using var merged = att.transpose(1, 2).reshape(b, n, d);
        using var output = out_proj.forward(merged);
        return output.to(x.dtype);
    }

    /// <summary>
    /// The attention probabilities <see cref="forward"/> uses, <c>[B, H, Lq, Lk]</c> (softmax over keys of the scaled scores plus
    /// the mask), computed explicitly for analysis; <see cref="forward"/> itself goes through SDPA and never materialises them.
    /// </summary>
    public Tensor AttentionWeights(Tensor x, Tensor context, Tensor? keyMask)
    {
        long b = x.shape[0], d = x.shape[2], hd = d / numHeads;
        using var scope = torch.NewDisposeScope();
        Tensor Heads(Tensor t) => t.view(b, t.shape[1], numHeads, hd).transpose(1, 2);
        var scores = Heads(q_proj.forward(x)).matmul(Heads(k_proj.forward(context)).transpose(-2, -1)).DividedBy(Math.Sqrt(hd));
        if (keyMask is not null) scores = scores.Plus(keyMask);
        return scores.softmax(-1).MoveToOuterDisposeScope();
    }
}
