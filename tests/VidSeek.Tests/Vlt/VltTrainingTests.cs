using TorchSharp;
using VidSeek.Models.Vlt;
using VidSeek.Retrieval;
using VidSeek.Training;
using static TorchSharp.torch;

namespace VidSeek.Tests.Vlt;

/// <summary>ITM hard negatives, the VLT loss, a few training steps, two-stage retrieval and save/load.</summary>
[Collection(ProcessStateCollection.Name)] // seeds libtorch's global RNG for the models and inputs
public class VltTrainingTests
{
    /// <summary>1 video layer (16 px, 8 px patches, 2 frames), 1 text + 1 fusion layer, width 32.</summary>
    internal static VideoLanguageConfig Tiny(FusionKind fusion = FusionKind.T2V2T) => new()
    {
        Video = VltTestKit.TinyVideo with { NumHiddenLayers = 1, MaxFrames = 2 },
        Text = VltTestKit.TinyText with { NumHiddenLayers = 2 },
        Fusion = fusion, EmbedDim = 16,
    };

    internal static VideoLanguageModel NewModel(int seed, FusionKind fusion = FusionKind.T2V2T, bool randomize = true)
    {
        torch.manual_seed(seed);
        var model = new VideoLanguageModel(Tiny(fusion));
        if (randomize) VltTestKit.Randomize(model, 0.1);
        model.eval();
        return model;
    }

    /// <summary>Pixels <c>[n, 2, 3, 16, 16]</c>, ids and a mask <c>[n, 6]</c> with padding in every other row.</summary>
    internal static (Tensor Pixels, Tensor Ids, Tensor Mask) Inputs(int n, int seed)
    {
        torch.manual_seed(seed);
        var mask = torch.ones(n, 6, dtype: ScalarType.Int64);
        for (int i = 0; i < n; i += 2) mask[i, TensorIndex.Slice(4)] = torch.tensor(0L);
        return (torch.randn(new long[] { n, 2, 3, 16, 16 }), torch.randint(1, 100, new long[] { n, 6 }) * mask, mask);
    }

    [Fact]
    public void HardNegativesNeverPickAPositiveWithDuplicateCaptions()
    {
        using var scope = torch.NewDisposeScope();
        string[] captions = ["a dog", "a dog", "a cat", "a cat", "a bird", "a dog"];
        int[] videos = [0, 1, 2, 2, 3, 4];                      // rows 2 and 3 are one video; "a dog" is in rows 0, 1, 5
        var positives = ItmHardNegatives.PositiveMask(captions, videos);
        var p = positives.data<bool>().ToArray();
        Assert.True(p[0 * 6 + 1] && p[1 * 6 + 5] && p[2 * 6 + 3] && p[3 * 6 + 2] && !p[0 * 6 + 2] && !p[4 * 6 + 0]);
        // Positives get by far the highest scores: a sampler that forgot any of them would pick it almost every time.
        torch.manual_seed(5);
        var logits = torch.randn(6, 6) + positives.to(ScalarType.Float32) * 20;
        using var generator = new Generator(123);
        var seen = new HashSet<(long, long)>();
        for (int draw = 0; draw < 200; draw++)
        {
            var neg = ItmHardNegatives.Sample(logits, positives, generator);
            Assert.Equal(12, neg.Texts.Length);                 // every row has a negative
            for (int i = 0; i < neg.Texts.Length; i++)
            {
                Assert.False(p[neg.Texts[i] * 6 + neg.Videos[i]], $"draw {draw}: positive pair ({neg.Texts[i]}, {neg.Videos[i]})");
                seen.Add((neg.Texts[i], neg.Videos[i]));
            }
        }
        Assert.True(seen.Count > 10, "the draws should vary");
    }

    [Fact]
    public void RowsWithoutANegativeAreSkipped()
    {
        using var scope = torch.NewDisposeScope();
        // Rows 0-3 are captions of one video (two of them equal): only pairs between {0,1,2,3} and 4 are negatives.
        var positives = ItmHardNegatives.PositiveMask(["same", "same", "other", "more", "new"], [0, 0, 0, 0, 4]);
        using var generator = new Generator(1);
        var neg = ItmHardNegatives.Sample(torch.zeros(5, 5), positives, generator);
        Assert.Equal(10, neg.Texts.Length);
        Assert.All(neg.Texts.Zip(neg.Videos), x => Assert.True(x.First == 4 || x.Second == 4));
        var none = ItmHardNegatives.Sample(torch.zeros(3, 3), ItmHardNegatives.PositiveMask(["a", "a", "a"], [0, 1, 2]), generator);
        Assert.Empty(none.Texts);
    }

    [Fact]
    public void ItmPairsAreBPositivesThen2BNegativesAndTheLossIsTheirCrossEntropy()
    {
        using var scope = torch.NewDisposeScope();
        using var generator = new Generator(7);
        var pairs = VltLoss.Pairs(torch.zeros(4, 4), ItmHardNegatives.PositiveMask(["a", "b", "c", "d"], [0, 1, 2, 3]), generator);
        Assert.Equal(12, pairs.Labels.Length);
        Assert.Equal([1L, 1, 1, 1, .. Enumerable.Repeat(0L, 8)], pairs.Labels);
        Assert.Equal([0L, 1, 2, 3], pairs.Texts[..4]);
        Assert.Equal([0L, 1, 2, 3], pairs.Videos[..4]);
        Assert.Equal([0L, 1, 2, 3], pairs.Videos[4..8]);      // a negative text for each video, in video order
        Assert.Equal([0L, 1, 2, 3], pairs.Texts[8..]);        // then a negative video for each text

        var logits = torch.tensor(new float[] { 2, 1, 0, 3 }, 2, 2);
        double expected = (-Math.Log(Math.Exp(1) / (Math.Exp(2) + Math.Exp(1))) - Math.Log(Math.Exp(0) / (Math.Exp(0) + Math.Exp(3)))) / 2;
        Assert.Equal(expected, VltLoss.ItmLoss(logits, [1, 0]).item<float>(), 5);
        Assert.Throws<ArgumentException>(() => VltLoss.ItmLoss(torch.zeros(3, 2), [1, 0]));
    }

    [Fact]
    public void StepsOnAFixedBatchLowerTheLoss()
    {
        using var scope = torch.NewDisposeScope();
        using var model = NewModel(3, randomize: false);
        var (pixels, ids, mask) = Inputs(4, 4);
        string[] captions = ["a", "b", "c", "d"];
        using var opt = torch.optim.AdamW(model.parameters(), lr: 1e-3);
        model.train();
        var totals = new List<float>();
        for (int step = 0; step < 8; step++)
        {
            using var stepScope = torch.NewDisposeScope();
            torch.manual_seed(step);
            using var generator = new Generator(42);
            var loss = VltLoss.Compute(model, model.EncodeText(ids, mask), mask, model.EncodeVideo(pixels), captions, [0, 1, 2, 3], generator);
            Assert.Equal(loss.Itc.item<float>() + loss.Itm.item<float>(), loss.Total.item<float>(), 4);
            totals.Add(loss.Total.item<float>());
            opt.zero_grad();
            loss.Total.backward();
            opt.step();
        }
        Assert.True(totals[^1] < totals[0] - 0.1, $"loss went {string.Join(" -> ", totals.Select(l => l.ToString("F3")))}");
    }

    private static (TwoStageScores Scores, float[] Itm) TwoStage(int k)
    {
        using var scope = torch.NewDisposeScope();
        using var model = NewModel(8);
        var (pixels, ids, mask) = Inputs(5, 9);
        using var _ = torch.no_grad();
        var hidden = model.EncodeText(ids, mask);
        var video = model.EncodeVideo(pixels);
        var scores = TwoStageRetrieval.Score(model, hidden, mask, video.Tokens, video.FrameVectors,
            new TwoStageOptions { TopK = k, PairBatch = 3, TextChunk = 2, VideoChunk = 3 });
        // The ITM score of every pair, one text at a time against all videos, as the reference.
        var itm = new float[25];
        for (int t = 0; t < 5; t++)
        {
            var rows = torch.full(5, t, dtype: ScalarType.Int64);
            model.MatchScore(hidden.index_select(0, rows), mask.index_select(0, rows), video.Tokens).data<float>().CopyTo(itm, t * 5);
        }
        return (scores, itm);
    }

    [Fact]
    public void WithKEqualToAllVideosTheOrderIsTheItmOrder()
    {
        var (s, itm) = TwoStage(k: 5);
        Assert.Equal(5, s.TopK);
        float offset = s.Reranked[0] - itm[0];
        for (int i = 0; i < 25; i++) Assert.Equal(itm[i] + offset, s.Reranked[i], 3);
        for (int t = 0; t < 5; t++)
        {
            var byItm = Enumerable.Range(0, 5).OrderByDescending(v => itm[t * 5 + v]).ToArray();
            var byFinal = Enumerable.Range(0, 5).OrderByDescending(v => s.Reranked[t * 5 + v]).ToArray();
            Assert.Equal(byItm, byFinal);
        }
    }

    [Theory, InlineData(1), InlineData(2)]
    public void OutsideTheTopKTheItcOrderStands(int k)
    {
        var (s, itm) = TwoStage(k);
        for (int t = 0; t < 5; t++)
        {
            var row = s.Itc.AsSpan(t * 5, 5).ToArray();
            var final = s.Reranked.AsSpan(t * 5, 5).ToArray();
            var top = Enumerable.Range(0, 5).OrderByDescending(v => row[v]).Take(k).ToHashSet();
            var rest = Enumerable.Range(0, 5).Where(v => !top.Contains(v)).ToArray();
            foreach (int v in rest) Assert.Equal(row[v], final[v]);                                // value, hence rank, unchanged
            Assert.True(top.Min(v => final[v]) > rest.Max(v => final[v]), "every re-scored video ranks above the rest");
            if (k == 1) Assert.Equal(Array.IndexOf(row, row.Max()), Array.IndexOf(final, final.Max())); // top-1 is ITC's top-1
            var topByItm = top.OrderByDescending(v => itm[t * 5 + v]).ToArray();
            Assert.Equal(topByItm, top.OrderByDescending(v => final[v]).ToArray());
        }
    }

    [Theory, InlineData(FusionKind.T2V2T), InlineData(FusionKind.SelfAttention)]
    public void SaveThenLoadGivesIdenticalOutputs(FusionKind fusion)
    {
        using var scope = torch.NewDisposeScope();
        using var tmp = TestPaths.NewTempDir();
        using var model = NewModel(11, fusion);
        model.Save(tmp.Path);
        using var again = VideoLanguageModel.Load(tmp.Path);
        Assert.Equal(model.Config, again.Config);
        var (pixels, ids, mask) = Inputs(3, 12);
        using var _ = torch.no_grad();
        foreach (var m in new[] { model, again }) m.eval();
        Tensor Outputs(VideoLanguageModel m)
        {
            var h = m.EncodeText(ids, mask); var v = m.EncodeVideo(pixels);
            return torch.cat(new[] { m.ItcSimilarity(h.select(1, 0), v.FrameVectors).flatten(), m.MatchScore(h, mask, v.Tokens) }, 0);
        }
        TensorAssert.Close(Outputs(model), Outputs(again), 0, "outputs after save/load");
        File.WriteAllText(Path.Combine(tmp.Path, "config.json"), "{\"model_type\": \"clip\"}");
        Assert.Throws<VidSeekException>(() => VideoLanguageModel.Load(tmp.Path));
    }
}
