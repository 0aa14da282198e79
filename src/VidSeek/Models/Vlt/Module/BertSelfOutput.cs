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
        using var h = dense.forward(attended);
        using var sum = h + input;
        return LayerNorm.forward(sum);
    }
}
