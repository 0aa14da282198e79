namespace VidSeek.Tests;

/// <summary><c>vidseek demo</c>, the README's first command, end to end with the shipped model.</summary>
[Collection(ProcessStateCollection.Name)]
public class DemoTests
{
    [Fact]
    public void DemoIndexesSearchesAndReproducesTheRecordedMetrics()
    {
        using var work = TestPaths.NewTempDir();
        var (code, stdout, stderr) = CliRunner.Run("demo", "--work", work.Path);
        Assert.True(code == 0, stderr + stdout);
        Assert.Contains("1/4 corpus: 800 Shapes videos", stdout);
        Assert.Contains("2/4 index: 80 test videos", stdout);
        Assert.Equal(3, stdout.Split('\n').Count(l => l.StartsWith("  ground truth: video", StringComparison.Ordinal)));
        Assert.Contains("attention per frame", stdout);
        Assert.Contains("the measured R@1 equal the recorded ones", stdout);
        Assert.True(File.Exists(Path.Combine(work.Path, "demo.vsi")));

        // A second run reuses the corpus and the index: nothing is encoded again.
        var again = CliRunner.Run("demo", "--work", work.Path, "--queries", "1");
        Assert.True(again.Code == 0, again.Err);
        Assert.Contains("(0 encoded now", again.Out);
    }
}
