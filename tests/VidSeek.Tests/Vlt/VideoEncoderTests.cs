using TorchSharp;
using VidSeek.Models.Clip.Module;
using VidSeek.Models.Vlt;
using static TorchSharp.torch;
using static VidSeek.Tests.Vlt.VltTestKit;

namespace VidSeek.Tests.Vlt;

public class VideoEncoderTests
{
    [Fact]
    public void AtInitEveryFrameIsTheImageVitAndAnOpenGateMixesTheFrames()
    {
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        torch.manual_seed(3);
        using var encoder = new VideoEncoder(TinyVideo);
        encoder.eval();
        var sd = encoder.state_dict();
        Assert.All(encoder.TemporalBlocks, block => Assert.Equal(0f, block.Gate.item<float>()));
        Assert.Equal(0f, sd["temporal_embedding"].abs().max().item<float>());

        // The image ViT: CLIP's vision tower with the encoder's spatial weights (the same keys).
        using var vit = new ClipVisionTransformer(TinyVideo.ToClipVision());
        var vitKeys = vit.state_dict().Keys.ToHashSet();
        var (missing, unexpected) = vit.load_state_dict(sd.Where(kv => vitKeys.Contains(kv.Key)).ToDictionary(kv => kv.Key, kv => kv.Value));
        Assert.Empty(missing);
        vit.eval();

        var pixels = torch.randn(new long[] { 2, 3, 3, 16, 16 });
        var output = encoder.forward(pixels);
        for (int t = 0; t < 3; t++)
        {
            var perFrame = LayerNorm(sd, "post_layernorm", vit.forward(pixels.select(1, t)).LastHiddenState);
            TensorAssert.Close(perFrame, output.Tokens.select(1, t), 1e-5, $"frame {t} at init vs the image ViT");
        }
        var pooled = LayerNorm(sd, "frame_layernorm", output.Tokens.narrow(2, 1, 4).mean(new long[] { 2 }));
        TensorAssert.Close(pooled, output.FrameVectors, 1e-6, "frame vectors = LN(mean of patch tokens)");

        var noise = torch.zeros_like(pixels);
        noise.select(1, 1).copy_(torch.randn(2, 3, 16, 16));
        TensorAssert.Close(output.Tokens.select(1, 0), encoder.forward(pixels + noise).Tokens.select(1, 0), 1e-6, "frame 0 at init when frame 1 changes");

        foreach (var block in encoder.TemporalBlocks) block.Gate.fill_(0.5f);
        var open = encoder.forward(pixels);
        Differ(output.Tokens, open.Tokens, 1e-3, "tokens with open gates");
        Differ(open.Tokens.select(1, 0), encoder.forward(pixels + noise).Tokens.select(1, 0), 1e-4, "frame 0 with open gates when frame 1 changes");
    }

    [Fact]
    public void TemporalEmbeddingIsSlicedForFewerFramesAndInterpolatedForMore()
    {
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        torch.manual_seed(4);
        using var encoder = new VideoEncoder(TinyVideo);
        encoder.eval();
        var e = encoder.state_dict()["temporal_embedding"];
        e.copy_(torch.randn(4, 32));
        TensorAssert.Close(e.narrow(0, 0, 2), encoder.TemporalEmbedding(2), 0, "2 of 4 frames");
        TensorAssert.Close(e, encoder.TemporalEmbedding(4), 0, "4 of 4 frames");
        // 7 frames: frame t reads position t * 3 / 6, the ends aligned.
        var expected = torch.stack(new[] { e[0], (e[0] + e[1]) / 2, e[1], (e[1] + e[2]) / 2, e[2], (e[2] + e[3]) / 2, e[3] });
        TensorAssert.Close(expected, encoder.TemporalEmbedding(7), 1e-6, "7 frames interpolated from 4");

        // It reaches the tokens: two identical frames of one video are told apart, with 2 and with 7 frames.
        foreach (int frames in new[] { 2, 7 })
        {
            var same = torch.randn(new long[] { 1, 1, 3, 16, 16 }).expand(1, frames, 3, 16, 16);
            var tokens = encoder.forward(same).Tokens;
            Assert.Equal(new long[] { 1, frames, 5, 32 }, tokens.shape);
            Differ(tokens.select(1, 0), tokens.select(1, 1), 1e-3, $"two identical frames of {frames}");
        }
    }

    [Fact]
    public void PresetsAreValidAndSized()
    {
        foreach (var (name, make) in VideoEncoderPresets.All) make().Validate(name);
        Assert.Equal(65, VideoEncoderPresets.ShapesSmall.TokensPerFrame);
        Assert.Equal(197, VideoEncoderPresets.VitB16.TokensPerFrame);
        var e = Assert.Throws<VidSeekException>(() => (TinyVideo with { ImageSize = 20 }).Validate("bad"));
        Assert.Contains("multiple of patch_size", e.Message);
    }
}
