using System.Text.Json;
using TorchSharp;
using VidSeek.Models.Clip;
using VidSeek.Tensors;
using VidSeek.Text;
using VidSeek.Video;
using static TorchSharp.torch;

namespace VidSeek.Tests;

/// <summary>The <c>vidseek</c> commands, run in-process as a user would type them.</summary>
[Collection(ProcessStateCollection.Name)]
public class CliTests
{
    private static string Tiny => Path.Combine(TestPaths.Golden, "clip-tiny");
    private static string TokenizerDir => Path.Combine(TestPaths.Golden, "clip-tokenizer");
    private static string Bars => Path.Combine(TestPaths.Videos, "bars_h264.mp4");

    private static void AssertOneLineError(string err, string expected)
    {
        Assert.Contains(expected, err);
        Assert.DoesNotContain("   at ", err); // no stack trace
        Assert.Single(err.Trim().Split('\n'));
    }

    [Fact]
    public void EmbedVideoPrintsTheModelsFrameEmbeddings()
    {
        var (code, stdout, err) = CliRunner.Run("embed-video", "--model", Tiny, "--frames", "5", Bars);
        Assert.True(code == 0, err);
        using var doc = JsonDocument.Parse(stdout);
        var item = doc.RootElement.GetProperty("items")[0];
        Assert.Equal(36, item.GetProperty("frame_count").GetInt32());
        Assert.Equal(FrameSampler.Uniform(36, 5), item.GetProperty("frame_indices").EnumerateArray().Select(e => e.GetInt32()));

        using var model = ClipModel.FromPretrained(Tiny);
        using var clip = VideoClipLoader.Load(Bars, 5, model.ImageSize);
        using var _ = torch.no_grad();
        using var expected = model.EncodeImages(clip.Pixels);
        var frames = item.GetProperty("frame_embeddings").EnumerateArray().Select(f => f.EnumerateArray().Select(x => x.GetSingle()).ToArray()).ToArray();
        using var actual = torch.tensor(frames.SelectMany(f => f).ToArray(), frames.Length, frames[0].Length);
        TensorAssert.Close(expected, actual, 1e-6, "frame_embeddings");
        using var mean = torch.tensor(item.GetProperty("video_embedding").EnumerateArray().Select(x => x.GetSingle()).ToArray());
        TensorAssert.Close(expected.mean(new long[] { 0 }), mean, 1e-6, "video_embedding");
    }

    [Fact]
    public void EmbedVideoOutWritesSafetensors()
    {
        using var tmp = TestPaths.NewTempDir();
        string outFile = Path.Combine(tmp.Path, "v.safetensors");
        var (code, _, err) = CliRunner.Run("embed-video", "--model", Tiny, "--frames", "3", "--normalize", "--out", outFile, Bars, Path.Combine(TestPaths.Videos, "oneframe_h264.mov"));
        Assert.True(code == 0, err);
        var t = SafeTensors.Load(outFile, out var meta);
        Assert.Equal(new long[] { 2, 3, 64 }, t["frame_embeds"].shape);
        Assert.Equal(new long[] { 2, 64 }, t["video_embeds"].shape);
        Assert.Equal(new long[] { 0, 0, 0 }, t["frame_indices"][1].data<long>().ToArray());
        TensorAssert.Close(torch.ones(2), t["video_embeds"].norm(1, false, 2), 1e-5, "normalized");
        Assert.Contains("oneframe_h264.mov", meta["videos"]);
    }

    [Fact]
    public void BrokenVideoIsOneClearErrorAndNothingIsWritten()
    {
        using var tmp = TestPaths.NewTempDir();
        string outFile = Path.Combine(tmp.Path, "v.safetensors");
        string corrupt = Path.Combine(TestPaths.Videos, "corrupt_truncated.mp4");
        var (code, _, err) = CliRunner.Run("embed-video", "--model", Tiny, "--out", outFile, Bars, corrupt);
        Assert.Equal(1, code);
        AssertOneLineError(err, corrupt);
        Assert.Empty(Directory.GetFiles(tmp.Path));
    }

    [Fact]
    public void EmbedTextWithoutTokenizerFilesSaysWhatIsMissing()
    {
        var (code, _, err) = CliRunner.Run("embed-text", "--model", Tiny, "a red circle");
        Assert.Equal(1, code);
        AssertOneLineError(err, "vocab.json and merges.txt are missing; pass --tokenizer DIR");
    }

    [Fact]
    public void TokenizerOfAnotherModelIsAnErrorNotACrash()
    {
        var (code, _, err) = CliRunner.Run("embed-text", "--model", Tiny, "--tokenizer", TokenizerDir, "a red circle");
        Assert.Equal(1, code);
        AssertOneLineError(err, "outside the model's vocabulary of 1000");
    }

    [Fact]
    public void MissingModelFolderAndUnknownOptionsFail()
    {
        var (code, _, err) = CliRunner.Run("embed-video", "--model", "/no/such/model", Bars);
        Assert.Equal(1, code);
        AssertOneLineError(err, "model folder not found: /no/such/model");
        Assert.NotEqual(0, CliRunner.Run("embed-video", "--model", Tiny, "--bogus", Bars).Code);
        Assert.NotEqual(0, CliRunner.Run("embed-video", "--model", Tiny, "--frames", "0", Bars).Code);
        Assert.NotEqual(0, CliRunner.Run("no-such-command").Code);
    }

    /// <summary>A small random CLIP with the real 49,408-token vocabulary, so the real tokenizer fits it.</summary>
    [Fact]
    public void EmbedTextMatchesTheModelOnTokenizedInput()
    {
        using var tmp = TestPaths.NewTempDir();
        var config = ClipConfig.Load(Path.Combine(Tiny, "config.json")) with { };
        config = config with { TextConfig = config.TextConfig with { VocabSize = 49408, MaxPositionEmbeddings = 16, EosTokenId = 49407 } };
        using (var fresh = new ClipModel(config)) fresh.SavePretrained(tmp.Path);
        foreach (var f in new[] { "vocab.json", "merges.txt" }) File.Copy(Path.Combine(TokenizerDir, f), Path.Combine(tmp.Path, f));

        var (code, stdout, err) = CliRunner.Run("embed-text", "--model", tmp.Path, "a big red circle moves to the left", "a small cyan star spins");
        Assert.True(code == 0, err);
        using var doc = JsonDocument.Parse(stdout);
        var items = doc.RootElement.GetProperty("items");
        Assert.Equal(2, items.GetArrayLength());

        using var model = ClipModel.FromPretrained(tmp.Path);
        var tok = ClipTokenizer.FromFolder(tmp.Path);
        using var ids = tok.EncodeBatch(["a big red circle moves to the left", "a small cyan star spins"], 16).ToTensor();
        using var _ = torch.no_grad();
        using var expected = model.GetTextFeatures(ids);
        for (int i = 0; i < 2; i++)
        {
            using var actual = torch.tensor(items[i].GetProperty("embedding").EnumerateArray().Select(x => x.GetSingle()).ToArray());
            TensorAssert.Close(expected[i], actual, 1e-6, $"text {i}");
        }
    }
}
