using TorchSharp;
using VidSeek.Models;
using VidSeek.Models.Vlt;
using static TorchSharp.torch;
using static VidSeek.Tests.Vlt.VltTestKit;

namespace VidSeek.Tests.Vlt;

/// <summary>
/// bf16 inference of the VLT encoders (<see cref="VideoLanguageModel.SetPrecision"/>, <c>--precision bf16</c>): for every
/// fusion, the text encoder's hidden states, the video encoder's tokens and frame vectors, the fused [CLS] and the ITC
/// and ITM scores stay within a cosine of 0.99 of fp32 on a tiny random-weight model, the bf16 path really ran (the
/// outputs move), the right modules were converted (Linear and the patch convolution of the encoders; LayerNorms and the
/// heads on top stay float32), and the outputs come back as float32.
/// </summary>
public class VltPrecisionTests
{
    private static double MinCosine(Tensor a, Tensor b) =>
        nn.functional.cosine_similarity(a.to(ScalarType.Float64).flatten(0, -2), b.to(ScalarType.Float64).flatten(0, -2), dim: -1).min().ToDouble();

    private sealed record Outputs(Tensor Text, Tensor VideoTokens, Tensor FrameVectors, Tensor Cls, Tensor Itc, Tensor Itm);

    private static Outputs Run(VideoLanguageModel model, Tensor ids, Tensor mask, Tensor pixels)
    {
        var text = model.EncodeText(ids, mask);                                 // [2, 7, D]
        var video = model.EncodeVideo(pixels);                                  // [2, 3, L, D], [2, 3, D]
        var cls = model.FusedCls(text, mask, video.Tokens);                     // [2, D]
        var itc = model.ItcSimilarity(text.select(1, 0), video.FrameVectors);   // [2, 2]
        var itm = model.ItmLogits(text, mask, video.Tokens);                    // [2, 2]
        return new Outputs(text, video.Tokens, video.FrameVectors, cls, itc, itm);
    }

    [Theory, MemberData(nameof(FusionTests.Kinds), MemberType = typeof(FusionTests))]
    public void Bf16EncodersStayCloseToFp32(FusionKind kind)
    {
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        torch.manual_seed(11);
        using var model = new VideoLanguageModel(TinyModel(kind));
        Randomize(model, 0.1);
        model.eval();
        var ids = torch.randint(3, 100, new long[] { 2, 7 }, dtype: ScalarType.Int64);
        var mask = torch.tensor(new long[,] { { 1, 1, 1, 1, 0, 0, 0 }, { 1, 1, 1, 1, 1, 1, 1 } });
        int size = model.Config.Video.ImageSize;
        var pixels = torch.randn(new long[] { 2, 3, 3, size, size });
        var fp32 = Run(model, ids, mask, pixels);

        model.SetPrecision(Precision.Bf16);
        Assert.Equal(Precision.Bf16, model.Precision);
        foreach (var encoder in new nn.Module[] { model.VideoEncoder, model.TextEncoder, model.Joint })
        {
            var modules = encoder.named_modules().Select(m => m.module).ToList();
            // V2T's fusion layers live in the text encoder (its joint encoder has no weights of its own).
            if (encoder != model.Joint || kind != FusionKind.V2T) Assert.Contains(modules, m => m is TorchSharp.Modules.Linear);
            Assert.All(modules.Where(m => m is TorchSharp.Modules.Linear or TorchSharp.Modules.Conv2d), m => Assert.Equal(ScalarType.BFloat16, m.parameters().First().dtype));
            Assert.All(modules.Where(m => m is TorchSharp.Modules.LayerNorm), m => Assert.Equal(ScalarType.Float32, m.parameters().First().dtype));
        }
        Assert.All(model.named_parameters().Where(p => p.name.StartsWith("proj_", StringComparison.Ordinal) || p.name.StartsWith("itm_head.", StringComparison.Ordinal)),
            p => Assert.Equal(ScalarType.Float32, p.parameter.dtype));
        var bf16 = Run(model, ids, mask, pixels);

        var pairs = new (string Name, Tensor A, Tensor B)[]
        {
            ("text hidden states", fp32.Text, bf16.Text), ("video tokens", fp32.VideoTokens, bf16.VideoTokens),
            ("frame vectors", fp32.FrameVectors, bf16.FrameVectors), ("fused [CLS]", fp32.Cls, bf16.Cls),
        };
        foreach (var (name, a, b) in pairs)
        {
            Assert.Equal(ScalarType.Float32, b.dtype);
            Assert.True(MinCosine(a, b) > 0.99, $"{kind} {name}: cosine {MinCosine(a, b)}");
            // bf16 keeps 8 significant bits: a path that stayed in fp32 would give the same numbers to ~1e-7.
            Assert.True((a - b).abs().max().ToDouble() > 1e-4, $"{kind} {name}: bf16 gave the fp32 numbers");
        }
        Assert.True((fp32.Itc - bf16.Itc).abs().max().ToDouble() < 0.05, $"{kind} ITC similarities moved by {(fp32.Itc - bf16.Itc).abs().max().ToDouble()}");
        Assert.True((fp32.Itm.softmax(-1) - bf16.Itm.softmax(-1)).abs().max().ToDouble() < 0.05, $"{kind} ITM probabilities");
    }
}
