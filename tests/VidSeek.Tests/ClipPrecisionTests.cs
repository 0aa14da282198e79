using System.Text.Json;
using TorchSharp;
using TorchSharp.Modules;
using VidSeek.Models;
using VidSeek.Models.Clip;
using VidSeek.Tensors;
using VidSeek.Video;
using static TorchSharp.torch;

namespace VidSeek.Tests;

/// <summary>
/// bf16 inference of the CLIP towers (<see cref="ClipModel.SetPrecision"/>, <c>--precision bf16</c>): close to fp32 on the
/// golden tiny CLIP, really computed in bf16 (not equal to fp32), and accepted by every command that encodes.
/// In the process-state collection because <c>--precision</c> sets <see cref="InferencePrecision.Current"/> for the process.
/// </summary>
[Collection(ProcessStateCollection.Name)]
public class ClipPrecisionTests
{
    private static string Tiny => Path.Combine(TestPaths.Golden, "clip-tiny");
    private static string Bars => Path.Combine(TestPaths.Videos, "bars_h264.mp4");

    private static double MinCosine(Tensor a, Tensor b) =>
        nn.functional.cosine_similarity(a.to(ScalarType.Float64), b.to(ScalarType.Float64), dim: -1).min().ToDouble();

    [Fact]
    public void Bf16EmbeddingsOfTheGoldenClipAreCloseToFp32()
    {
        using var scope = torch.NewDisposeScope();
        using var model = ClipModel.FromPretrained(Tiny);
        var inputs = SafeTensors.Load(Path.Combine(Tiny, "inputs.safetensors"));
        using var _ = torch.no_grad();
        var image32 = model.GetImageFeatures(inputs["pixel_values"]);
        var text32 = model.GetTextFeatures(inputs["input_ids"]);

        model.SetPrecision(Precision.Bf16);
        Assert.Equal(Precision.Bf16, model.Precision);
        var named = model.named_modules().ToList();
        Assert.All(named.Where(m => m.module is Linear or Conv2d), m => Assert.Equal(ScalarType.BFloat16, m.module.parameters().First().dtype));
        Assert.All(named.Where(m => m.module is LayerNorm), m => Assert.Equal(ScalarType.Float32, m.module.parameters().First().dtype));
        var image16 = model.GetImageFeatures(inputs["pixel_values"]);
        var text16 = model.GetTextFeatures(inputs["input_ids"]);

        Assert.Equal(ScalarType.Float32, image16.dtype);
        Assert.Equal(ScalarType.Float32, text16.dtype);
        Assert.True(MinCosine(image32, image16) > 0.99, $"image cosine {MinCosine(image32, image16)}");
        Assert.True(MinCosine(text32, text16) > 0.99, $"text cosine {MinCosine(text32, text16)}");
        // The bf16 path really ran: bf16 has 8 significant bits, so the features move.
        Assert.True((image32 - image16).abs().max().ToDouble() > 1e-4);
        Assert.True((text32 - text16).abs().max().ToDouble() > 1e-4);
    }

    [Fact]
    public void EmbedVideoWithBf16IsCloseToFp32AndBadValuesAreOneLineErrors()
    {
        var (code, stdout, err) = CliRunner.Run("embed-video", "--model", Tiny, "--frames", "4", "--precision", "bf16", Bars);
        Assert.True(code == 0, err);
        using var doc = JsonDocument.Parse(stdout);
        var frames = doc.RootElement.GetProperty("items")[0].GetProperty("frame_embeddings").EnumerateArray()
            .Select(f => f.EnumerateArray().Select(x => x.GetSingle()).ToArray()).ToArray();
        using var actual = torch.tensor(frames.SelectMany(f => f).ToArray(), frames.Length, frames[0].Length);
        using var model = ClipModel.FromPretrained(Tiny);
        using var clip = VideoClipLoader.Load(Bars, 4, model.ImageSize);
        using var _ = torch.no_grad();
        using var fp32 = model.EncodeImages(clip.Pixels);
        Assert.True(MinCosine(fp32, actual) > 0.99);
        Assert.True((fp32 - actual).abs().max().ToDouble() > 0, "bf16 gave exactly the fp32 embeddings");

        var bad = CliRunner.Run("embed-video", "--model", Tiny, "--precision", "fp16", Bars);
        Assert.NotEqual(0, bad.Code);
        Assert.Contains("fp16", bad.Err);
        Assert.DoesNotContain("   at ", bad.Err);
    }

    [Fact]
    public void EveryEncodingCommandAcceptsPrecision()
    {
        try
        {
            using var tmp = TestPaths.NewTempDir();
            string missing = Path.Combine(tmp.Path, "missing.vsi");
            // Each fails for its own reason (no index, no data), after the option parsed: never "unrecognized".
            foreach (var args in new[]
            {
                new[] { "search", missing, "a query", "--precision", "bf16" },
                new[] { "index", tmp.Path, "--model", Tiny, "--out", Path.Combine(tmp.Path, "x.vsi"), "--precision", "bf16", "--frames", "0" },
                new[] { "eval", "--checkpoint", Tiny, "--data", Path.Combine(tmp.Path, "nodata"), "--precision", "bf16" },
                new[] { "embed-text", "--model", Tiny, "--precision", "bf16", "--tokenizer", Path.Combine(tmp.Path, "notok"), "a" },
            })
            {
                var (code, _, err) = CliRunner.Run(args);
                Assert.NotEqual(0, code);
                Assert.DoesNotContain("precision", err.ToLowerInvariant());
                Assert.DoesNotContain("unrecognized", err.ToLowerInvariant());
            }
        }
        finally
        {
            InferencePrecision.Current = Precision.Fp32;
        }
    }
}
