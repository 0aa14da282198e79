namespace VidSeek.Retrieval;

/// <summary>How tied scores are ordered when a rank is computed.</summary>
public enum TiePolicy
{
    /// <summary>
    /// Ties go to the lower candidate index, as a stable descending sort does: rank = 1 + #(strictly greater)
    /// + #(equal with a lower index). Deterministic; the default. (The original X-Pool code uses an unstable
    /// <c>torch.argsort</c>, whose order of tied entries depends on the build; R@K and MdR agree, MnR can
    /// differ in the second decimal.)
    /// </summary>
    Stable,
    /// <summary>Counts only strictly greater scores: the best rank a tie could give. For reference only.</summary>
    Optimistic,
}

/// <summary>R@1/5/10/50/100 (percent), median rank and mean rank (1-based) of one direction.</summary>
public sealed record RetrievalScores(double R1, double R5, double R10, double R50, double R100, double MedianRank, double MeanRank, int Queries)
{
    public override string ToString() =>
        $"R@1 {R1:F1}  R@5 {R5:F1}  R@10 {R10:F1}  R@50 {R50:F1}  R@100 {R100:F1}  MdR {MedianRank:0.#}  MnR {MeanRank:F2}  (n={Queries})";
}

/// <summary>Both directions, with the per-query ranks (1-based) they come from (video-to-text: the videos that have a caption, in order).</summary>
public sealed record RetrievalReport(RetrievalScores TextToVideo, RetrievalScores VideoToText, int[] TextToVideoRanks, int[] VideoToTextRanks);

/// <summary>
/// The field's retrieval metrics (SPEC 4). Text-to-video: every caption is a query and its video the one
/// correct answer. Video-to-text: every video is a query and its rank is that of its best-ranked caption.
/// </summary>
public static class RetrievalMetrics
{
    /// <param name="sims">Similarities <c>[T, V]</c> row-major: <c>sims[t * V + v]</c> is text t against video v.</param>
    /// <param name="textCount">T, the number of captions.</param>
    /// <param name="videoCount">V, the number of videos.</param>
    /// <param name="videoOfText">For each caption, the index of its video (length T).</param>
    public static RetrievalReport Compute(ReadOnlySpan<float> sims, int textCount, int videoCount, IReadOnlyList<int> videoOfText, TiePolicy ties = TiePolicy.Stable)
    {
        if (sims.Length != (long)textCount * videoCount) throw new ArgumentException($"sims has {sims.Length} values, expected {textCount} x {videoCount}");
        if (videoOfText.Count != textCount) throw new ArgumentException($"videoOfText has {videoOfText.Count} entries, expected {textCount}");
        var hasCaption = new bool[videoCount];
        foreach (var v in videoOfText)
        {
            if ((uint)v >= (uint)videoCount) throw new ArgumentException($"caption's video index {v} is outside [0, {videoCount})");
            hasCaption[v] = true;
        }

        var t2v = new int[textCount];
        for (int t = 0; t < textCount; t++)
        {
            var row = sims.Slice(t * videoCount, videoCount);
            t2v[t] = Rank(row, videoOfText[t], ties);
        }

        // Video-to-text: column v ranked over all texts; the best-ranked caption of v counts. A video without
        // a caption (e.g. none of the caption type being scored) is a candidate for t2v but cannot be a query.
        var v2t = new List<int>(videoCount);
        var column = new float[textCount];
        for (int v = 0; v < videoCount; v++)
        {
            if (!hasCaption[v]) continue;
            for (int t = 0; t < textCount; t++) column[t] = sims[t * videoCount + v];
            int best = int.MaxValue;
            for (int t = 0; t < textCount; t++)
                if (videoOfText[t] == v) best = Math.Min(best, Rank(column, t, ties));
            v2t.Add(best);
        }
        return new RetrievalReport(Scores(t2v), Scores(v2t), t2v, v2t.ToArray());
    }

    /// <summary>1-based rank of candidate <paramref name="target"/> in <paramref name="scores"/> (higher is better).</summary>
    public static int Rank(ReadOnlySpan<float> scores, int target, TiePolicy ties = TiePolicy.Stable)
    {
        float s = scores[target];
        int rank = 1;
        for (int i = 0; i < scores.Length; i++)
        {
            if (scores[i] > s) rank++;
            else if (ties == TiePolicy.Stable && i < target && scores[i] == s) rank++;
        }
        return rank;
    }

    /// <summary>R@K, MdR and MnR of 1-based ranks.</summary>
    public static RetrievalScores Scores(IReadOnlyList<int> ranks)
    {
        if (ranks.Count == 0) throw new ArgumentException("no queries");
        double Recall(int k) => 100.0 * ranks.Count(r => r <= k) / ranks.Count;
        var sorted = ranks.OrderBy(r => r).ToArray();
        int n = sorted.Length;
        double median = n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0;
        return new RetrievalScores(Recall(1), Recall(5), Recall(10), Recall(50), Recall(100), median, ranks.Average(), n);
    }
}
