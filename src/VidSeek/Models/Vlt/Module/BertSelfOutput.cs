using VidSeek.Tensors;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace VidSeek.Models.Vlt.Module;

/// <summary>
/// Output projection and post-LN residual of an attention block (HF <c>BertSelfOutput</c>):
/// <c>LayerNorm(dense(attended) + input)</c>, <c>[B, N, D]</c>.
/// </summary>
public sealed class BertSelfOutput : nn.Module<Tensor, Tensor, Tensor>
{
    private readonly Linear dense;
    private readonly LayerNorm LayerNorm;

    public BertSelfOutput(int hiddenSize, double eps) : base(nameof(BertSelfOutput))
    {
        dense = nn.Linear(hiddenSize, hiddenSize);
        LayerNorm = nn.LayerNorm(hiddenSize, eps);
        RegisterComponents();
    }

    /// <param name="attended">The attention's heads, concatenated, <c>[B, N, D]</c>.</param>
    /// <param name="input">The block's input, <c>[B, N, D]</c>, for the residual.</param>
    public override Tensor forward(Tensor attended, Tensor input)
    {
        // bf16 (VideoLanguageModel.SetPrecision): dense in bf16, then the residual and LayerNorm in the input's float32.
        using var low = attended.to(dense.weight!.dtype);
        using var hLow = dense.forward(low);
        using var h = hLow.to(input.dtype);
        using var sum = h.Plus(input);
        return LayerNorm.forward(sum);
    }
}
