using TorchSharp;
using VidSeek.Models.Clip;
using VidSeek.Models.DualEncoder;
using VidSeek.Models.XPool;
using static TorchSharp.torch;

namespace VidSeek.Tests;

/// <summary>
/// The factored X-Pool similarity (<see cref="XPoolFactored"/>) against X-Pool's own order (the module, then cosine):
/// exact in float64, within 1e-5 in float32, on random weights far from the identity init (LayerNorm gains and biases
/// included), for several head and frame counts; and invariances that catch a wrong axis or a misplaced head.
/// </summary>
public class XPoolFactoredTests
{
    /// <summary>A module with every parameter drawn at random: Linears ~ N(0, 1/D), biases, LayerNorm gains 1 + 0.3 N, biases 0.2 N.</summary>
    internal static TextConditionedPooling RandomPooling(int dim, int heads, int seed)
    {
        torch.manual_seed(seed);
        var pool = new TextConditionedPooling(dim, heads);
        using var _ = torch.no_grad();
        foreach (var (name, p) in pool.named_parameters())
        {
            bool norm = name.StartsWith("layer_norm", StringComparison.Ordinal);
            if (p.dim() == 2) p.copy_(torch.randn(p.shape) / Math.Sqrt(dim));
            else if (norm && name.EndsWith(".weight", StringComparison.Ordinal)) p.copy_(1 + 0.3 * torch.randn(p.shape));
            else p.copy_((norm ? 0.2 : 0.1) * torch.randn(p.shape));
        }
        pool.eval();
        return pool;
    }

    /// <summary>Frames that share a video-level component (as real frames do) plus per-frame noise.</summary>
    internal static Tensor RandomFrames(int videos, int frames, int dim) =>
        torch.randn(videos, 1, dim) + 0.5 * torch.randn(videos, frames, dim);

    private static (Tensor Sims, Tensor Weights) Direct(TextConditionedPooling pool, Tensor text, Tensor frames)
    {
        using var _ = torch.no_grad();
        var output = pool.forward(text, frames);
        return (TextConditionedPooling.Similarity(text, output.Pooled), output.Weights.permute(1, 0, 2, 3));   // [T, V], [T, V, H, F]
    }

    private static (Tensor Sims, Tensor Weights) Factored(TextConditionedPooling pool, Tensor text, Tensor frames, ScalarType dtype)
    {
        using var factored = new XPoolFactored(pool, dtype);
        using var videos = factored.PrepareVideos(frames);
        using var texts = factored.PrepareTexts(text);
        return factored.Score(texts, videos, 0, texts.Count, 0, videos.Count);
    }

    /// <summary>
    /// Above <see cref="Tensors.HugePages.MinBytes"/> the per-text data is allocated with huge pages advised: the same
    /// numbers as the texts prepared in pieces below it (no advice), and the advice itself is taken on a large tensor only.
    /// </summary>
    [Fact]
    public void TextsPreparedInHugePagesEqualTextsPreparedInPieces()
    {
        const int dim = 512, count = 8300;                                                    // [2, 8300, 512] floats: 32.4 MiB
        using var pool = RandomPooling(dim, heads: 1, seed: 11);
        using var factored = new XPoolFactored(pool);
        using var text = torch.randn(count, dim);
        using var whole = factored.PrepareTexts(text);
        Assert.True(whole.Q.NumberOfElements * 4 >= Tensors.HugePages.MinBytes);
        using var first = factored.PrepareTexts(text.narrow(0, 0, count / 2));
        using var second = factored.PrepareTexts(text.narrow(0, count / 2, count - count / 2));
        Assert.True(torch.cat([first.Q, second.Q], 1).allclose(whole.Q, rtol: 1e-5, atol: 1e-6));        // GEMMs of other row counts round differently
        // The dots are sums of 512 products of either sign: one near zero carries the rounding of its terms, not of itself.
        double scalarsScale = whole.Scalars.abs().max().item<float>();
        Assert.True(torch.cat([first.Scalars, second.Scalars], 1).allclose(whole.Scalars, rtol: 1e-5, atol: 1e-6 * scalarsScale));

        using var small = torch.empty(1024, 1024);                                            // 4 MiB: from the heap, no advice
        Assert.False(Tensors.HugePages.Advise(small));
        using var large = torch.empty(16, 1024, 1024);                                        // 64 MiB
        bool thpOff = File.Exists("/sys/kernel/mm/transparent_hugepage/enabled") && File.ReadAllText("/sys/kernel/mm/transparent_hugepage/enabled").Contains("[never]");
        Assert.Equal(OperatingSystem.IsLinux() && !thpOff, Tensors.HugePages.Advise(large));
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(1, 12)]
    [InlineData(2, 3)]
    [InlineData(2, 7)]
    [InlineData(4, 5)]
    [InlineData(4, 12)]
    public void FactoredEqualsDirect(int heads, int frames)
    {
        using var scope = torch.NewDisposeScope();
        const int dim = 64;
        using var pool = RandomPooling(dim, heads, seed: 10 * heads + frames);
        var text = torch.randn(9, dim);
        var video = RandomFrames(5, frames, dim);

        // The derivation, in float64: equal up to rounding.
        pool.to(ScalarType.Float64);
        var (want, wantWeights) = Direct(pool, text.to(ScalarType.Float64), video.to(ScalarType.Float64));
        var (got64, weights64) = Factored(pool, text.to(ScalarType.Float64), video.to(ScalarType.Float64), ScalarType.Float64);
        TensorAssert.Close(want, got64, 1e-12, $"float64 sims, {heads} heads, {frames} frames");
        TensorAssert.Close(wantWeights, weights64, 1e-12, "float64 attention weights");

        // The float32 implementation against the float64 truth, and against the float32 direct form.
        var (got32, _) = Factored(pool, text, video, ScalarType.Float32);
        TensorAssert.Close(want, got32, 1e-5, $"float32 factored vs float64 direct, {heads} heads, {frames} frames");
        pool.to(ScalarType.Float32);
        var (direct32, _) = Direct(pool, text, video);
        TensorAssert.Close(direct32, got32, 1e-5, "float32 factored vs float32 direct");
        // Not a vacuous comparison: the sims spread over a real range.
        Assert.True((want.max() - want.min()).item<double>() > 0.05);
    }

    [Fact]
    public void FramesAreASetButHeadsAreNot()
    {
        using var scope = torch.NewDisposeScope();
        const int dim = 32, heads = 2, frames = 6;
        using var pool = RandomPooling(dim, heads, seed: 3);
        var text = torch.randn(4, dim);
        var video = RandomFrames(3, frames, dim);
        var (sims, _) = Factored(pool, text, video, ScalarType.Float32);

        // Shuffling a video's frames changes nothing: the softmax and every sum run over the frame axis.
        var perm = torch.tensor(new long[] { 4, 0, 5, 2, 1, 3 });
        var (shuffled, _) = Factored(pool, text, video.index_select(1, perm), ScalarType.Float32);
        TensorAssert.Close(sims, shuffled, 1e-6, "frames permuted");

        // Shuffling channels inside head 0 of q_proj and k_proj alike changes nothing (a dot product per head)...
        var headPerm = torch.cat([torch.randperm(dim / heads), torch.arange(dim / heads, dim)]);
        using (torch.no_grad())
        {
            var sd = pool.state_dict();
            foreach (var key in new[] { "cross_attn.q_proj", "cross_attn.k_proj" })
            {
                sd[key + ".weight"].copy_(sd[key + ".weight"].index_select(0, headPerm));
                sd[key + ".bias"].copy_(sd[key + ".bias"].index_select(0, headPerm));
            }
        }
        var (samePerHead, _) = Factored(pool, text, video, ScalarType.Float32);
        TensorAssert.Close(sims, samePerHead, 1e-5, "channels permuted within a head in q and k");

        // ...but giving head 0 the keys of head 1 does change the scores, and both forms still agree.
        var swap = torch.cat([torch.arange(dim / heads, dim), torch.arange(0, dim / heads)]);
        using (torch.no_grad())
        {
            var kw = pool.state_dict()["cross_attn.k_proj.weight"];
            kw.copy_(kw.index_select(0, swap));
        }
        var (swapped, _) = Factored(pool, text, video, ScalarType.Float32);
        Assert.True((sims - swapped).abs().max().item<float>() > 1e-3, "swapping the heads' keys left the scores unchanged");
        TensorAssert.Close(Direct(pool, text, video).Sims, swapped, 1e-5, "direct vs factored after the swap");
    }

    [Fact]
    public void ModelUsesTheFactoredFormOutsideTrainingAndBothFormsAgree()
    {
        using var scope = torch.NewDisposeScope();
        torch.manual_seed(5);
        using var model = new DualEncoderModel(new DualEncoderConfig { Pooling = VideoPooling.XPool, Clip = ClipPresets.Tiny, XPoolHeads = 2, NumFrames = 4 });
        using (torch.no_grad())
            foreach (var p in model.HeadParameters())
                p.add_(0.2 * torch.randn(p.shape));
        model.eval();
        Assert.Equal(XPoolSimilarity.Factored, model.XPoolForm);
        var text = torch.randn(11, 32);
        var frames = RandomFrames(7, 4, 32);

        var factored = model.Similarity(text, frames);
        var chunked = model.SimilarityMatrix(text, frames, textChunk: 4, videoChunk: 3);
        var again = model.SimilarityMatrix(text, frames, textChunk: 4, videoChunk: 3);       // from the cached per-video data
        model.XPoolForm = XPoolSimilarity.Direct;
        var direct = model.Similarity(text, frames);
        var directChunked = model.SimilarityMatrix(text, frames, textChunk: 4, videoChunk: 3);

        TensorAssert.Close(direct.Sims, factored.Sims, 1e-5, "Similarity: factored vs direct");
        TensorAssert.Close(direct.FrameWeights!, factored.FrameWeights!, 1e-6, "frame weights [V, T, F]");
        TensorAssert.Close(torch.tensor(directChunked), torch.tensor(chunked), 1e-5, "SimilarityMatrix: factored vs direct");
        Assert.Equal(chunked, again);

        // The cache follows the weights: change one, drop the cache, and the factored matrix follows the direct one.
        model.XPoolForm = XPoolSimilarity.Factored;
        using (torch.no_grad()) model.HeadParameters().First().add_(0.3 * torch.randn(model.HeadParameters().First().shape));
        model.DropCache();
        var changed = model.SimilarityMatrix(text, frames);
        model.XPoolForm = XPoolSimilarity.Direct;
        TensorAssert.Close(torch.tensor(model.SimilarityMatrix(text, frames)), torch.tensor(changed), 1e-5, "after a weight change");
        Assert.True(changed.Zip(chunked).Max(p => Math.Abs(p.First - p.Second)) > 1e-4, "the weight change did not move the scores");
    }

    /// <summary>
    /// The fused pair kernel over blocks whose edges fall anywhere: text counts that are not a multiple of the 8 float32
    /// lanes (partial vectors), single-text and single-video blocks, blocks larger than the matrix; one head (the
    /// single-GEMM path against the frames) and two (keys and B per head). Every entry equals the direct form's.
    /// </summary>
    [Theory]
    [InlineData(1, 1024, 64)]
    [InlineData(1, 8, 3)]
    [InlineData(1, 5, 4)]
    [InlineData(1, 1, 1)]
    [InlineData(2, 9, 2)]
    [InlineData(4, 16, 7)]
    public void SimilarityMatrixEqualsTheDirectFormAtAnyBlockEdge(int heads, int textChunk, int videoChunk)
    {
        using var scope = torch.NewDisposeScope();
        torch.manual_seed(heads * 100 + textChunk + videoChunk);
        using var model = new DualEncoderModel(new DualEncoderConfig { Pooling = VideoPooling.XPool, Clip = ClipPresets.Tiny, XPoolHeads = heads, NumFrames = 5 });
        using (torch.no_grad())
            foreach (var p in model.HeadParameters())
                p.add_(0.2 * torch.randn(p.shape));
        model.eval();
        var text = torch.randn(21, 32);
        var frames = RandomFrames(10, 5, 32);
        var factored = model.SimilarityMatrix(text, frames, textChunk, videoChunk);
        model.XPoolForm = XPoolSimilarity.Direct;
        var direct = model.Similarity(text, frames).Sims.contiguous().data<float>().ToArray();
        Assert.Equal(direct.Length, factored.Length);
        for (int i = 0; i < direct.Length; i++)
            Assert.True(Math.Abs(direct[i] - factored[i]) <= 1e-5, $"pair (text {i / 10}, video {i % 10}): direct {direct[i]}, factored {factored[i]}");
    }

    /// <summary>More videos and texts than one preparation step takes (256 videos, 2,048 texts): the pairs on both sides of
    /// each step boundary equal the direct form, so a step written to the wrong rows or a lost step fails.</summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void PreparationInStepsEqualsDirect(int heads)
    {
        using var scope = torch.NewDisposeScope();
        var pool = RandomPooling(16, heads, seed: 41 + heads);
        torch.manual_seed(42);
        var text = torch.randn(2100, 16);
        var frames = RandomFrames(520, 3, 16);
        var (sims, _) = Factored(pool, text, frames, ScalarType.Float32);                       // [T, V]
        Assert.Equal(new long[] { 2100, 520 }, sims.shape);
        var ti = torch.tensor(new long[] { 0, 1, 2046, 2047, 2048, 2049, 2099 });
        var vi = torch.tensor(new long[] { 0, 255, 256, 257, 511, 512, 519 });
        var (direct, _) = Direct(pool, text.index_select(0, ti), frames.index_select(0, vi));
        var got = sims.index_select(0, ti).index_select(1, vi);
        Assert.True(torch.allclose(got, direct, 1e-5, 1e-5), $"max diff {(got - direct).abs().max().ToDouble()}");
    }

    /// <summary>No videos (an empty split or index): an empty preparation and a [T, 0] score, not an exception.</summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void NoVideosGiveAnEmptyScore(int heads)
    {
        using var scope = torch.NewDisposeScope();
        var pool = RandomPooling(16, heads, seed: 3);
        var (sims, weights) = Factored(pool, torch.randn(4, 16), torch.empty(0, 3, 16), ScalarType.Float32);
        Assert.Equal(new long[] { 4, 0 }, sims.shape);
        Assert.Equal(new long[] { 4, 0, heads, 3 }, weights.shape);
    }

    /// <summary>Per-video data stored in chunks of a few videos: blocks that start, end or lie inside a chunk, or cross its
    /// edges (cut into pieces), give the sims and the attention weights of storage in one chunk, so a piece that reads
    /// the wrong chunk, the wrong rows of its chunk or writes to the wrong columns fails.</summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void BlocksAcrossStoredChunksEqualOneChunk(int heads)
    {
        using var scope = torch.NewDisposeScope();
        var pool = RandomPooling(16, heads, seed: 7 + heads);
        torch.manual_seed(8);
        var text = torch.randn(11, 16);
        var frames = RandomFrames(10, 3, 16);
        using var factored = new XPoolFactored(pool);
        using var texts = factored.PrepareTexts(text);
        using var whole = factored.PrepareVideos(frames, chunkVideos: 10);
        using var chunked = factored.PrepareVideos(frames, chunkVideos: 3);
        Assert.Single(whole.Keys);
        Assert.Equal(4, chunked.Keys.Count);                                                    // 3 + 3 + 3 + 1 videos
        var (sims, weights) = factored.Score(texts, whole, 0, 11, 0, 10);                      // [T, V], [T, V, H, F]
        foreach (var (v0, vn) in new (long, long)[] { (0, 10), (2, 5), (3, 3), (4, 1), (8, 2), (9, 1) })
        {
            var (s, w) = factored.Score(texts, chunked, 2, 7, v0, vn);
            TensorAssert.Close(sims.narrow(0, 2, 7).narrow(1, v0, vn), s, 1e-6, $"sims of videos {v0} .. {v0 + vn - 1}");
            TensorAssert.Close(weights.narrow(0, 2, 7).narrow(1, v0, vn), w, 1e-6, $"weights of videos {v0} .. {v0 + vn - 1}");
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => factored.BlockGemms(texts, chunked, 0, 11, 2, 2));  // crosses a chunk edge
    }

    [Fact]
    public void BlocksCoverTheMatrixOnce()
    {
        var seen = new int[7, 5];
        foreach (var (t0, tn, v0, vn) in DualEncoderModel.Blocks(7, 5, 3, 2))
            for (long t = t0; t < t0 + tn; t++)
                for (long v = v0; v < v0 + vn; v++)
                    seen[t, v]++;
        Assert.All(seen.Cast<int>(), c => Assert.Equal(1, c));
        Assert.Empty(DualEncoderModel.Blocks(0, 5, 3, 2));
    }

    [Fact]
    public void FlopFormulaCountsTheGemms()
    {
        // 1k-A at 12 frames, D = 512, 1 head: about 2 x 10^6 pairs x (12 + 12) x 512 in the two GEMMs.
        double flops = XPoolFactored.Flops(1000, 1000, 12, 512, 1);
        Assert.InRange(flops, 2e6 * 24 * 512, 2e6 * 24 * 512 * 2.5);
    }
}
