using VidSeek.Tensors;
using TorchSharp;
using static TorchSharp.torch;

namespace VidSeek.Training;

/// <summary>Negative pairs for ITM: <see cref="Texts"/>[i] with <see cref="Videos"/>[i], all labelled "no match".</summary>
public sealed record ItmNegativePairs(long[] Texts, long[] Videos);

/// <summary>
/// ITM hard-negative mining (SPEC 3.3, as ALBEF): for each video one negative text drawn with probability
/// softmax(sim) over the batch's texts, and for each text one negative video likewise, positives having probability 0.
/// </summary>
/// <remarks>
/// A pair counts as positive when the two texts are the same string or belong to the same video, not only on the
/// diagonal: a batch may hold two identical captions (or two captions of one video), and teaching ITM that a correct
/// caption is "no match" would train it against itself. A row whose every entry is positive (e.g. a batch of one
/// caption repeated) has no negative at all and is skipped, so the result can hold fewer than 2B pairs.
/// </remarks>
public static class ItmHardNegatives
{
    /// <summary>
    /// Positives of a batch, <c>[B, B]</c> bool, row = text, column = video (text i is the caption of video i):
    /// <c>pos[i, j] = captions[i] == captions[j] || videoIds[i] == videoIds[j]</c>.
    /// </summary>
    public static Tensor PositiveMask(IReadOnlyList<string> captions, IReadOnlyList<int> videoIds)
    {
        int b = captions.Count;
        if (videoIds.Count != b) throw new ArgumentException($"{b} captions but {videoIds.Count} video ids");
        var mask = new bool[b * b];
        for (int i = 0; i < b; i++)
            for (int j = 0; j < b; j++)
                mask[i * b + j] = videoIds[i] == videoIds[j] || string.Equals(captions[i], captions[j], StringComparison.Ordinal);
        return torch.tensor(mask, new long[] { b, b });
    }

    /// <summary>Samples the negatives; no positive is ever returned (checked, not only intended).</summary>
    /// <param name="logits">Text-video scores <c>[B, B]</c> (row = text), e.g. ITC sims / temperature; not differentiated.</param>
    /// <param name="positives"><c>[B, B]</c> bool of <see cref="PositiveMask"/>.</param>
    /// <param name="generator">The random source, seeded by the caller so that a step can be replayed.</param>
    /// <returns>First the negative text of each video (in video order), then the negative video of each text.</returns>
    public static ItmNegativePairs Sample(Tensor logits, Tensor positives, Generator generator)
    {
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        var l = logits.detach().to(ScalarType.Float32);
        var pos = positives.to(ScalarType.Bool).contiguous(); // read flat below
        var textOfVideo = Draw(l.T, pos.T, generator);          // row v: a text for video v
        var videoOfText = Draw(l, pos, generator);               // row t: a video for text t
        var texts = new List<long>(); var videos = new List<long>();
        var p = pos.data<bool>().ToArray(); long b = l.shape[0];
        for (int v = 0; v < textOfVideo.Length; v++)
            if (textOfVideo[v] >= 0) { texts.Add(textOfVideo[v]); videos.Add(v); }
        for (int t = 0; t < videoOfText.Length; t++)
            if (videoOfText[t] >= 0) { texts.Add(t); videos.Add(videoOfText[t]); }
        for (int i = 0; i < texts.Count; i++)
            if (p[texts[i] * b + videos[i]]) throw new InvalidOperationException($"ITM negative sampling drew the positive pair (text {texts[i]}, video {videos[i]})");
        return new ItmNegativePairs(texts.ToArray(), videos.ToArray());
    }

    /// <summary>One draw per row of <c>softmax(scores)</c> with the masked entries at 0; -1 for a row with nothing left.</summary>
    private static long[] Draw(Tensor scores, Tensor masked, Generator generator)
    {
        // Masking the logits with -inf before the softmax is softmax-then-zero renormalised (multinomial renormalises
        // anyway), and cannot underflow: the best negative of a row always gets weight exp(0) = 1 before normalising.
        var hasNegative = (~masked).any(1).data<bool>().ToArray();
        var rows = Enumerable.Range(0, hasNegative.Length).Where(r => hasNegative[r]).Select(r => (long)r).ToArray();
        var result = Enumerable.Repeat(-1L, hasNegative.Length).ToArray();
        if (rows.Length == 0) return result;
        var index = torch.tensor(rows);
        var weights = scores.index_select(0, index).masked_fill(masked.index_select(0, index), Scalars.NegativeInfinity).softmax(1);
        var drawn = torch.multinomial(weights, 1, false, generator).view(-1).data<long>().ToArray();
        for (int i = 0; i < rows.Length; i++) result[rows[i]] = drawn[i];
        return result;
    }
}
