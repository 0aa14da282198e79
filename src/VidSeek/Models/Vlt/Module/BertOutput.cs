using VidSeek.Tensors;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace VidSeek.Models.Vlt.Module;

/// <summary>
/// Second half of the feed-forward block with its post-LN residual (HF <c>BertOutput</c>):
/// <c>LayerNorm(dense(intermediate) + input)</c>, <c>[B, N, I]</c> and <c>[B, N, D]</c> -> <c>[B, N, D]</c>.
/// </summary>
public sealed class BertOutput : nn.Module<Tensor, Tensor, Tensor>
{
    private readonly Linear dense;
    private readonly LayerNorm LayerNorm;

    public BertOutput(int intermediateSize, int hiddenSize, double eps) : base(nameof(BertOutput))
    {
        dense = nn.Linear(intermediateSize, hiddenSize);
        LayerNorm = nn.LayerNorm(hiddenSize, eps);
        RegisterComponents();
    }

    public override Tensor forward(Tensor intermediate, Tensor input)
    {
        // bf16 (VideoLanguageModel.SetPrecision): dense in bf16, then the residual and LayerNorm in the input's float32.
        using var low = intermediate.to(dense.weight!.dtype);
        using var hLow = dense.forward(low);
        using var h = hLow.to(input.dtype);
        using var sum = h.Plus(input);
        return LayerNorm.forward(sum);
    }
}
