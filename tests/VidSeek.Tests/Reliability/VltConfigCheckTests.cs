using System.Diagnostics;
using System.Text.Json.Nodes;
using VidSeek.Models.Vlt;
using VidSeek.Tests.Vlt;

namespace VidSeek.Tests.Reliability;

/// <summary>A VLT checkpoint's config.json is checked against its weights before the model is built (as dual encoders' are).</summary>
[Collection(ProcessStateCollection.Name)]
public sealed class VltConfigCheckTests
{
    [Theory]
    [InlineData("video", "num_hidden_layers", 100000)]
    [InlineData("text", "num_hidden_layers", 100000)]
    [InlineData("video", "intermediate_size", 1 << 28)]
    [InlineData("text", "intermediate_size", 1 << 28)]
    [InlineData("text", "vocab_size", 1 << 30)]
    public void AConfigFarLargerThanTheWeightsIsRefusedBeforeBuilding(string tower, string key, int value)
    {
        using var tmp = TestPaths.NewTempDir();
        using (var model = VltTrainingTests.NewModel(11)) model.Save(tmp.Path);
        string config = Path.Combine(tmp.Path, "config.json");
        var json = JsonNode.Parse(File.ReadAllText(config))!;
        json[tower]![key] = value;
        File.WriteAllText(config, json.ToJsonString());
        long before = Process.GetCurrentProcess().WorkingSet64;
        var clock = Stopwatch.StartNew();
        var e = Assert.Throws<VidSeekException>(() => VideoLanguageModel.Load(tmp.Path));
        Assert.Contains("does not match", e.Message);
        Assert.Contains(config, e.Message);
        Assert.DoesNotContain('\n', e.Message);
        long grown = Process.GetCurrentProcess().WorkingSet64 - before;
        Assert.True(grown < 256L << 20, $"the check allocated {grown >> 20} MB");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"took {clock.Elapsed}");
    }

    [Fact]
    public void ASmallDisagreementStillEndsInTheLoadersCleanError()
    {
        using var tmp = TestPaths.NewTempDir();
        using (var model = VltTrainingTests.NewModel(11)) model.Save(tmp.Path);
        string config = Path.Combine(tmp.Path, "config.json");
        var json = JsonNode.Parse(File.ReadAllText(config))!;
        json["embed_dim"] = json["embed_dim"]!.GetValue<int>() + 1;
        File.WriteAllText(config, json.ToJsonString());
        Assert.Throws<VidSeekException>(() => VideoLanguageModel.Load(tmp.Path));
        using var ok = VltTrainingTests.NewModel(11);
        ok.Save(tmp.Path);
        using var loaded = VideoLanguageModel.Load(tmp.Path); // the unedited checkpoint passes the check
    }
}
