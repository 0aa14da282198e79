using TorchSharp;
using VidSeek.Index;
using VidSeek.Models.XPool;
using static TorchSharp.torch;

namespace VidSeek.Tests;

/// <summary>
/// X-Pool's score of frames in a low-dimensional subspace (<see cref="XPoolReduced"/>) and the first-stage scan that computes
/// it for every segment (<see cref="XPoolScan"/>), against the single-query form (itself tested against the module) on random
/// weights far from the identity init, for 1, 2 and 4 heads. A transposed weight, a missing scale or a softmax over the wrong
/// axis in either changes the scores of random weights by far more than the tolerances.
/// </summary>
[Collection(ProcessStateCollection.Name)] // draws from libtorch's global RNG after seeding it: no other test may draw in between
public class XPoolReducedTests
{
    private const int Dim = 32;

    private static TextConditionedPooling Pool(int heads, int seed)
    {
        var pool = XPoolFactoredTests.RandomPooling(Dim, heads, seed);
        using var _ = torch.no_grad();
        // Sharper attention than the random init gives: the softmax must matter.
        foreach (var (name, p) in pool.named_parameters())
            if (name.StartsWith("cross_attn.q_proj.weight", StringComparison.Ordinal) || name.StartsWith("cross_attn.k_proj.weight", StringComparison.Ordinal)) p.mul_(4.0);
        return pool;
    }

    [Theory]
    [InlineData(1, 3)]
    [InlineData(2, 5)]
    [InlineData(4, 8)]
    public void ReducedScoreEqualsTheSingleQueryFormOnFramesInTheSubspace(int heads, int rank)
    {
        using var pool = Pool(heads, seed: 300 + heads);
        using var single = new XPoolSingleQuery(pool);
        var frames = XPoolFactoredTests.RandomFrames(11, 6, Dim);
        var x = single.LayerNorm1(frames);                                                           // [N, F, D]
        var mean = torch.randn(Dim) * 0.3;
        var basis = torch.randn(Dim, rank);                                                           // not orthonormal on purpose
        // Least-squares coordinates, and the frames they stand for (exactly in the subspace).
        var coords = (x - mean).matmul(basis).matmul(torch.linalg.inv(basis.T.matmul(basis)));       // [N, F, k]
        var inSubspace = coords.matmul(basis.T) + mean;
        using var reduced = new XPoolReduced(pool, mean, basis);
        for (int t = 0; t < 3; t++)
        {
            var text = torch.randn(Dim);
            var (expected, weights) = single.ScoreLayerNormed(text, inSubspace);
            var actual = reduced.Score(reduced.Prepare(text), coords);
            TensorAssert.Close(expected, actual, 1e-5, $"text {t}");
            Assert.True((expected.max() - expected.min()).ToSingle() > 0.1f, "the scores spread");
            Assert.True(weights.max().ToSingle() > 0.4f, "the attention is far from uniform");
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(4)]
    public void TheScanWithEveryDirectionEqualsTheSingleQueryForm(int heads)
    {
        // 37 segments: two full groups of 16 lanes and a padded one.
        using var pool = Pool(heads, seed: 400 + heads);
        using var single = new XPoolSingleQuery(pool);
        var frames = XPoolFactoredTests.RandomFrames(37, 5, Dim);
        var ids = Enumerable.Range(0, 37).Select(i => 10L + 3 * i).ToArray();
        using var scan = XPoolScan.Build(ids, chunk => frames.index_select(0, torch.tensor(chunk.Select(id => (id - 10) / 3).ToArray())), 5, generation: 7, pool, rank: Dim);
        Assert.Equal(37, scan.Count);
        Assert.Equal(7, scan.Generation);
        Assert.True(scan.VarianceKept > 0.999);
        for (int t = 0; t < 3; t++)
        {
            var text = torch.randn(Dim);
            var expected = single.Score(text, frames).Sims;
            // The kernel (float32, 16 lanes) against the float64 reference on the same 8-bit coordinates, and (to the 8-bit rounding) the exact score.
            TensorAssert.Close(torch.tensor(scan.ReferenceScores(text)), torch.tensor(scan.ScoreAll(text)), 2e-6, $"kernel, text {t}");
            // 8-bit coordinates move a score by up to a few 1e-2 with this sharp random attention; a segment scored in another's
            // lane would move it by the spread of the scores (over 0.1), and the two rankings would not correlate.
            var scanned = torch.tensor(scan.ScoreAll(text));
            TensorAssert.Close(expected, scanned, 5e-2, $"exact, text {t}");
            double correlation = torch.corrcoef(torch.stack([expected, scanned])).data<float>()[1];
            Assert.True(correlation > 0.98, $"text {t}: the scan's scores correlate {correlation:F3} with the exact ones");
            // Search returns the best by that score, ids mapped back.
            var all = scan.ScoreAll(text);
            var best = Enumerable.Range(0, 37).OrderByDescending(i => all[i]).Take(6).Select(i => ids[i]).ToArray();
            Assert.Equal(best, scan.Search(text, 6));
            Assert.Equal(37, scan.Search(text, 100).Length);
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void AScanWithFewerDirectionsStillMatchesItsReferenceAndRanksLikeTheExactScore(int heads)
    {
        // Frames near a 6-dimensional subspace plus small noise: 6 directions keep nearly all the variance, and the kernel still
        // equals the reference form on the stored coordinates.
        using var pool = Pool(heads, seed: 77);
        using var single = new XPoolSingleQuery(pool);
        torch.manual_seed(5);
        var mix = torch.randn(6, Dim);
        var frames = torch.randn(50, 4, 6).matmul(mix) + 0.01 * torch.randn(50, 4, Dim);
        var ids = Enumerable.Range(1, 50).Select(i => (long)i).ToArray();
        using var scan = XPoolScan.Build(ids, chunk => frames.index_select(0, torch.tensor(chunk.Select(id => id - 1).ToArray())), 4, generation: 1, pool, rank: 6);
        Assert.True(scan.VarianceKept > 0.99, $"variance kept {scan.VarianceKept}");
        var text = torch.randn(Dim);
        TensorAssert.Close(torch.tensor(scan.ReferenceScores(text)), torch.tensor(scan.ScoreAll(text)), 2e-6, "kernel");
        var exact = single.Score(text, frames).Sims.data<float>().ToArray();
        var top5 = Enumerable.Range(0, 50).OrderByDescending(i => exact[i]).Take(5).Select(i => ids[i]).ToHashSet();
        Assert.Subset(scan.Search(text, 15).ToHashSet(), top5);
    }

    [Fact]
    public void TheKernelsExponentialIsAccurateOnTheSoftmaxRange()
    {
        // The scan's e^x for x <= 0 (the softmax's logits less their largest) against Math.Exp, to a few units in the last place,
        // over the whole normal range; below it, where e^x is not a normal float, a non-negative value no larger than the
        // smallest normal one (the softmax's other weights dwarf it).
        var xs = Enumerable.Range(0, 16 * 700).Select(i => -i / 8.0f).Append(0f).Append(-1e-7f).Append(-0.5f * MathF.Log(2)).ToArray();
        for (int at = 0; at < xs.Length; at += 16)
        {
            var block = new float[16];
            for (int i = 0; i < 16; i++) block[i] = xs[Math.Min(at + i, xs.Length - 1)];
            var got = XPoolScan.ExpOfNonPositive(System.Runtime.Intrinsics.Vector512.Create(block));
            for (int i = 0; i < 16; i++)
            {
                double want = Math.Exp(block[i]);
                if (block[i] >= -87f)
                    Assert.True(Math.Abs(got[i] - want) <= 4e-7 * want, $"e^{block[i]}: {got[i]} against {want}");
                else
                    Assert.InRange(got[i], 0f, 1.2e-38f * 1.5f);
            }
        }
    }
}
