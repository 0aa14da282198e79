using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace VidSeek.Models.Vlt.Module;

/// <summary>HF <c>BertPooler</c>: <c>tanh(dense(hidden[:, 0]))</c>, <c>[B, N, D]</c> -> <c>[B, D]</c>.</summary>
public sealed class BertPooler : nn.Module<Tensor, Tensor>
{
    private readonly Linear dense;

    public BertPooler(int hiddenSize) : base(nameof(BertPooler))
    {
        dense = nn.Linear(hiddenSize, hiddenSize);
        RegisterComponents();
    }

    public override Tensor forward(Tensor hidden)
    {
        using var cls = hidden.select(1, 0);
        using var low = cls.to(dense.weight!.dtype);                // bf16 under VideoLanguageModel.SetPrecision
        using var h = dense.forward(low);
        using var t = h.tanh();
        return t.to(hidden.dtype);
    }
}
