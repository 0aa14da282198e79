using TorchSharp;
using VidSeek.Models.Vlt;
using VidSeek.Models.Vlt.Module;
using static TorchSharp.torch;
using static VidSeek.Tests.Vlt.VltTestKit;

namespace VidSeek.Tests.Vlt;

/// <summary>The T2V layers (Bypass CA and naive), the four joint encoders and the <see cref="VideoLanguageModel"/> heads.</summary>
public class FusionTests
{
    private const int Heads = 4;
    private static readonly long[] RealTokens = { 4, 6 };

    private static BypassCrossAttention T2VLayer(bool ownFrame)
    {
        torch.manual_seed(1);
        var layer = new BypassCrossAttention(32, Heads, 64, "quick_gelu", 1e-5, ownFrame);
        Randomize(layer);
        layer.eval();
        return layer;
    }

    /// <summary>F_V <c>[2, 3, 5, 32]</c>, F_T <c>[2, 6, 32]</c> and a mask with two padded tokens in row 0.</summary>
    private static (Tensor Video, Tensor Text, Tensor Mask) T2VInputs()
    {
        torch.manual_seed(11);
        var mask = torch.tensor(new long[,] { { 1, 1, 1, 1, 0, 0 }, { 1, 1, 1, 1, 1, 1 } });
        return (torch.randn(2, 3, 5, 32), torch.randn(2, 6, 32), mask);
    }

    [Theory, InlineData(true), InlineData(false)]
    public void T2VIsTheDocumentedAttentionOverTextAndTheFramesOwnTokens(bool ownFrame)
    {
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        using var layer = T2VLayer(ownFrame);
        var sd = layer.state_dict();
        var (video, text, mask) = T2VInputs();
        var output = layer.forward(video, text, mask);
        Assert.Equal(new long[] { 2, 3, 5, 32 }, output.shape);
        for (int b = 0; b < 2; b++)
            for (int i = 0; i < 3; i++)
            {
                // By hand, with the real text tokens only (no mask at all) and frame i's own tokens (bypass) or none.
                var expected = T2VFrame(sd, video[b, i], text[b].narrow(0, 0, RealTokens[b]), ownFrame, Heads, "quick_gelu");
                TensorAssert.Close(expected, output[b, i], 1e-5, $"T2V output of video {b}, frame {i}");
            }
        // The other key set gives another result: the frame's own tokens act as keys/values, beyond the query path.
        var other = T2VFrame(sd, video[1, 2], text[1], !ownFrame, Heads, "quick_gelu");
        Differ(other, output[1, 2], 1e-2, "T2V with the other key set");
    }

    [Fact]
    public void OwnFrameShareIsTheAttentionMassOnTheFramesOwnKeys()
    {
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        using var layer = T2VLayer(ownFrame: true);
        var (video, text, mask) = T2VInputs();
        var share = layer.OwnFrameShare(video, text, mask);                                  // [2, 3, 5]
        Assert.Equal(new long[] { 2, 3, 5 }, share.shape);
        Assert.True(share.gt(0).all().item<bool>() && share.lt(1).all().item<bool>(), "a share in (0, 1) with words and own tokens as keys");
        // By hand for video 0, frame 1: softmax over [real words ; own tokens] of the scaled scores, per head, then the mean.
        var sd = layer.state_dict();
        var q = nn.functional.layer_norm(video[0, 1], [32], sd["layer_norm_video.weight"], sd["layer_norm_video.bias"], 1e-5);
        var words = nn.functional.layer_norm(text[0].narrow(0, 0, RealTokens[0]), [32], sd["layer_norm_text.weight"], sd["layer_norm_text.bias"], 1e-5);
        var keys = torch.cat(new[] { words, q }, 0);
        var qp = nn.functional.linear(q, sd["cross_attn.q_proj.weight"], sd["cross_attn.q_proj.bias"]).view(5, Heads, 8).transpose(0, 1);
        var kp = nn.functional.linear(keys, sd["cross_attn.k_proj.weight"], sd["cross_attn.k_proj.bias"]).view(-1, Heads, 8).transpose(0, 1);
        var p = (qp.matmul(kp.transpose(1, 2)) / Math.Sqrt(8)).softmax(-1);                    // [H, 5, N+5]
        var expected = p.narrow(2, RealTokens[0], 5).sum(2).mean(new long[] { 0 });           // [5]
        TensorAssert.Close(expected, share[0, 1], 1e-5, "own-frame share of video 0, frame 1");
        // With every word masked the frame is all there is to attend to.
        TensorAssert.Close(torch.ones(2, 3, 5), layer.OwnFrameShare(video, text, torch.zeros_like(mask)), 1e-6, "share with the text masked out");
        using var naive = T2VLayer(ownFrame: false);
        Assert.Equal(0f, naive.OwnFrameShare(video, text, mask).abs().max().item<float>());
    }

    [Theory, InlineData(true), InlineData(false)]
    public void NoOtherFrameEntersAFramesT2VOutput(bool ownFrame)
    {
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        using var layer = T2VLayer(ownFrame);
        var (video, text, mask) = T2VInputs();
        var output = layer.forward(video, text, mask);
        var noise = torch.zeros_like(video);
        noise.select(1, 1).copy_(torch.randn(2, 5, 32) * 2);
        var changed = layer.forward(video + noise, text, mask);
        foreach (int i in new[] { 0, 2 })
            TensorAssert.Close(output.select(1, i), changed.select(1, i), 1e-6, $"frame {i} when frame 1 changes");
        Differ(output.select(1, 1), changed.select(1, 1), 1e-2, "frame 1 when its own tokens change");
    }

    [Theory, InlineData(true), InlineData(false)]
    public void T2VNeverReadsPaddedTextButReadsItWithoutTheMask(bool ownFrame)
    {
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        using var layer = T2VLayer(ownFrame);
        var (video, text, mask) = T2VInputs();
        var output = layer.forward(video, text, mask);
        var otherPadding = torch.where(mask.eq(0).unsqueeze(-1), torch.randn(2, 6, 32) * 5, text);
        TensorAssert.Close(output, layer.forward(video, otherPadding, mask), 1e-6, "T2V with other hidden states at padded text positions");
        var unmasked = layer.forward(video, otherPadding, torch.ones_like(mask));
        Differ(output[0], unmasked[0], 1e-2, "T2V of the padded row without the mask");
    }

    [Fact]
    public void WithoutTextBypassAttentionIsPerFrameSelfAttention()
    {
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        using var layer = T2VLayer(ownFrame: true);
        var sd = layer.state_dict();
        var (video, text, mask) = T2VInputs();
        var allMasked = layer.forward(video, text, torch.zeros_like(mask));
        var noText = layer.forward(video, text.narrow(1, 0, 0), mask.narrow(1, 0, 0));
        for (int b = 0; b < 2; b++)
            for (int i = 0; i < 3; i++)
            {
                // A pre-LN self-attention block over the frame's L tokens, with the layer's weights.
                var f = video[b, i];
                var n = LayerNorm(sd, "layer_norm_video", f);
                var h = f + Attention(sd, "cross_attn", n, n, Heads);
                var expected = h + Linear(sd, "mlp.fc2", Models.Activations.QuickGelu(Linear(sd, "mlp.fc1", LayerNorm(sd, "layer_norm_mlp", h))));
                TensorAssert.Close(expected, allMasked[b, i], 1e-5, $"all text masked, video {b} frame {i}");
                TensorAssert.Close(expected, noText[b, i], 1e-5, $"no text tokens, video {b} frame {i}");
            }
        using var naive = T2VLayer(ownFrame: false);
        Assert.Throws<ArgumentException>(() => naive.forward(video, text.narrow(1, 0, 0), mask.narrow(1, 0, 0)));
    }

    [Theory, InlineData(true), InlineData(false)]
    public void PermutingTheFramesPermutesTheT2VOutput(bool ownFrame)
    {
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        using var layer = T2VLayer(ownFrame);
        var (video, text, mask) = T2VInputs();
        var perm = torch.tensor(new long[] { 2, 0, 1 });
        var output = layer.forward(video, text, mask);
        var permuted = layer.forward(video.index_select(1, perm), text, mask);
        TensorAssert.Close(output.index_select(1, perm), permuted, 1e-6, "T2V of permuted frames");
    }

    /// <summary>A model with random weights, ids <c>[2, 7]</c> with 3 padded tokens in row 0, and F_V <c>[2, 3, 5, 32]</c>.</summary>
    private static (VideoLanguageModel Model, Tensor Ids, Tensor Mask, Tensor Video) JointInputs(FusionKind kind)
    {
        torch.manual_seed(2);
        var model = new VideoLanguageModel(TinyModel(kind));
        Randomize(model, 0.2);
        model.eval();
        var ids = torch.randint(3, 100, new long[] { 2, 7 }, dtype: ScalarType.Int64);
        var mask = torch.tensor(new long[,] { { 1, 1, 1, 1, 0, 0, 0 }, { 1, 1, 1, 1, 1, 1, 1 } });
        return (model, ids, mask, torch.randn(2, 3, 5, 32));
    }

    public static TheoryData<FusionKind> Kinds => new(Enum.GetValues<FusionKind>());

    [Theory, MemberData(nameof(Kinds))]
    public void PaddedTextIsNeverAKeyInAnyJointEncoder(FusionKind kind)
    {
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        var (model, ids, mask, video) = JointInputs(kind);
        using var __ = model;
        var text = model.EncodeText(ids, mask);
        var cls = model.FusedCls(text, mask, video);

        var otherIds = torch.where(mask.eq(0), (ids * 7 + 5) % 90 + 3, ids);
        Assert.True(otherIds.ne(ids).any().item<bool>());
        TensorAssert.Close(cls, model.FusedCls(model.EncodeText(otherIds, mask), mask, video), 1e-5, $"{kind} [CLS] with other padded ids");

        var otherHidden = torch.where(mask.eq(0).unsqueeze(-1), torch.randn(2, 7, 32) * 3, text);
        TensorAssert.Close(cls, model.FusedCls(otherHidden, mask, video), 1e-5, $"{kind} [CLS] with other padded hidden states");
        var unmasked = model.FusedCls(otherHidden, torch.ones_like(mask), video);
        Differ(cls[0], unmasked[0], 1e-3, $"{kind} [CLS] of the padded row without the mask");
    }

    [Theory, MemberData(nameof(Kinds))]
    public void NoJointEncoderReadsTheFrameOrderButAllReadTheVideo(FusionKind kind)
    {
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        var (model, ids, mask, video) = JointInputs(kind);
        using var __ = model;
        var text = model.EncodeText(ids, mask);
        var cls = model.FusedCls(text, mask, video);
        // T2V maps frames to frames (equivariant) and V2T / self-attention read a set of tokens without frame positions.
        var permuted = model.FusedCls(text, mask, video.index_select(1, torch.tensor(new long[] { 2, 0, 1 })));
        TensorAssert.Close(cls, permuted, 1e-5, $"{kind} [CLS] of permuted frames");
        Differ(cls, model.FusedCls(text, mask, video.flip(0)), 1e-3, $"{kind} [CLS] with the videos swapped");
    }

    [Fact]
    public void V2TIgnoresTheOrderOfTheVideoTokensInItsMemory()
    {
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        var (model, ids, mask, video) = JointInputs(FusionKind.V2T);
        using var __ = model;
        var text = model.EncodeText(ids, mask);
        var shuffled = video.flatten(1, 2).index_select(1, torch.randperm(15)).view(2, 3, 5, 32);
        TensorAssert.Close(model.FusedCls(text, mask, video), model.FusedCls(text, mask, shuffled), 1e-5, "V2T [CLS] of shuffled video tokens");
    }

    [Theory, MemberData(nameof(Kinds))]
    public void EveryVariantHasTheDocumentedShapesAndKeys(FusionKind kind)
    {
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        var (model, ids, mask, _) = JointInputs(kind);
        using var __ = model;
        Assert.Equal(kind, model.Joint.Kind);
        var video = model.EncodeVideo(torch.randn(new long[] { 2, 3, 3, 16, 16 }));
        Assert.Equal(new long[] { 2, 3, 5, 32 }, video.Tokens.shape);
        Assert.Equal(new long[] { 2, 3, 32 }, video.FrameVectors.shape);
        var text = model.EncodeText(ids, mask);
        Assert.Equal(new long[] { 2, 7, 32 }, text.shape);
        Assert.Equal(new long[] { 2, 32 }, model.FusedCls(text, mask, video.Tokens).shape);
        var logits = model.ItmLogits(text, mask, video.Tokens);
        Assert.Equal(new long[] { 2, 2 }, logits.shape);
        TensorAssert.Close(logits.select(1, 1), model.MatchScore(text, mask, video.Tokens), 1e-6, "match score = logit of column 1");

        var keys = model.state_dict().Keys.ToHashSet();
        Assert.Contains("itm_head.weight", keys);
        Assert.Contains("temp", keys);
        Assert.Contains("video_encoder.encoder.temporal.1.gate", keys);
        Assert.Equal(kind == FusionKind.SelfAttention, keys.Contains("joint.layer.1.output.LayerNorm.weight"));
        Assert.Equal(kind != FusionKind.SelfAttention, keys.Contains("text_encoder.encoder.layer.2.crossattention.self.key.weight"));
        Assert.Equal(kind is FusionKind.T2V2T or FusionKind.NaiveT2V2T, keys.Contains("joint.t2v.0.cross_attn.k_proj.weight"));
    }

    [Fact]
    public void ItcSimilarityIsTheMeanFrameCosineAndTheTemperatureIsClamped()
    {
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        var (model, _, _, _) = JointInputs(FusionKind.V2T);
        using var __ = model;
        var cls = torch.randn(3, 32);
        var frames = torch.randn(2, 4, 32);
        var sims = model.ItcSimilarity(cls, frames);
        Assert.Equal(new long[] { 3, 2 }, sims.shape);
        Assert.True(sims.abs().max().item<float>() <= 1 + 1e-6);
        var sd = model.state_dict();
        var t = Linear(sd, "proj_t", cls[1]);
        var f = Linear(sd, "proj_v", frames[0]);                                   // [4, E]
        var expected = nn.functional.cosine_similarity(f, t.unsqueeze(0).expand_as(f), 1).mean();
        TensorAssert.Close(expected, sims[1, 0], 1e-6, "similarity of text 1 and video 0");

        using var fresh = new VideoLanguageModel(TinyModel(FusionKind.V2T));
        Assert.Equal(0.07f, fresh.Temperature().item<float>(), 6);
        var temp = fresh.state_dict()["temp"];
        temp.fill_(2f);
        Assert.Equal(0.5f, fresh.Temperature().item<float>());
        Assert.Equal(0.5f, temp.item<float>());   // the parameter itself is clamped
        temp.fill_(-1f);
        Assert.Equal(0.001f, fresh.Temperature().item<float>());
    }

    [Fact]
    public void ConfigChecksTheWidthsEachVariantNeeds()
    {
        var wide = TinyModel(FusionKind.V2T) with { Text = TinyText with { HiddenSize = 64, EncoderWidth = 32 } };
        wide.Validate("v2t");   // V2T reads 32-wide video tokens from a 64-wide text stream
        var e = Assert.Throws<VidSeekException>(() => (wide with { Fusion = FusionKind.T2V2T }).Validate("t2v2t"));
        Assert.Contains("needs the text and video widths equal", e.Message);
        e = Assert.Throws<VidSeekException>(() => (TinyModel(FusionKind.V2T) with { Text = TinyText with { EncoderWidth = 16 } }).Validate("v2t"));
        Assert.Contains("encoder_width", e.Message);
        e = Assert.Throws<VidSeekException>(() => (TinyModel(FusionKind.V2T) with { Text = TinyText with { FusionLayer = 3 } }).Validate("v2t"));
        Assert.Contains("needs fusion layers", e.Message);
        VideoLanguagePresets.ShapesSmall(FusionKind.T2V2T).Validate("shapes-small");
        VideoLanguagePresets.Base(FusionKind.SelfAttention).Validate("base");
    }
}
