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

    /// <summary>
    /// The search stores a segment's centroids computed in one batch and its spot check recomputes them in another (other size,
    /// other neighbours): they must agree. Production's case: float32 frames, 8 frames (37 points), k = 8.
    /// </summary>
    [Fact]
    public void ASegmentsCentroidsDoNotDependOnTheBatch()
    {
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        const int frames = 8, dim = 32, k = 8, videos = 300;
        var pool = XPoolFactoredTests.RandomPooling(dim, 2, seed: 91);
        torch.manual_seed(92);
        var all = XPoolFactoredTests.RandomFrames(videos, frames, dim);                          // [V, F, D] float32
        var batched = pool.VertexCentroids(all, k);                                             // [V, k, D]
        Assert.Equal(ScalarType.Float32, batched.dtype);
        var reversed = pool.VertexCentroids(all.flip(0), k).flip(0);
        var others = XPoolFactoredTests.RandomFrames(1024 - videos, frames, dim);
        var large = pool.VertexCentroids(torch.cat([others, all], 0), k).narrow(0, 1024 - videos, videos);
        var seven = torch.cat(Enumerable.Range(0, 43).Select(b => pool.VertexCentroids(all.narrow(0, 7 * b, Math.Min(7, videos - 7 * b)), k)).ToArray(), 0);
        double worst = 0;
        foreach (var other in new[] { reversed, large, seven })
            worst = Math.Max(worst, (other - batched).abs().max().ToDouble());
        foreach (int v in new[] { 0, 1, 150, 298, 299 })
            worst = Math.Max(worst, (pool.VertexCentroids(all.narrow(0, v, 1), k)[0] - batched[v]).abs().max().ToDouble());
        // A flipped seed or assignment moves a centroid by about 0.1; float32 rounding of the pooled points by about 1e-7.
        Assert.True(worst <= 1e-6, $"largest difference between batches {worst}");
    }

    /// <summary>
    /// SphericalKMeans against a plain scalar k-means written from its description (seed with the last point, then farthest
    /// points; Lloyd steps: nearest centroid, first on ties; normalised sums; an empty cluster keeps its centroid), on points
    /// in overlapping clusters so that the Lloyd steps move the centroids: catches a wrong axis, a missing normalisation or
    /// a seed taken from the wrong end. And VertexCentroids is that k-means of the unit vertices, edge midpoints and centre,
    /// in that order (the centre seeds).
    /// </summary>
    [Fact]
    public void SphericalKMeansIsTheScalarReference()
    {
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        torch.manual_seed(101);
        var points = nn.functional.normalize(torch.randn(3, 1, 6) + 0.8 * torch.randn(3, 37, 6), dim: -1); // [3, 37, 6] float32
        foreach (int k in new[] { 1, 3, 8 })
        {
            var centroids = TextConditionedPooling.SphericalKMeans(points, k);
            for (int v = 0; v < 3; v++)
            {
                var expected = torch.tensor(ReferenceKMeans(Rows(points[v]), k, 10).SelectMany(r => r).ToArray(), [k, 6]);
                double diff = (centroids[v].to(ScalarType.Float64) - expected).abs().max().ToDouble();
                Assert.True(diff < 1e-5, $"k = {k}, video {v}: max diff {diff}");
            }
        }

        var pool = Pooling(2, seed: 103);
        var frames = RandomFrames(11);
        var vertices = nn.functional.normalize(pool.Vertices(frames), dim: -1);                 // [V, F + 1, D]
        var midpoints = nn.functional.normalize(pool.EdgeMidpoints(frames), dim: -1);           // [V, P, D]
        var vc = pool.VertexCentroids(frames, 4);
        for (int v = 0; v < Videos; v++)
        {
            var rows = Rows(vertices[v]).Take(Frames).Concat(Rows(midpoints[v])).Append(Rows(vertices[v])[Frames]).ToArray();
            var expected = torch.tensor(ReferenceKMeans(rows, 4, 10).SelectMany(r => r).ToArray(), [4, Dim], dtype: ScalarType.Float64);
            double diff = (vc[v] - expected).abs().max().ToDouble();
            Assert.True(diff < 1e-10, $"video {v}: max diff {diff}");
        }
    }

    private static double[][] Rows(Tensor t) =>
        Enumerable.Range(0, (int)t.shape[0]).Select(i => t[i].to(ScalarType.Float64).data<double>().ToArray()).ToArray();

    private static double Dot(double[] a, double[] b) { double s = 0; for (int i = 0; i < a.Length; i++) s += a[i] * b[i]; return s; }

    private static double[] Unit(double[] a) { double n = Math.Sqrt(Dot(a, a)); return a.Select(x => x / n).ToArray(); }

    private static double[][] ReferenceKMeans(double[][] points, int k, int steps)
    {
        int n = points.Length;
        var centroids = new List<double[]> { points[n - 1] };
        var nearest = points.Select(p => Dot(p, centroids[0])).ToArray();
        while (centroids.Count < k)
        {
            int far = 0;
            for (int i = 1; i < n; i++) if (nearest[i] < nearest[far]) far = i;
            centroids.Add(points[far]);
            for (int i = 0; i < n; i++) nearest[i] = Math.Max(nearest[i], Dot(points[i], points[far]));
        }
        var c = centroids.ToArray();
        for (int step = 0; step < steps; step++)
        {
            var sums = Enumerable.Range(0, k).Select(_ => new double[points[0].Length]).ToArray();
            var counts = new int[k];
            foreach (var p in points)
            {
                int best = 0;
                for (int j = 1; j < k; j++) if (Dot(p, c[j]) > Dot(p, c[best])) best = j;
                counts[best]++;
                for (int d = 0; d < p.Length; d++) sums[best][d] += p[d];
            }
            c = Enumerable.Range(0, k).Select(j => counts[j] > 0 ? Unit(sums[j]) : c[j]).ToArray();
        }
        return c;
    }
}
