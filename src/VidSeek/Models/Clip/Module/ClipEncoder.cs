using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace VidSeek.Models.Clip.Module;

/// <summary>A stack of <see cref="ClipEncoderLayer"/> (HF <c>CLIPEncoder</c>, keys <c>layers.{i}.*</c>), <c>[B, L, D]</c> -> <c>[B, L, D]</c>.</summary>
public sealed class ClipEncoder : nn.Module<Tensor, bool, Tensor>
{
    private readonly ModuleList<ClipEncoderLayer> layers = new();

    public ClipEncoder(int numLayers, int hiddenSize, int intermediateSize, int numHeads, string hiddenAct, double eps) : base(nameof(ClipEncoder))
    {
        for (int i = 0; i < numLayers; i++)
            layers.Add(new ClipEncoderLayer(hiddenSize, intermediateSize, numHeads, hiddenAct, eps));
        RegisterComponents();
    }

    public override Tensor forward(Tensor x, bool causal)
    {
        var h = x.alias();
        foreach (var layer in layers)
        {
            var next = layer.forward(h, causal);
            h.Dispose();
            h = next;
        }
        return h;
    }
}
