using TorchSharp;
using TorchSharp.Modules;
using VidSeek.Models.Vlt.Module;
using static TorchSharp.torch;

namespace VidSeek.Models.Vlt;

/// <summary>
/// Self-attention fusion: <c>n_fusion</c> BERT layers without cross-attention (keys <c>layer.{i}.*</c>, HF layout) over the
/// concatenation <c>[F_T ; flatten(F_V)]</c> <c>[B, N + T*L, D]</c>: every text and video token attends to every other
/// (quadratic in N + T*L). The text padding mask applies to the text keys; video keys are never masked. The output is the
/// text part, <c>[B, N, D]</c>.
/// </summary>
public sealed class SelfAttentionJointEncoder : JointEncoder
{
    private readonly ModuleList<BertLayer> layer = new();

    /// <param name="text">The BERT config: width, heads, FFN size and activation of the layers.</param>
    /// <param name="numLayers">n_fusion.</param>
    public SelfAttentionJointEncoder(BertConfig text, int numLayers) : base(nameof(SelfAttentionJointEncoder))
    {
        for (int i = 0; i < numLayers; i++) layer.Add(new BertLayer(text, hasCrossAttention: false));
        RegisterComponents();
        VltInit.Normal(this, text.InitializerRange);
    }

    public override FusionKind Kind => FusionKind.SelfAttention;

    public override Tensor Fuse(BertModel bert, Tensor textHidden, Tensor textMask, Tensor videoTokens)
    {
        CheckShapes(textHidden, textMask, videoTokens);
        if (videoTokens.shape[3] != textHidden.shape[2])
            throw new ArgumentException($"self-attention fusion needs video tokens as wide as the text ({textHidden.shape[2]}), got {videoTokens.shape[3]}");
        long b = textHidden.shape[0], n = textHidden.shape[1];
        using var scope = torch.NewDisposeScope();
        var video = videoTokens.flatten(1, 2);                                                     // [B, T*L, D]
        var h = torch.cat(new[] { textHidden, video }, 1);                                         // [B, N+T*L, D]
        var mask = torch.cat(new[] { textMask, torch.ones(b, video.shape[1], dtype: textMask.dtype, device: textMask.device) }, 1);
        var keyMask = BertModel.KeyMask(mask, h.dtype);
        foreach (var l in layer) h = l.forward(h, keyMask, null, null);
        return h.narrow(1, 0, n).contiguous().MoveToOuterDisposeScope();
    }
}
