using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace VidSeek.Models.Vlt.Module;

/// <summary>
/// The stack of <see cref="BertLayer"/> (HF <c>BertEncoder</c>, keys <c>layer.{i}.*</c>); layers <c>i &gt;= fusion_layer</c>
/// carry cross-attention. <see cref="Run"/> runs a contiguous range of layers, so the text-only and the fusion
/// part can run separately.
/// </summary>
public sealed class BertEncoder : nn.Module
{
    private readonly ModuleList<BertLayer> layer = new();

    public BertEncoder(BertConfig c) : base(nameof(BertEncoder))
    {
        for (int i = 0; i < c.NumHiddenLayers; i++)
            layer.Add(new BertLayer(c, hasCrossAttention: i >= c.TextLayers));
        RegisterComponents();
    }

    public int Count => layer.Count;

    /// <summary>Layers <paramref name="from"/> .. <paramref name="to"/>-1 on <paramref name="x"/> <c>[B, N, D]</c> -> <c>[B, N, D]</c>.</summary>
    /// <param name="hiddenStates">When given, receives each layer's output, in order (the caller disposes them).</param>
    public Tensor Run(Tensor x, Tensor? textMask, int from, int to, Tensor? video, Tensor? videoMask, IList<Tensor>? hiddenStates)
    {
        var h = x.alias();
        for (int i = from; i < to; i++)
        {
            var next = layer[i].forward(h, textMask, video, videoMask);
            h.Dispose();
            hiddenStates?.Add(next.alias());
            h = next;
        }
        return h;
    }
}
