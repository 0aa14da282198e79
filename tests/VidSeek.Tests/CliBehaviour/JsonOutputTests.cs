using System.Text.Json;
using VidSeek.Cli.Commands;
using VidSeek.Models.Clip;

namespace VidSeek.Tests.CliBehaviour;

/// <summary><c>--json</c> writes UTF-8 text as it is, with JSON's own escapes only.</summary>
[Collection(ProcessStateCollection.Name)]
public class JsonOutputTests
{
    [Fact]
    public void TheSharedOptionsKeepAccentsAndStillEscapeWhatJsonRequires()
    {
        foreach (var options in new[] { CommonOptions.Json, CommonOptions.JsonIndented })
        {
            string text = JsonSerializer.Serialize(new { q = "café à la crème \"quoted\"\n<b>" }, options);
            Assert.Contains("café à la crème", text);
            Assert.DoesNotContain("\\u00E9", text);
            Assert.Contains("\\\"quoted\\\"\\n", text);
            Assert.Equal("café à la crème \"quoted\"\n<b>", JsonDocument.Parse(text).RootElement.GetProperty("q").GetString());
        }
    }

    [Fact]
    public void EmbedTextWritesTheCaptionAsItIs()
    {
        using var tmp = TestPaths.NewTempDir();
        string tiny = Path.Combine(TestPaths.Golden, "clip-tiny"), tokenizer = Path.Combine(TestPaths.Golden, "clip-tokenizer");
        var config = ClipConfig.Load(Path.Combine(tiny, "config.json"));
        config = config with { TextConfig = config.TextConfig with { VocabSize = 49408, MaxPositionEmbeddings = 16, EosTokenId = 49407 } };
        using (var fresh = new ClipModel(config)) fresh.SavePretrained(tmp.Path);
        foreach (var f in new[] { "vocab.json", "merges.txt" }) File.Copy(Path.Combine(tokenizer, f), Path.Combine(tmp.Path, f));

        var (code, stdout, err) = CliRunner.Run("embed-text", "--model", tmp.Path, "café à la crème");
        Assert.True(code == 0, err);
        Assert.Contains("\"café à la crème\"", stdout);
        Assert.DoesNotContain("\\u00", stdout);
        Assert.Equal("café à la crème", JsonDocument.Parse(stdout).RootElement.GetProperty("items")[0].GetProperty("text").GetString());
    }
}
