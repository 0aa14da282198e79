using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace VidSeek.Models.Vlt.Module;

/// <summary>First half of the feed-forward block (HF <c>BertIntermediate</c>): <c>act(dense(x))</c>, <c>[B, N, D]</c> -> <c>[B, N, I]</c>.</summary>
public sealed class BertIntermediate : nn.Module<Tensor, Tensor>
{
    private readonly Linear dense;
    private readonly string hiddenAct;

    public BertIntermediate(int hiddenSize, int intermediateSize, string hiddenAct) : base(nameof(BertIntermediate))
    {
        this.hiddenAct = hiddenAct;
        dense = nn.Linear(hiddenSize, intermediateSize);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var h = dense.forward(x);
        return Activations.Apply(hiddenAct, h); // BERT's "gelu" is the exact erf form
    }
}
