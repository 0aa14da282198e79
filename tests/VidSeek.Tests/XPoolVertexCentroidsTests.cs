using TorchSharp;
using VidSeek.Models.XPool;
using static TorchSharp.torch;

namespace VidSeek.Tests;

/// <summary>
/// The text-independent points of X-Pool's pooling beyond the vertices (<see cref="TextConditionedPooling.EdgeMidpoints"/>), their
/// k-means summary (<see cref="TextConditionedPooling.VertexCentroids"/>, a candidate first stage for search) and the attention
/// alone (<see cref="TextConditionedPooling.Attention"/>). Checked against the module's own forward pass in float64 with random
/// weights far from the identity init, so a transposed weight, a skipped LayerNorm or a wrong axis fails.
/// </summary>
public class XPoolVertexCentroidsTests
{
    private const int Dim = 16, Frames = 5, Videos = 3, Texts = 4;
    private const int Points = Frames + Frames * (Frames - 1) / 2 + 1;                            // vertices, edge midpoints, centre

    private static TextConditionedPooling Pooling(int heads, int seed) =>
        XPoolFactoredTests.RandomPooling(Dim, heads, seed).to(ScalarType.Float64);

    private static Tensor RandomFrames(int seed)
    {
        torch.manual_seed(seed);
        return XPoolFactoredTests.RandomFrames(Videos, Frames, Dim).to(ScalarType.Float64);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void EdgeMidpointsAreTwoFrameVideosUnderUniformAttention(int heads)
    {
        // Everything before the attention is per frame, so attention 1/2 on frames i and j of a video pools the same vector as
        // uniform attention over the video made of those two frames alone; q_proj = 0 makes the module's attention uniform.
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        var pool = Pooling(heads, seed: 41 + heads);
        foreach (var (name, p) in pool.named_parameters())
            if (name.StartsWith("cross_attn.q_proj", StringComparison.Ordinal)) p.zero_();
        var frames = RandomFrames(6);
        var text = torch.randn(Texts, Dim, dtype: ScalarType.Float64);
        var midpoints = pool.EdgeMidpoints(frames);                                             // [V, P, D]
        var pairs = TextConditionedPooling.EdgePairs(Frames);
        Assert.Equal(new long[] { Videos, pairs.Count, Dim }, midpoints.shape);
        for (int p = 0; p < pairs.Count; p++)
        {
            var two = torch.stack([frames.select(1, pairs[p].I), frames.select(1, pairs[p].J)], 1); // [V, 2, D]
            var pooled = pool.forward(text, two).Pooled;                                        // [V, T, D], every text alike
            var expected = midpoints.select(1, p).unsqueeze(1).expand(Videos, Texts, Dim);
            Assert.True(torch.allclose(pooled, expected, 1e-10, 1e-10), $"pair {pairs[p]}: max diff {(pooled - expected).abs().max().ToDouble()}");
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(4)]
    public void AttentionIsTheForwardPassWeights(int heads)
    {
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        var pool = Pooling(heads, seed: 51 + heads);
        var frames = RandomFrames(7);
        var text = torch.randn(Texts, Dim, dtype: ScalarType.Float64);
        var expected = pool.forward(text, frames).Weights;                                      // [V, T, H, F]
        var attention = pool.Attention(text, frames);
        Assert.Equal(expected.shape, attention.shape);
        Assert.True(torch.allclose(attention, expected, 1e-12, 1e-12), $"max diff {(attention - expected).abs().max().ToDouble()}");
    }

    [Fact]
    public void CentroidsOfEveryPointAreThePointsAndHoldTheOneHotPooledVectors()
    {
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        var pool = Pooling(1, seed: 61);
        var frames = RandomFrames(8);
        var centroids = pool.VertexCentroids(frames, Points);                                   // [V, Points, D]
        Assert.Equal(new long[] { Videos, Points, Dim }, centroids.shape);
        Assert.True(torch.allclose(centroids.norm(-1), torch.ones(Videos, Points, dtype: ScalarType.Float64), 1e-12, 1e-12));
        var points = torch.cat([nn.functional.normalize(pool.Vertices(frames), dim: -1),
            nn.functional.normalize(pool.EdgeMidpoints(frames), dim: -1)], 1);                  // [V, Points, D]
        var cos = torch.einsum("vpd,vkd->vpk", points, centroids);
        Assert.True(cos.amax([2]).min().ToDouble() > 1 - 1e-10, "every point is a centroid");
        Assert.True(cos.amax([1]).min().ToDouble() > 1 - 1e-10, "every centroid is a point");

        // A text whose attention is one-hot (huge query scale) gets a vertex: its unit pooled vector is among the centroids.
        foreach (var (name, p) in pool.named_parameters())
            if (name.StartsWith("cross_attn.q_proj", StringComparison.Ordinal)) p.mul_(1e6);
        var text = torch.randn(Texts * 3, Dim, dtype: ScalarType.Float64);
        var pooled = nn.functional.normalize(pool.forward(text, frames).Pooled, dim: -1);       // [V, T, D]
        var best = torch.einsum("vtd,vkd->vtk", pooled, centroids).amax([2]);
        Assert.True(best.min().ToDouble() > 1 - 1e-9, $"worst {best.min().ToDouble()}");
    }

    [Fact]
    public void OneCentroidIsTheNormalisedMeanOfThePoints()
    {
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        var pool = Pooling(2, seed: 71);
        var frames = RandomFrames(9);
        var points = torch.cat([nn.functional.normalize(pool.Vertices(frames), dim: -1),
            nn.functional.normalize(pool.EdgeMidpoints(frames), dim: -1)], 1);
        var expected = nn.functional.normalize(points.sum(1), dim: -1);                          // [V, D]
        var centroid = pool.VertexCentroids(frames, 1);
        Assert.Equal(new long[] { Videos, 1, Dim }, centroid.shape);
        Assert.True(torch.allclose(centroid.squeeze(1), expected, 1e-10, 1e-10), $"max diff {(centroid.squeeze(1) - expected).abs().max().ToDouble()}");
    }

    [Fact]
    public void CentroidsFollowTheVideoNotTheFrameOrder()
    {
        // The points of a video are the same set whatever the frames' order, so its centroids are too; other videos differ.
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        var pool = Pooling(2, seed: 81);
        var frames = RandomFrames(10);
        var a = pool.VertexCentroids(frames, 6);
        var b = pool.VertexCentroids(frames.flip(1), 6);
        var cos = torch.einsum("vkd,vjd->vkj", a, b);
        Assert.True(cos.amax([2]).min().ToDouble() > 1 - 1e-9, "reversed frames, same centroids");
        var other = torch.einsum("kd,jd->kj", a[0], a[1]).amax([1]);
        Assert.True(other.min().ToDouble() < 0.999, "another video has other centroids");
    }

    [Fact]
    public void SphericalKMeansFindsSeparatedClusters()
    {
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        torch.manual_seed(12);
        var axes = torch.eye(4, dtype: ScalarType.Float64);
        // Two videos: 3 points near e0, 3 near e1, 2 near e2 (the last one seeds), in a shuffled order.
        var rows = new[] { 0, 1, 0, 2, 1, 0, 1, 2 };
        var points = nn.functional.normalize(torch.stack(rows.Select(r => axes[r]).ToArray()).unsqueeze(0).repeat(2, 1, 1)
            + 0.05 * torch.randn(2, rows.Length, 4, dtype: ScalarType.Float64), dim: -1);          // [2, 8, 4]
        var centroids = TextConditionedPooling.SphericalKMeans(points, 3);
        Assert.Equal(new long[] { 2, 3, 4 }, centroids.shape);
        for (int v = 0; v < 2; v++)
            for (int r = 0; r < 3; r++)
            {
                var expected = nn.functional.normalize(points[v].index_select(0, torch.tensor(
                    Enumerable.Range(0, rows.Length).Where(i => rows[i] == r).Select(i => (long)i).ToArray())).sum(new long[] { 0 }), dim: -1);
                Assert.True(torch.einsum("kd,d->k", centroids[v], expected).max().ToDouble() > 1 - 1e-12, $"video {v}, cluster {r}");
            }
        Assert.Throws<ArgumentOutOfRangeException>(() => TextConditionedPooling.SphericalKMeans(points, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => TextConditionedPooling.SphericalKMeans(points, rows.Length + 1));
    }
}
