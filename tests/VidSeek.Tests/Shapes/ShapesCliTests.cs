using System.Text.Json;

namespace VidSeek.Tests.Shapes;

/// <summary><c>vidseek synth</c>, run in-process as a user would type it.</summary>
[Collection(ProcessStateCollection.Name)]
public class ShapesCliTests
{
    [Fact]
    public void SynthWritesACorpusAndReportsIt()
    {
        using var tmp = TestPaths.NewTempDir();
        string dir = Path.Combine(tmp.Path, "shapes");
        var (code, stdout, err) = CliRunner.Run("synth", "--out", dir, "--seed", "4", "--videos", "10", "--size", "32", "--val-fraction", "0.2");
        Assert.True(code == 0, err);
        Assert.Contains("wrote 10 videos (train 6, val 2, test 1, test-novel 1)", stdout);
        Assert.Contains("videos/s", stdout);
        Assert.Equal(10, Directory.GetFiles(Path.Combine(dir, "videos"), "*.mp4").Length);
        using var settings = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(dir, "shapes.json")));
        Assert.Equal(32, settings.RootElement.GetProperty("size").GetInt32());
        Assert.Equal(0.2, settings.RootElement.GetProperty("val_fraction").GetDouble());
    }

    [Fact]
    public void SynthRefusesANonEmptyFolderWithoutForce()
    {
        using var tmp = TestPaths.NewTempDir();
        File.WriteAllText(Path.Combine(tmp.Path, "keep.txt"), "x");
        var (code, _, err) = CliRunner.Run("synth", "--out", tmp.Path, "--videos", "2", "--size", "32");
        Assert.Equal(1, code);
        Assert.Contains($"output folder {tmp.Path} is not empty; pass --force", err);
        Assert.DoesNotContain("   at ", err);
        Assert.Single(err.Trim().Split('\n'));
        Assert.Single(Directory.GetFileSystemEntries(tmp.Path));

        (code, _, err) = CliRunner.Run("synth", "--out", tmp.Path, "--videos", "2", "--size", "32", "--force");
        Assert.True(code == 0, err);
        Assert.True(File.Exists(Path.Combine(tmp.Path, "MSRVTT_data.json")));
        Assert.True(File.Exists(Path.Combine(tmp.Path, "keep.txt")));
    }

    [Fact]
    public void BadOptionsAreOneLineErrors()
    {
        using var tmp = TestPaths.NewTempDir();
        var (code, _, err) = CliRunner.Run("synth", "--out", Path.Combine(tmp.Path, "x"), "--size", "33");
        Assert.Equal(1, code);
        Assert.Contains("--size must be an even number", err);
        Assert.Single(err.Trim().Split('\n'));
        Assert.NotEqual(0, CliRunner.Run("synth", "--videos", "3").Code); // --out is required
        Assert.NotEqual(0, CliRunner.Run("synth", "--out", tmp.Path, "--bogus").Code);
        Assert.Empty(Directory.GetFileSystemEntries(tmp.Path));
    }
}
