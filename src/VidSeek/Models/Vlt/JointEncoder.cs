using TorchSharp;
using static TorchSharp.torch;

namespace VidSeek.Models.Vlt;

/// <summary>
/// A joint (fusion) encoder: text hidden states and video tokens in, fused text stream out; its [CLS] feeds the ITM head.
/// The V2T fusion layers live in the <see cref="BertModel"/> (they are BERT layers, in its HF key layout), so a joint
/// encoder receives the BERT model as an argument rather than owning it: each weight is registered once, by its owner.
/// </summary>
public abstract class JointEncoder : nn.Module
{
    protected JointEncoder(string name) : base(name) { }

    public abstract FusionKind Kind { get; }

    /// <summary>The fused text stream.</summary>
    /// <param name="bert">The text encoder, whose fusion layers V2T runs.</param>
    /// <param name="textHidden"><c>F_T</c>, <c>[B, N, D]</c>: the output of <see cref="BertModel.TextEncoder"/>.</param>
    /// <param name="textMask"><c>[B, N]</c>, nonzero for a real token; padded text is never a key.</param>
    /// <param name="videoTokens"><c>F_V</c>, <c>[B, T, L, D]</c>.</param>
    /// <returns><c>[B, N, D]</c>; rows at padded positions are computed but meaningless.</returns>
    public abstract Tensor Fuse(BertModel bert, Tensor textHidden, Tensor textMask, Tensor videoTokens);

    /// <summary>The fused text [CLS], <c>[B, D]</c> (arguments as <see cref="Fuse"/>): the input of the ITM head.</summary>
    public Tensor FuseCls(BertModel bert, Tensor textHidden, Tensor textMask, Tensor videoTokens)
    {
        using var scope = torch.NewDisposeScope();
        return Fuse(bert, textHidden, textMask, videoTokens).select(1, 0).contiguous().MoveToOuterDisposeScope();
    }

    /// <summary>The joint encoder of <paramref name="config"/>.<see cref="VideoLanguageConfig.Fusion"/>, freshly initialised.</summary>
    public static JointEncoder Create(VideoLanguageConfig config) => config.Fusion switch
    {
        FusionKind.V2T => new V2TJointEncoder(),
        FusionKind.SelfAttention => new SelfAttentionJointEncoder(config.Text, config.FusionLayers),
        FusionKind.NaiveT2V2T => new T2V2TJointEncoder(config.Video, config.T2VLayers, includeOwnFrame: false),
        FusionKind.T2V2T => new T2V2TJointEncoder(config.Video, config.T2VLayers, includeOwnFrame: true),
        _ => throw new ArgumentOutOfRangeException(nameof(config), config.Fusion, "unknown fusion kind"),
    };

    /// <summary>Checks <c>[B, N, D]</c>, <c>[B, N]</c> and <c>[B, T, L, W]</c>.</summary>
    protected static void CheckShapes(Tensor textHidden, Tensor textMask, Tensor videoTokens)
    {
        if (textHidden.dim() != 3) throw new ArgumentException($"expected text hidden states [B, N, D], got [{string.Join(", ", textHidden.shape)}]");
        long b = textHidden.shape[0], n = textHidden.shape[1];
        if (textMask.dim() != 2 || textMask.shape[0] != b || textMask.shape[1] != n)
            throw new ArgumentException($"expected text mask [{b}, {n}], got [{string.Join(", ", textMask.shape)}]");
        if (videoTokens.dim() != 4 || videoTokens.shape[0] != b)
            throw new ArgumentException($"expected video tokens [{b}, T, L, D], got [{string.Join(", ", videoTokens.shape)}]");
    }
}
