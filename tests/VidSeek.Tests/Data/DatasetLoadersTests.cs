using VidSeek.Data;
using VidSeek.Data.Loaders;
using static VidSeek.Tests.Data.DatasetFixtures;

namespace VidSeek.Tests.Data;

public class DatasetLoadersTests
{
    [Fact]
    public void KnowsTheSixFormatsByName()
    {
        Assert.Equal(["msrvtt", "json", "msvd", "lsmdc", "didemo", "activitynet"], DatasetLoaders.Names);
        foreach (var name in DatasetLoaders.Names) Assert.Equal(name, DatasetLoaders.Get(name).Name);
        Assert.IsType<MsrVttLoader>(DatasetLoaders.Get("MSRVTT"));
        Assert.All(DatasetLoaders.All, l => Assert.NotEmpty(l.Splits));
    }

    [Fact]
    public void UnknownFormatListsTheKnownNames() =>
        AssertError(() => DatasetLoaders.Get("vatex"), "unknown dataset format 'vatex'", "msrvtt, json, msvd, lsmdc, didemo, activitynet");

    [Theory]
    [InlineData("msrvtt", "test-1ka", null, 3, 3)]
    [InlineData("json", "train", null, 3, 5)]
    [InlineData("msvd", "test", null, 2, 5)]
    [InlineData("lsmdc", "train", null, 3, 3)]
    [InlineData("didemo", "test", "videos", 2, 2)]
    [InlineData("activitynet", "val", "videos", 2, 2)]
    public void LoadsEveryFixtureByFormatName(string format, string split, string? videos, int videoCount, int captionCount)
    {
        var options = new LoadOptions { VideosDir = videos == null ? null : Path.Combine(Dir(format), videos) };
        var (loaded, report) = DatasetLoaders.Load(format, Dir(format), split, options);
        AssertWellFormed(loaded);
        Assert.Equal((format, split), (loaded.Dataset, loaded.Name));
        Assert.Equal((videoCount, captionCount), (loaded.Videos.Count, loaded.Captions.Count));
        Assert.Equal(0, report.SkippedMissing);
        Assert.Empty(report.MissingExamples);
    }

    [Fact]
    public void LoadWithoutOptionsUsesTheDefaults()
    {
        var (split, _) = DatasetLoaders.Load("msvd", Dir("msvd"), "val");
        Assert.Single(split.Videos);
    }

    [Fact]
    public void RootThatIsAFileIsAnErrorForFolderFormats() =>
        AssertError(() => DatasetLoaders.Load("lsmdc", Path.Combine(Dir("lsmdc"), "LSMDC16_annos_val.csv"), "val"),
            "expected the dataset folder, got a file", "LSMDC16_annos_val.csv");
}
