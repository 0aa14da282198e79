using VidSeek.Tensors;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace VidSeek.Models.Clip.Module;

/// <summary>
/// One pre-LN transformer block (HF <c>CLIPEncoderLayer</c>), <c>[B, L, D]</c> -> <c>[B, L, D]</c>:
/// <c>x = x + out_proj(MHA(layer_norm1(x)))</c>, then <c>x = x + fc2(act(fc1(layer_norm2(x))))</c>.
/// </summary>
public sealed class ClipEncoderLayer : nn.Module<Tensor, bool, Tensor>
{
    private readonly ClipAttention self_attn;
    private readonly LayerNorm layer_norm1;
    private readonly ClipMlp mlp;
    private readonly LayerNorm layer_norm2;

    public ClipEncoderLayer(int hiddenSize, int intermediateSize, int numHeads, string hiddenAct, double eps) : base(nameof(ClipEncoderLayer))
    {
        self_attn = new ClipAttention(hiddenSize, numHeads);
        layer_norm1 = nn.LayerNorm(hiddenSize, eps);
        mlp = new ClipMlp(hiddenSize, intermediateSize, hiddenAct);
        layer_norm2 = nn.LayerNorm(hiddenSize, eps);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x, bool causal)
    {
        using var n1 = layer_norm1.forward(x);
        using var a = self_attn.forward(n1, causal);
        using var h = x.Plus(a);
        using var n2 = layer_norm2.forward(h);
        using var m = mlp.forward(n2);
        return h.Plus(m);
    }
}
