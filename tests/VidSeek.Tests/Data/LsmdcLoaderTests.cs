using VidSeek.Data;
using VidSeek.Data.Loaders;
using static VidSeek.Tests.Data.DatasetFixtures;

namespace VidSeek.Tests.Data;

public class LsmdcLoaderTests
{
    private static readonly LsmdcLoader Loader = new();

    [Fact]
    public void ReadsClipIdAndCaptionAndFindsClipsInMovieFolders()
    {
        var (split, _) = Loader.Load(Dir("lsmdc"), "train", new LoadOptions());
        AssertWellFormed(split);
        Assert.Equal(
        [
            ("SOMEONE looks out of the window.", "0001_American_Beauty_00.00.51.926-00.00.54.129"),
            ("SOMEONE jogs down the street, panting.", "0001_American_Beauty_00.01.05.401-00.01.07.762"),
            ("SOMEONE drinks from a big jug of orange juice.", "1004_Juno_00.00.32.849-00.00.35.458"),
        ], Pairs(split));
        Assert.Equal(Path.Combine(Dir("lsmdc"), "videos", "1004_Juno", "1004_Juno_00.00.32.849-00.00.35.458.avi"), split.Videos[2].Path);
    }

    [Theory]
    [InlineData("val", 1)]
    [InlineData("test", 2)]
    public void OtherSplits(string name, int clips)
    {
        var (split, _) = Loader.Load(Dir("lsmdc"), name, new LoadOptions());
        AssertWellFormed(split);
        Assert.Equal((clips, clips), (split.Videos.Count, split.Captions.Count));
    }

    [Fact]
    public void UnknownSplitListsTheKnownOnes() =>
        AssertError(() => Loader.Load(Dir("lsmdc"), "public", new LoadOptions()), "unknown split 'public'", "train, val, test");

    [Fact]
    public void MissingAnnotationFileNamesTheExpectedPath()
    {
        using var tmp = TestPaths.NewTempDir();
        string root = Copy("lsmdc", tmp);
        File.Delete(Path.Combine(root, "LSMDC16_challenge_1000_publictect.csv"));
        AssertError(() => Loader.Load(root, "test", new LoadOptions()), "missing annotation file", Path.Combine(root, "LSMDC16_challenge_1000_publictect.csv"));
    }

    [Theory]
    [InlineData("a\t1\t2\t3\t4\tfine\n\nb\t1\t2\t3\tcaption without a field\n", "line 3", "5 tab-separated fields, expected 6")]
    [InlineData("a\t1\t2\t3\t4\ta caption\twith a tab\n", "line 1", "7 tab-separated fields, expected 6")]
    [InlineData("a, 1, 2, 3, 4, comma separated\n", "line 1", "1 tab-separated fields, expected 6")]
    [InlineData("\t1\t2\t3\t4\tno id\n", "line 1", "empty clip id")]
    public void MalformedLineNamesTheFileAndLine(string text, string line, string problem)
    {
        using var tmp = TestPaths.NewTempDir();
        string root = Copy("lsmdc", tmp);
        string file = Path.Combine(root, "LSMDC16_annos_val.csv");
        File.WriteAllText(file, text);
        AssertError(() => Loader.Load(root, "val", new LoadOptions()), file, line, problem);
    }

    [Fact]
    public void MissingVideoIsAnErrorOrSkippedAndCounted()
    {
        using var tmp = TestPaths.NewTempDir();
        string root = Copy("lsmdc", tmp);
        File.Delete(Path.Combine(root, "videos", "0001_American_Beauty", "0001_American_Beauty_00.01.05.401-00.01.07.762.avi"));
        AssertError(() => Loader.Load(root, "train", new LoadOptions()),
            Path.Combine(root, "LSMDC16_annos_training.csv"), "line 2", "0001_American_Beauty_00.01.05.401-00.01.07.762.avi anywhere under");

        var (split, report) = Loader.Load(root, "train", new LoadOptions { SkipMissing = true });
        AssertWellFormed(split);
        Assert.Equal(2, split.Captions.Count);
        Assert.Equal((1, 1), (report.SkippedMissing, report.SkippedVideos));
    }
}
