using VidSeek.Retrieval;

namespace VidSeek.Tests;

public class RetrievalMetricsTests
{
    /// <summary>3 captions, 3 videos; video 2 has no caption: it still competes in t2v but is no v2t query.</summary>
    [Fact]
    public void SeveralCaptionsPerVideoAndCaptionlessVideos()
    {
        float[] sims =
        [
            0.9f, 0.1f, 0.95f, // caption 0 (video 0): video 2 beats it -> rank 2
            0.2f, 0.8f, 0.1f,  // caption 1 (video 1): rank 1
            0.3f, 0.7f, 0.1f,  // caption 2 (video 0): video 1 beats it -> rank 2
        ];
        var r = RetrievalMetrics.Compute(sims, 3, 3, [0, 1, 0]);
        Assert.Equal([2, 1, 2], r.TextToVideoRanks);
        // v2t: video 0's column (0.9, 0.2, 0.3): caption 0 ranks 1; video 1's column (0.1, 0.8, 0.7): caption 1 ranks 1.
        Assert.Equal([1, 1], r.VideoToTextRanks);
        Assert.Equal(100.0 / 3, r.TextToVideo.R1, 9);
        Assert.Equal(2, r.TextToVideo.MedianRank);
        Assert.Equal(2, r.VideoToText.Queries);
    }

    [Fact]
    public void StableTiesGoToTheLowerIndexOptimisticCountsOnlyGreater()
    {
        float[] row = [0.5f, 0.5f, 0.5f, 0.9f];
        Assert.Equal(4, RetrievalMetrics.Rank(row, 2, TiePolicy.Stable));
        Assert.Equal(2, RetrievalMetrics.Rank(row, 2, TiePolicy.Optimistic));
        Assert.Equal(2, RetrievalMetrics.Rank(row, 0, TiePolicy.Stable));
    }

    [Fact]
    public void DualSoftmaxDiscountsACandidateEveryQueryLikes()
    {
        // Video 0 is similar to both texts; DSL (softmax over texts) keeps it for text 0 but demotes it for text 1.
        float[] sims = [0.50f, 0.10f, 0.49f, 0.45f];
        Assert.Equal(2, RetrievalMetrics.Rank(sims.AsSpan(2, 2), 1)); // without DSL, text 1 prefers video 0
        var dsl = Evaluator.DualSoftmax(sims, 2, 2, queryAxis: 0);
        Assert.Equal(1, RetrievalMetrics.Rank(dsl.AsSpan(2, 2), 1));
        double p = Math.Exp(50) / (Math.Exp(50) + Math.Exp(49));
        Assert.Equal(0.50 * p, dsl[0], 5);
    }
}
