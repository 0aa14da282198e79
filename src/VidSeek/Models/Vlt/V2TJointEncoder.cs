using TorchSharp;
using static TorchSharp.torch;

namespace VidSeek.Models.Vlt;

/// <summary>
/// V2T, the VindLU baseline: the BERT fusion layers (self-attention, cross-attention with the text as queries and
/// <c>flatten(F_V)</c> <c>[B, T*L, D]</c> as keys/values, FFN; post-LN) on the text stream. No parameters of its own.
/// The keys carry no frame or position information beyond what F_V holds, so the order of the video tokens is irrelevant.
/// </summary>
public sealed class V2TJointEncoder : JointEncoder
{
    public V2TJointEncoder() : base(nameof(V2TJointEncoder)) => RegisterComponents();

    public override FusionKind Kind => FusionKind.V2T;

    public override Tensor Fuse(BertModel bert, Tensor textHidden, Tensor textMask, Tensor videoTokens)
    {
        CheckShapes(textHidden, textMask, videoTokens);
        using var flat = videoTokens.flatten(1, 2);   // [B, T*L, D]
        return bert.Fusion(textHidden, textMask, flat);
    }
}
