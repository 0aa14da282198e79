using VidSeek.Tensors;
using TorchSharp;
using static TorchSharp.torch;

namespace VidSeek.Training;

/// <summary>
/// Symmetric InfoNCE (CLIP's contrastive loss): <c>logits = sims * exp(logit_scale)</c>, the mean of the
/// text-to-video and video-to-text cross-entropies with the diagonal as the target.
/// </summary>
public static class InfoNceLoss
{
    /// <param name="sims">Cosine similarities <c>[B, B]</c>, text i matching video i.</param>
    /// <param name="logitScale">The log temperature (a scalar), already clamped.</param>
    public static Tensor Compute(Tensor sims, Tensor logitScale)
    {
        using var scope = torch.NewDisposeScope();
        var logits = sims * logitScale.exp();
        using var count = sims.shape[0].ToScalar();
        var target = torch.arange(count, dtype: ScalarType.Int64);
        var t2v = nn.functional.cross_entropy(logits, target);
        var v2t = nn.functional.cross_entropy(logits.T, target);
        return t2v.Plus(v2t).DividedBy(2).MoveToOuterDisposeScope();
    }
}
