using TorchSharp;
using TorchSharp.Modules;
using VidSeek.Models.Clip.Module;
using static TorchSharp.torch;

namespace VidSeek.Models.Vlt.Module;

/// <summary>
/// The video encoder's blocks (keys <c>layers.{i}.*</c>, as CLIP's <c>encoder.layers</c>, and <c>temporal.{i}.*</c>):
/// layer i is a pre-LN spatial block over each frame's L tokens, then a gated temporal block over the T frames.
/// <c>[B, T, L, D]</c> -> <c>[B, T, L, D]</c>.
/// </summary>
public sealed class SpatioTemporalEncoder : nn.Module<Tensor, Tensor>
{
    private readonly ModuleList<ClipEncoderLayer> layers = new();
    private readonly ModuleList<TemporalAttentionBlock> temporal = new();

    public SpatioTemporalEncoder(VideoEncoderConfig c) : base(nameof(SpatioTemporalEncoder))
    {
        for (int i = 0; i < c.NumHiddenLayers; i++)
        {
            layers.Add(new ClipEncoderLayer(c.HiddenSize, c.IntermediateSize, c.NumAttentionHeads, c.HiddenAct, c.LayerNormEps));
            temporal.Add(new TemporalAttentionBlock(c.HiddenSize, c.NumAttentionHeads, c.LayerNormEps));
        }
        RegisterComponents();
    }

    /// <summary>The temporal blocks, in layer order (their gates, for tests and ablations).</summary>
    public IReadOnlyList<TemporalAttentionBlock> Temporal => temporal.ToList();

    /// <param name="x"><c>[B, T, L, D]</c></param>
    public override Tensor forward(Tensor x)
    {
        long b = x.shape[0], t = x.shape[1], l = x.shape[2], d = x.shape[3];
        var h = x.alias();
        for (int i = 0; i < layers.Count; i++)
        {
            // Frames as a batch for the spatial block: [B*T, L, D].
            using var frames = h.reshape(b * t, l, d);
            using var s = layers[i].forward(frames, false);
            using var st = s.view(b, t, l, d);
            h.Dispose();
            h = temporal[i].forward(st);
        }
        return h;
    }
}
