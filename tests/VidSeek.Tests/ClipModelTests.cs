using TorchSharp;
using VidSeek.Models.Clip;
using VidSeek.Tensors;
using static TorchSharp.torch;

namespace VidSeek.Tests;

public class ClipModelTests
{
    private static string TinyFolder => Path.Combine(TestPaths.Golden, "clip-tiny");

    /// <summary>
    /// The state_dict of ViT-B/32 built from its HF config, approved against Approved/clip-vit-base-patch32.state_dict.txt:
    /// 398 tensors with the HF names and shapes. On a difference the listing we produce is written beside it as
    /// *.received.txt so a reviewer can diff and, if the change is right, approve it by copying it over.
    /// </summary>
    [Fact]
    public void VitB32StateDictMatchesApprovedListing()
    {
        var config = ClipConfig.Load(Path.Combine(AppContext.BaseDirectory, "Fixtures", "clip-vit-base-patch32", "config.json"));
        using var model = new ClipModel(config);
        var sd = model.state_dict();
        var listing = sd.Select(kv => $"{kv.Key} [{string.Join(", ", kv.Value.shape)}]").ToList();
        Assert.Equal(398, listing.Count);
        Assert.Equal(151_277_313L, sd.Values.Sum(t => t.numel()));

        string approvedPath = Path.Combine(TestPaths.RepoRoot, "tests", "VidSeek.Tests", "Approved", "clip-vit-base-patch32.state_dict.txt");
        var approved = File.ReadAllLines(approvedPath);
        if (!approved.SequenceEqual(listing))
        {
            File.WriteAllLines(Path.ChangeExtension(approvedPath, ".received.txt"), listing);
            var firstDiff = approved.Zip(listing).Select((p, i) => (p, i)).FirstOrDefault(x => x.p.First != x.p.Second);
            Assert.Fail($"state_dict listing differs from {approvedPath} (first difference at line {firstDiff.i + 1}: '{firstDiff.p.First}' vs '{firstDiff.p.Second}'; {approved.Length} vs {listing.Count} lines)");
        }
    }

    [Fact]
    public void SaveThenLoadGivesIdenticalOutputs()
    {
        using var tmp = TestPaths.NewTempDir();
        using var scope = torch.NewDisposeScope();
        using var model = ClipModel.FromPretrained(TinyFolder);
        model.SavePretrained(tmp.Path);
        using var again = ClipModel.FromPretrained(tmp.Path);
        using var _ = torch.no_grad();
        var pixels = torch.randn(2, 3, 32, 32);
        var ids = torch.tensor(new long[] { 998, 5, 999, 0, 998, 7, 8, 999 }, 2, 4);
        Assert.Equal(0f, (model.GetImageFeatures(pixels) - again.GetImageFeatures(pixels)).abs().max().item<float>());
        Assert.Equal(0f, (model.GetTextFeatures(ids) - again.GetTextFeatures(ids)).abs().max().item<float>());
    }

    [Fact]
    public void HfPositionIdsBuffersAreAcceptedAndIgnored()
    {
        using var tmp = TestPaths.NewTempDir();
        var weights = SafeTensors.Load(Path.Combine(TinyFolder, "model.safetensors"));
        weights["text_model.embeddings.position_ids"] = torch.arange(16, dtype: ScalarType.Int64).unsqueeze(0);
        weights["vision_model.embeddings.position_ids"] = torch.arange(17, dtype: ScalarType.Int64).unsqueeze(0);
        WriteFolder(tmp.Path, weights);
        using var model = ClipModel.FromPretrained(tmp.Path);
    }

    [Fact]
    public void UnexpectedMissingAndMisshapenKeysAreNamed()
    {
        using var tmp = TestPaths.NewTempDir();
        var weights = SafeTensors.Load(Path.Combine(TinyFolder, "model.safetensors"));
        weights.Remove("text_projection.weight");
        weights["vision_model.extra.weight"] = torch.zeros(3);
        weights["visual_projection.weight"] = torch.zeros(64, 32);
        WriteFolder(tmp.Path, weights);
        var e = Assert.Throws<VidSeekException>(() => ClipModel.FromPretrained(tmp.Path));
        Assert.Contains("missing key(s): text_projection.weight", e.Message);
        Assert.Contains("unexpected key(s): vision_model.extra.weight", e.Message);
        Assert.Contains("visual_projection.weight is [64, 32] in the file but [64, 64] in the model", e.Message);
    }

    [Fact]
    public void MissingFolderConfigOrWeightsAreClearErrors()
    {
        using var tmp = TestPaths.NewTempDir();
        Assert.Contains("model folder not found", Assert.Throws<VidSeekException>(() => ClipModel.FromPretrained(Path.Combine(tmp.Path, "nope"))).Message);
        Assert.Contains("config.json not found", Assert.Throws<VidSeekException>(() => ClipModel.FromPretrained(tmp.Path)).Message);
        File.Copy(Path.Combine(TinyFolder, "config.json"), Path.Combine(tmp.Path, "config.json"));
        Assert.Contains("model.safetensors not found", Assert.Throws<VidSeekException>(() => ClipModel.FromPretrained(tmp.Path)).Message);
        File.WriteAllText(Path.Combine(tmp.Path, "config.json"), "{ \"model_type\": \"clip\", \"text_config\": { \"hidden_size\": 48, \"num_attention_heads\": 5 } }");
        Assert.Contains("multiple of text_config.num_attention_heads", Assert.Throws<VidSeekException>(() => ClipModel.FromPretrained(tmp.Path)).Message);
        File.WriteAllText(Path.Combine(tmp.Path, "config.json"), "{ not json");
        Assert.Contains("cannot parse", Assert.Throws<VidSeekException>(() => ClipModel.FromPretrained(tmp.Path)).Message);
    }

    /// <summary>A transposed projection or a missing 1/sqrt(d) changes the output: the golden check would catch it.</summary>
    [Fact]
    public void TransposedProjectionIsDetectedByGolden()
    {
        using var tmp = TestPaths.NewTempDir();
        var weights = SafeTensors.Load(Path.Combine(TinyFolder, "model.safetensors"));
        weights["visual_projection.weight"] = weights["visual_projection.weight"].T.contiguous();
        WriteFolder(tmp.Path, weights);
        using var good = ClipModel.FromPretrained(TinyFolder);
        using var bad = ClipModel.FromPretrained(tmp.Path);
        var inputs = SafeTensors.Load(Path.Combine(TinyFolder, "inputs.safetensors"));
        using var _ = torch.no_grad();
        using var diff = (good.GetImageFeatures(inputs["pixel_values"]) - bad.GetImageFeatures(inputs["pixel_values"])).abs().max();
        Assert.True(diff.item<float>() > 1e-2);
    }

    /// <summary>
    /// Under no_grad the MLP applies its activation in place (a speed-up, docs/PERFORMANCE.md); with autograd it
    /// must not, or backward breaks. Both paths give the same features, and gradients still flow.
    /// </summary>
    [Fact]
    public void InPlaceInferencePathMatchesAutogradPath()
    {
        using var scope = torch.NewDisposeScope();
        using var model = ClipModel.FromPretrained(TinyFolder);
        var inputs = SafeTensors.Load(Path.Combine(TinyFolder, "inputs.safetensors"));
        var pixels = inputs["pixel_values"];
        var ids = inputs["input_ids"];

        var image = model.GetImageFeatures(pixels);
        var text = model.GetTextFeatures(ids);
        Assert.True(image.requires_grad && text.requires_grad);
        (image.sum() + text.sum()).backward();
        foreach (var (name, p) in model.named_parameters().Where(kv => kv.name.Contains("mlp.fc1.weight")))
            Assert.True(p.grad is not null && p.grad.abs().max().item<float>() > 0, $"no gradient reached {name}");

        using var _ = torch.no_grad();
        Assert.True((model.GetImageFeatures(pixels) - image).abs().max().item<float>() < 1e-6);
        Assert.True((model.GetTextFeatures(ids) - text).abs().max().item<float>() < 1e-6);
    }

    /// <summary>Micro-batching is invisible in the result: any micro-batch size gives GetImageFeatures' features.</summary>
    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(32)]
    public void EncodeImagesAndFramesMatchGetImageFeaturesForAnyMicroBatch(int microBatch)
    {
        using var scope = torch.NewDisposeScope();
        using var model = ClipModel.FromPretrained(TinyFolder);
        using var _ = torch.no_grad();
        var clips = torch.randn(new long[] { 2, 5, 3, model.ImageSize, model.ImageSize });
        var whole = model.GetImageFeatures(clips.reshape(10, 3, model.ImageSize, model.ImageSize));
        var images = model.EncodeImages(clips.reshape(10, 3, model.ImageSize, model.ImageSize), microBatch);
        var frames = model.EncodeFrames(clips, microBatch);
        Assert.Equal(new long[] { 2, 5, whole.shape[1] }, frames.shape);
        Assert.True((images - whole).abs().max().item<float>() < 1e-5);
        Assert.True((frames.reshape(10, -1) - whole).abs().max().item<float>() < 1e-5);
    }

    private static void WriteFolder(string dir, Dictionary<string, Tensor> weights)
    {
        File.Copy(Path.Combine(TinyFolder, "config.json"), Path.Combine(dir, "config.json"), true);
        SafeTensors.Save(Path.Combine(dir, "model.safetensors"), weights);
    }
}
