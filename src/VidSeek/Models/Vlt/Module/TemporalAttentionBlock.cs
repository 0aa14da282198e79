using VidSeek.Tensors;
using TorchSharp;
using TorchSharp.Modules;
using VidSeek.Models.Clip.Module;
using static TorchSharp.torch;

namespace VidSeek.Models.Vlt.Module;

/// <summary>
/// Gated temporal self-attention (keys <c>layer_norm.*</c>, <c>self_attn.*</c>, <c>gate</c>): every token position attends
/// over the T frames at that same position, <c>x = x + g * TemporalAttn(LN(x))</c>, <c>[B, T, L, D]</c> -> <c>[B, T, L, D]</c>.
/// The scalar gate g starts at 0, so a new block leaves its input untouched and the encoder starts as the image ViT.
/// </summary>
public sealed class TemporalAttentionBlock : nn.Module<Tensor, Tensor>
{
    private readonly LayerNorm layer_norm;
    private readonly ClipAttention self_attn;
    private readonly Parameter gate;

    public TemporalAttentionBlock(int hiddenSize, int numHeads, double eps) : base(nameof(TemporalAttentionBlock))
    {
        layer_norm = nn.LayerNorm(hiddenSize, eps);
        self_attn = new ClipAttention(hiddenSize, numHeads);
        gate = nn.Parameter(torch.zeros(Array.Empty<long>()));
        RegisterComponents();
    }

    /// <summary>The scalar gate g (a 0-d parameter).</summary>
    public Parameter Gate => gate;

    /// <param name="x"><c>[B, T, L, D]</c></param>
    public override Tensor forward(Tensor x)
    {
        long b = x.shape[0], t = x.shape[1], l = x.shape[2], d = x.shape[3];
        // [B, T, L, D] -> [B*L, T, D]: one sequence of T frames per token position.
        using var seq = x.permute(0, 2, 1, 3).reshape(b * l, t, d);
        using var n = layer_norm.forward(seq);
        using var a = self_attn.forward(n, false);
        using var back = a.view(b, l, t, d).permute(0, 2, 1, 3);
        using var gated = back * gate;
        return x.Plus(gated);
    }
}
