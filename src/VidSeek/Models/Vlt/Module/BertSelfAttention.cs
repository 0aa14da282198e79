using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace VidSeek.Models.Vlt.Module;

/// <summary>
/// Multi-head attention of a BERT layer (HF <c>BertSelfAttention</c>): queries from <c>[B, N, D]</c>, keys and values
/// from a context <c>[B, M, W]</c> (the same tokens for self-attention, video tokens for cross-attention) -> <c>[B, N, D]</c>.
/// Heads are contiguous channel slices, scores are scaled by 1/sqrt(hd), the additive mask acts on keys only, no dropout.
/// </summary>
public sealed class BertSelfAttention : nn.Module<Tensor, Tensor, Tensor?, Tensor>
{
    private readonly Linear query, key, value;
    private readonly int numHeads;

    /// <param name="contextWidth">Width W of the key/value tokens: hidden_size, or encoder_width for cross-attention.</param>
    public BertSelfAttention(int hiddenSize, int numHeads, int contextWidth) : base(nameof(BertSelfAttention))
    {
        this.numHeads = numHeads;
        query = nn.Linear(hiddenSize, hiddenSize);
        key = nn.Linear(contextWidth, hiddenSize);
        value = nn.Linear(contextWidth, hiddenSize);
        RegisterComponents();
    }

    /// <param name="x">Queries' source <c>[B, N, D]</c>.</param>
    /// <param name="context">Keys' and values' source <c>[B, M, W]</c>.</param>
    /// <param name="keyMask">Additive mask <c>[B, 1, 1, M]</c> (0 or a large negative), or null for none.</param>
    public override Tensor forward(Tensor x, Tensor context, Tensor? keyMask)
    {
        long b = x.shape[0], n = x.shape[1], d = query.weight!.shape[0];
        long hd = d / numHeads;
        // [B, L, D] -> [B, H, L, hd]
        Tensor Heads(Tensor t) => t.view(b, t.shape[1], numHeads, hd).transpose(1, 2);
        // bf16 (VideoLanguageModel.SetPrecision): projections and SDPA in bf16 (its CPU kernel runs the softmax in float),
        // the heads back in x's float32 for BertSelfOutput. In fp32 every cast is a no-op.
        var low = query.weight.dtype;
        using var xin = x.to(low);
        using var cin = context.to(low);
        using var mask = keyMask?.to(low);
        using var q = Heads(query.forward(xin));
        using var k = Heads(key.forward(cin));
        using var v = Heads(value.forward(cin));
        // SDPA applies the 1/sqrt(hd) scale and adds the mask before the softmax over keys.
        using var att = nn.functional.scaled_dot_product_attention(q, k, v, mask);
        using var merged = att.transpose(1, 2).reshape(b, n, d);
        return merged.to(x.dtype);
    }
}
