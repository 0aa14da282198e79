using TorchSharp;
using TorchSharp.Modules;
using VidSeek.Models.Vlt.Module;
using static TorchSharp.torch;

namespace VidSeek.Models.Vlt;

/// <summary>
/// T2V2T: first <c>n_t2v</c> T2V layers (<see cref="BypassCrossAttention"/>, keys <c>t2v.{i}.*</c>) update the video tokens
/// frame by frame from the text, then the V2T fusion layers of the BERT model read the updated tokens:
/// <c>F_T2V[i] = XAttn(F_V[i], F_T || F_V[i])</c>, <c>F_T2V2T = SAttn(XAttn(F_T, F_T2V))</c>. With
/// <c>includeOwnFrame: false</c> it is naive T2V2T (the T2V keys are the text only).
/// </summary>
public sealed class T2V2TJointEncoder : JointEncoder
{
    private readonly ModuleList<BypassCrossAttention> t2v = new();
    private readonly bool includeOwnFrame;

    /// <param name="video">The video encoder config: the T2V layers work in its width, heads, FFN size and activation.</param>
    /// <param name="numLayers">n_t2v (default 1 in the config).</param>
    /// <param name="includeOwnFrame">true for Bypass CA (T2V2T), false for naive T2V2T.</param>
    public T2V2TJointEncoder(VideoEncoderConfig video, int numLayers, bool includeOwnFrame) : base(nameof(T2V2TJointEncoder))
    {
        this.includeOwnFrame = includeOwnFrame;
        for (int i = 0; i < numLayers; i++)
            t2v.Add(new BypassCrossAttention(video.HiddenSize, video.NumAttentionHeads, video.IntermediateSize, video.HiddenAct,
                video.LayerNormEps, includeOwnFrame));
        RegisterComponents();
        VltInit.Normal(this, 0.02);
    }

    public override FusionKind Kind => includeOwnFrame ? FusionKind.T2V2T : FusionKind.NaiveT2V2T;

    /// <summary>The T2V layers, in order.</summary>
    public IReadOnlyList<BypassCrossAttention> Layers => t2v.ToList();

    /// <summary>The T2V step alone: <c>F_V</c> <c>[B, T, L, D]</c> -> <c>F_T2V</c> <c>[B, T, L, D]</c> (text <c>[B, N, D]</c>, mask <c>[B, N]</c>).</summary>
    public Tensor TextToVideo(Tensor textHidden, Tensor textMask, Tensor videoTokens)
    {
        CheckShapes(textHidden, textMask, videoTokens);
        using var scope = torch.NewDisposeScope();
        var v = videoTokens;
        foreach (var layer in t2v) v = layer.forward(v, textHidden, textMask);
        return v.alias().MoveToOuterDisposeScope();
    }

    public override Tensor Fuse(BertModel bert, Tensor textHidden, Tensor textMask, Tensor videoTokens)
    {
        using var scope = torch.NewDisposeScope();
        var v = TextToVideo(textHidden, textMask, videoTokens);
        return bert.Fusion(textHidden, textMask, v.flatten(1, 2)).MoveToOuterDisposeScope();
    }
}
