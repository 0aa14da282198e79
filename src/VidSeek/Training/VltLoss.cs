using VidSeek.Tensors;
using TorchSharp;
using VidSeek.Models.Vlt;
using static TorchSharp.torch;

namespace VidSeek.Training;

/// <summary>The VLT training loss and its parts (0-d tensors): <c>Total = Itc + Itm</c> (weights 1 : 1, SPEC 3.3).</summary>
public sealed record VltLossParts(Tensor Total, Tensor Itc, Tensor Itm);

/// <summary>The ITM pairs of a batch: <see cref="Texts"/>[i] with <see cref="Videos"/>[i], label 1 (match) or 0.</summary>
public sealed record ItmPairs(long[] Texts, long[] Videos, long[] Labels);

/// <summary>ITC (symmetric InfoNCE over <c>sims / temperature</c>) + ITM cross-entropy over B positives and up to 2B hard negatives.</summary>
public static class VltLoss
{
    /// <param name="textHidden"><c>F_T</c> <c>[B, N, D]</c> of <see cref="VideoLanguageModel.EncodeText"/> (row 0 = [CLS]).</param>
    /// <param name="textMask"><c>[B, N]</c>.</param>
    /// <param name="video">The batch's <see cref="VideoEncoderOutput"/>: tokens <c>[B, T, L, D]</c>, frame vectors <c>[B, T, D]</c>.</param>
    /// <param name="captions">The B caption strings, text i describing video i.</param>
    /// <param name="videoIds">Which video each row is (rows of one video are positives of each other).</param>
    /// <param name="generator">Seeded random source of the hard negatives.</param>
    public static VltLossParts Compute(VideoLanguageModel model, Tensor textHidden, Tensor textMask, VideoEncoderOutput video,
        IReadOnlyList<string> captions, IReadOnlyList<int> videoIds, Generator generator)
    {
        using var scope = torch.NewDisposeScope();
        var sims = model.ItcSimilarity(textHidden.select(1, 0), video.FrameVectors);   // [B, B]
        var temp = model.Temperature();
        var itc = InfoNceLoss.Compute(sims, -temp.log());                              // exp(-log t) = 1 / t

        var pairs = Pairs(sims / temp, ItmHardNegatives.PositiveMask(captions, videoIds), generator);
        var ti = torch.tensor(pairs.Texts); var vi = torch.tensor(pairs.Videos);
        var logits = model.ItmLogits(textHidden.index_select(0, ti), textMask.index_select(0, ti), video.Tokens.index_select(0, vi)); // [P, 2]
        var itm = ItmLoss(logits, pairs.Labels);
        return new VltLossParts(itc.Plus(itm).MoveToOuterDisposeScope(), itc.MoveToOuterDisposeScope(), itm.MoveToOuterDisposeScope());
    }

    /// <summary>The B positive pairs (i, i) then the hard negatives of <see cref="ItmHardNegatives.Sample"/>, with their labels.</summary>
    /// <param name="logits"><c>[B, B]</c> text-video scores the negatives are drawn from.</param>
    public static ItmPairs Pairs(Tensor logits, Tensor positives, Generator generator)
    {
        long b = logits.shape[0];
        var neg = ItmHardNegatives.Sample(logits, positives, generator);
        var diag = Enumerable.Range(0, (int)b).Select(i => (long)i).ToArray();
        return new ItmPairs([.. diag, .. neg.Texts], [.. diag, .. neg.Videos],
            [.. Enumerable.Repeat(1L, (int)b), .. Enumerable.Repeat(0L, neg.Texts.Length)]);
    }

    /// <summary>Cross-entropy of ITM logits <c>[P, 2]</c> (column 1 = match) against labels <c>[P]</c>, mean over the pairs.</summary>
    public static Tensor ItmLoss(Tensor logits, long[] labels)
    {
        if (logits.dim() != 2 || logits.shape[1] != 2 || logits.shape[0] != labels.Length)
            throw new ArgumentException($"expected ITM logits [{labels.Length}, 2], got [{string.Join(", ", logits.shape)}]");
        using var target = torch.tensor(labels);
        return nn.functional.cross_entropy(logits, target);
    }
}
