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
        // bf16 (VideoLanguageModel.SetPrecision): dense and the activation in bf16; the result stays bf16 for BertOutput's dense.
        using var xin = x.to(dense.weight!.dtype);
        using var h = dense.forward(xin);
        return Activations.Apply(hiddenAct, h); // BERT's "gelu" is the exact erf form
    }
}
