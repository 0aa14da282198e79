using System.Text.RegularExpressions;
using TorchSharp;
using VidSeek.Models.Vlt;

namespace VidSeek.Tests.Vlt;

/// <summary>
/// <see cref="JointEncoderFlops"/>: hand counts for tiny configs, the linear layers the real modules hold, and how the
/// count grows with the video tokens.
/// </summary>
public class JointEncoderFlopsTests
{
    // Tiny shapes of the hand counts: N = 3 text tokens, T = 2 frames of L = 5 tokens (M = 10).
    private const long N = 3, T = 2, L = 5;

    /// <summary>Text width D = 16, F = 48, 2 fusion layers; video width W = Dv = 24, Fv = 40: every size differs, so a swapped one shows.</summary>
    private static VideoLanguageConfig WideVideo => new()
    {
        Text = new BertConfig { VocabSize = 50, HiddenSize = 16, NumHiddenLayers = 3, NumAttentionHeads = 2, IntermediateSize = 48, MaxPositionEmbeddings = 8, FusionLayer = 1, EncoderWidth = 24 },
        Video = new VideoEncoderConfig { ImageSize = 16, PatchSize = 8, HiddenSize = 24, NumHiddenLayers = 1, NumAttentionHeads = 2, IntermediateSize = 40, MaxFrames = 4 },
        Fusion = FusionKind.V2T, EmbedDim = 8,
    };

    /// <summary>As <see cref="WideVideo"/> with the video width equal to the text width (D = W = Dv = 16), as T2V and self-attention need; F = 48, Fv = 40.</summary>
    private static VideoLanguageConfig SameWidth(FusionKind fusion) => WideVideo with
    {
        Text = WideVideo.Text with { EncoderWidth = 16 },
        Video = WideVideo.Video with { HiddenSize = 16 },
        Fusion = fusion,
    };

    [Fact]
    public void V2TMatchesAHandCountWithAVideoWidthOtherThanTheTexts()
    {
        // One fusion layer, D = 16, W = 24, F = 48, N = 3, M = 10; a [r, k] x [k, c] product is 2*r*k*c.
        double selfProjections = 4 * (2.0 * 3 * 16 * 16);     // query, key, value, output.dense on the 3 text rows
        double selfScores = 2 * (2.0 * 3 * 16 * 3);           // QK^T and AV: 3 queries x 3 keys, summed over heads = width 16
        double crossTextSide = 2 * (2.0 * 3 * 16 * 16);       // cross query and output.dense on the text rows
        double crossVideoSide = 2 * (2.0 * 10 * 24 * 16);     // cross key and value: 10 video tokens, 24 -> 16
        double crossScores = 2 * (2.0 * 3 * 16 * 10);         // 3 queries x 10 video keys
        double ffn = 2.0 * 3 * 16 * 48 + 2.0 * 3 * 48 * 16;   // intermediate and output
        var expected = new FlopCount(2 * (selfProjections + crossTextSide + crossVideoSide + ffn), 2 * (selfScores + crossScores));

        Assert.Equal(new FlopCount(67_584, 4_992), expected);   // the same sum done once on paper
        Assert.Equal(expected, JointEncoderFlops.V2T(WideVideo, N, T, L));
    }

    [Fact]
    public void SelfAttentionMatchesAHandCountOverTextAndVideoTokensTogether()
    {
        // S = 3 + 10 = 13 tokens, all of them queries, keys and FFN rows, in both layers.
        double projections = 4 * (2.0 * 13 * 16 * 16);
        double scores = 2 * (2.0 * 13 * 16 * 13);
        double ffn = 2 * (2.0 * 13 * 16 * 48);
        var expected = new FlopCount(2 * (projections + ffn), 2 * scores);

        Assert.Equal(new FlopCount(133_120, 21_632), expected);
        Assert.Equal(expected, JointEncoderFlops.SelfAttention(SameWidth(FusionKind.SelfAttention), N, T, L));
    }

    [Theory, InlineData(false), InlineData(true)]
    public void T2V2TMatchesAHandCount(bool bypass)
    {
        // T2V, Dv = 16, Fv = 40, per frame 5 queries and 3 text keys (+ the frame's own 5 with the bypass), 2 frames.
        long keys = bypass ? 3 + 5 : 3;
        double queryAndOut = 2 * (2.0 * 10 * 16 * 16);           // q_proj, out_proj on the 10 frame tokens
        double keysAndValues = 2 * (2.0 * (2 * keys) * 16 * 16);  // k_proj, v_proj: the text keys once per frame
        double scores = 2 * 2 * (2.0 * 5 * 16 * keys);           // QK^T and AV, in each of the 2 frames
        double mlp = 2.0 * 10 * 16 * 40 + 2.0 * 10 * 40 * 16;   // fc1, fc2 on the 10 frame tokens
        var t2v = new FlopCount(queryAndOut + keysAndValues + mlp, scores);
        // Then V2T as in the hand count above, with W = 16.
        var v2t = new FlopCount(2 * (4 * (2.0 * 3 * 16 * 16) + 2 * (2.0 * 3 * 16 * 16) + 2 * (2.0 * 10 * 16 * 16) + 2 * (2.0 * 3 * 16 * 48)),
            2 * (2 * (2.0 * 3 * 16 * 3) + 2 * (2.0 * 3 * 16 * 10)));
        var expected = t2v + v2t;

        Assert.Equal(bypass ? new FlopCount(109_568, 10_112) : new FlopCount(99_328, 6_912), expected);
        var config = SameWidth(bypass ? FusionKind.T2V2T : FusionKind.NaiveT2V2T);
        Assert.Equal(expected, bypass ? JointEncoderFlops.T2V2T(config, N, T, L) : JointEncoderFlops.NaiveT2V2T(config, N, T, L));
    }

    public static TheoryData<FusionKind> Kinds => new(Enum.GetValues<FusionKind>());

    /// <summary>
    /// The Linear part against the weights the real modules hold: every 2-D weight of the joint encoder and of the BERT
    /// fusion layers it runs, times 2 x the rows it is applied to. A Linear the formula forgets, or a width it takes from
    /// the wrong config, shows here. (The row counts are restated from the module code: which rows a Linear sees is what
    /// the hand counts check.)
    /// </summary>
    [Theory, MemberData(nameof(Kinds))]
    public void TheLinearPartCoversEveryWeightOfTheModulesThatRun(FusionKind kind)
    {
        var config = kind == FusionKind.V2T ? WideVideo : SameWidth(kind);
        using var bert = new BertModel(config.TextModelConfig);
        using var joint = JointEncoder.Create(config);
        long m = T * L;
        double flops = 0;
        var fusionLayer = new Regex(@"^encoder\.layer\.(\d+)\.");
        if (kind != FusionKind.SelfAttention)
            foreach (var (name, p) in bert.named_parameters())
            {
                var match = fusionLayer.Match(name);
                if (p.dim() != 2 || !match.Success || int.Parse(match.Groups[1].Value) < config.Text.TextLayers) continue;
                bool videoSide = name.Contains("crossattention.self.key") || name.Contains("crossattention.self.value");
                flops += 2.0 * (videoSide ? m : N) * p.numel();
            }
        foreach (var (name, p) in joint.named_parameters())
        {
            if (p.dim() != 2) continue;
            long rows = kind switch
            {
                FusionKind.SelfAttention => N + m,
                _ when name.Contains("k_proj") || name.Contains("v_proj") => T * (N + (kind == FusionKind.T2V2T ? L : 0)),
                _ => m,
            };
            flops += 2.0 * rows * p.numel();
        }
        Assert.Equal(flops, JointEncoderFlops.PerPair(config, N, T, L).Linear);
    }

    [Theory, MemberData(nameof(Kinds))]
    public void PerPairDispatchesOnTheConfigsFusion(FusionKind kind)
    {
        var config = VideoLanguagePresets.Base(kind);
        Func<VideoLanguageConfig, long, long, long, FlopCount> method = kind switch
        {
            FusionKind.V2T => JointEncoderFlops.V2T,
            FusionKind.SelfAttention => JointEncoderFlops.SelfAttention,
            FusionKind.NaiveT2V2T => JointEncoderFlops.NaiveT2V2T,
            _ => JointEncoderFlops.T2V2T,
        };
        Assert.Equal(method(config, 32, 8, 50), JointEncoderFlops.PerPair(config, 32, 8, 50));
        Assert.Equal(method(config, 32, 8, 50), JointEncoderFlops.PerPair(kind, VideoLanguagePresets.Base(FusionKind.V2T), 32, 8, 50));
    }

    /// <summary>Second difference of f over T = t, t+1, t+2 at fixed L: zero for a cost linear in the frames.</summary>
    private static double SecondDifference(Func<long, double> f, long t) => f(t + 2) - 2 * f(t + 1) + f(t);

    [Fact]
    public void SelfAttentionGrowsQuadraticallyInTheVideoTokensAndV2TLinearly()
    {
        // Base widths: D = 768, n_f = 3. M = T*L grows by h = L per frame.
        const long n = 32, l = 197;
        var sa = VideoLanguagePresets.Base(FusionKind.SelfAttention);
        var v2t = VideoLanguagePresets.Base(FusionKind.V2T);
        foreach (long t in new long[] { 1, 4, 8 })
        {
            Assert.Equal(0.0, SecondDifference(t2 => JointEncoderFlops.V2T(v2t, n, t2, l).Total, t));
            // 4*S^2*D per layer has the second difference 8*D*h^2; the linear part has none.
            Assert.Equal(3 * 8.0 * 768 * l * l, SecondDifference(t2 => JointEncoderFlops.SelfAttention(sa, n, t2, l).Total, t));
            Assert.Equal(0.0, SecondDifference(t2 => JointEncoderFlops.SelfAttention(sa, n, t2, l).Linear, t));
        }
        // At 16 frames of 197 tokens self-attention costs an order of magnitude more than V2T, and its attention
        // matmuls alone outgrow V2T's whole cost.
        var big = (Sa: JointEncoderFlops.SelfAttention(sa, n, 16, l), V2T: JointEncoderFlops.V2T(v2t, n, 16, l));
        Assert.InRange(big.Sa.Total / big.V2T.Total, 8, 12);
        Assert.True(big.Sa.Attention > big.V2T.Total);
    }

    [Fact]
    public void T2V2TIsLinearInFramesAndQuadraticOnlyInTokensPerFrame()
    {
        var config = VideoLanguagePresets.Base(FusionKind.T2V2T);
        // Attention stays within a frame: T frames cost T times one frame.
        Assert.Equal(0.0, SecondDifference(t => JointEncoderFlops.T2V2T(config, 32, t, 50).Total, 4));
        // L*(N+L) scores a frame: second difference over L of 4*T*L^2*Dv is 8*T*Dv per T2V layer.
        double OverL(long l) => JointEncoderFlops.T2V2T(config, 32, 8, l).Attention;
        Assert.Equal(8.0 * 8 * 768, OverL(52) - 2 * OverL(51) + OverL(50));
    }

    [Theory, InlineData(32, 4, 17), InlineData(32, 16, 197), InlineData(1, 8, 50)]
    public void T2V2TAddsToNaiveT2V2TOnlyTheOwnFrameKeys(long n, long t, long l)
    {
        var config = VideoLanguagePresets.Base(FusionKind.T2V2T);
        var naive = JointEncoderFlops.NaiveT2V2T(config, n, t, l);
        var bypass = JointEncoderFlops.T2V2T(config, n, t, l);
        double dv = config.Video.HiddenSize;
        // Per T2V layer: k_proj and v_proj on the T*L own-frame rows, and L more keys for each of the T*L queries.
        Assert.Equal(config.T2VLayers * 4.0 * t * l * dv * dv, bypass.Linear - naive.Linear);
        Assert.Equal(config.T2VLayers * 4.0 * t * l * l * dv, bypass.Attention - naive.Attention);
        // Both then run the same V2T.
        var v2t = JointEncoderFlops.V2T(config, n, t, l);
        Assert.Equal(naive.Total - v2t.Total, JointEncoderFlops.T2VLayer(config.Video, n, t, l, includeOwnFrame: false).Total * config.T2VLayers);
    }

    [Fact]
    public void RefusesEmptyVideo()
    {
        var config = VideoLanguagePresets.Base(FusionKind.V2T);
        Assert.Throws<ArgumentOutOfRangeException>(() => JointEncoderFlops.V2T(config, 32, 0, 50));
        Assert.Throws<ArgumentOutOfRangeException>(() => JointEncoderFlops.SelfAttention(config, 32, 4, 0));
    }
}
