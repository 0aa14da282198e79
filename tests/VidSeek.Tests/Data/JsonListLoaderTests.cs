using VidSeek.Data;
using VidSeek.Data.Loaders;
using static VidSeek.Tests.Data.DatasetFixtures;

namespace VidSeek.Tests.Data;

public class JsonListLoaderTests
{
    private static readonly JsonListLoader Loader = new();

    [Fact]
    public void ReadsSplitJsonFromAFolderWithListCaptionsAndOneEntryPerVideo()
    {
        var (split, report) = Loader.Load(Dir("json"), "train", new LoadOptions());
        AssertWellFormed(split);
        Assert.Equal(("json", "train"), (split.Dataset, split.Name));
        // dog_park appears in two entries: one video. beach has an empty caption list: left out.
        Assert.Equal(["videos/dog_park.mp4", "clips/kitchen/pancakes.mp4", "videos/street.mp4"], split.Videos.Select(v => v.Id));
        Assert.Equal(Path.Combine(Dir("json"), "clips", "kitchen", "pancakes.mp4"), split.Videos[1].Path);
        Assert.Equal(
        [
            ("a dog runs across a park", "videos/dog_park.mp4"),
            ("a man flips a pancake", "clips/kitchen/pancakes.mp4"),
            ("someone cooks breakfast in a kitchen", "clips/kitchen/pancakes.mp4"),
            ("the dog catches a frisbee", "videos/dog_park.mp4"),
            ("cars drive down a busy street at night", "videos/street.mp4"),
        ], Pairs(split));
        Assert.Equal(0, report.SkippedMissing);
    }

    [Fact]
    public void RootMayBeTheJsonFileItself()
    {
        var (split, _) = Loader.Load(Path.Combine(Dir("json"), "test.json"), "eval", new LoadOptions());
        Assert.Equal("eval", split.Name);
        Assert.Equal(["videos/beach.mp4"], split.Videos.Select(v => v.Id));
        Assert.Equal([0, 0], split.VideoOfCaption);

        var (unnamed, _) = Loader.Load(Path.Combine(Dir("json"), "test.json"), "", new LoadOptions());
        Assert.Equal("test", unnamed.Name);
    }

    [Fact]
    public void VideosDirOverridesTheJsonFolder()
    {
        using var tmp = TestPaths.NewTempDir();
        string root = Copy("json", tmp);
        string json = Path.Combine(tmp.Path, "list.json");
        File.WriteAllText(json, """[{"video": "beach.mp4", "caption": "sea"}]""");
        var (split, _) = Loader.Load(json, "x", new LoadOptions { VideosDir = Path.Combine(root, "videos") });
        Assert.Equal(Path.Combine(root, "videos", "beach.mp4"), split.Videos.Single().Path);
    }

    [Fact]
    public void UnknownSplitListsTheJsonFilesOfTheFolder() =>
        AssertError(() => Loader.Load(Dir("json"), "val", new LoadOptions()),
            "unknown split 'val'", Path.Combine(Dir("json"), "val.json"), "known splits (the .json files there): test, train");

    [Fact]
    public void FolderWithoutJsonFilesIsAMissingAnnotationFile()
    {
        using var tmp = TestPaths.NewTempDir();
        AssertError(() => Loader.Load(tmp.Path, "train", new LoadOptions()), "missing annotation file", Path.Combine(tmp.Path, "train.json"));
        AssertError(() => Loader.Load(Path.Combine(tmp.Path, "gone.json"), "train", new LoadOptions()), "not found", "gone.json");
    }

    [Theory]
    [InlineData("[{\"video\": \"videos/beach.mp4\", \"caption\": \"a\"},", new[] { "invalid JSON" })]
    [InlineData("{\"video\": \"videos/beach.mp4\"}", new[] { "top level", "must be a list" })]
    [InlineData("[{\"video\": \"videos/beach.mp4\", \"caption\": \"a\"}, {\"caption\": \"b\"}]", new[] { "entry 1", "missing field 'video'" })]
    [InlineData("[{\"video\": \"videos/beach.mp4\"}]", new[] { "entry 0", "missing field 'caption'" })]
    [InlineData("[{\"video\": \"videos/beach.mp4\", \"caption\": 5}]", new[] { "entry 0", "'caption' must be a string or a list of strings, found a number" })]
    [InlineData("[{\"video\": \"videos/beach.mp4\", \"caption\": \"a\"}, {\"video\": \"videos/beach.mp4\", \"caption\": [\"b\", null]}]", new[] { "entry 1", "'caption'[1] must be a string, found null" })]
    [InlineData("[{\"video\": [\"videos/beach.mp4\"], \"caption\": \"a\"}]", new[] { "entry 0", "'video' must be a string, found a list" })]
    [InlineData("[{\"video\": \"videos/beach.mp4\", \"caption\": \"a\"}, \"videos/street.mp4\"]", new[] { "entry 1", "the entry must be an object, found a string" })]
    [InlineData("[{\"video\": \" \", \"caption\": \"a\"}]", new[] { "entry 0", "empty 'video'" })]
    public void MalformedFileNamesTheFileAndEntry(string json, string[] parts)
    {
        using var tmp = TestPaths.NewTempDir();
        string root = Copy("json", tmp);
        string file = Path.Combine(root, "train.json");
        File.WriteAllText(file, json);
        AssertError(() => Loader.Load(root, "train", new LoadOptions()), [file, .. parts]);
    }

    [Fact]
    public void MissingVideoIsAnErrorOrSkippedAndCounted()
    {
        using var tmp = TestPaths.NewTempDir();
        string root = Copy("json", tmp);
        File.Delete(Path.Combine(root, "videos", "dog_park.mp4"));
        AssertError(() => Loader.Load(root, "train", new LoadOptions()),
            Path.Combine(root, "train.json"), "entry 0", "videos/dog_park.mp4");

        var (split, report) = Loader.Load(root, "train", new LoadOptions { SkipMissing = true });
        AssertWellFormed(split);
        Assert.Equal(["clips/kitchen/pancakes.mp4", "videos/street.mp4"], split.Videos.Select(v => v.Id));
        Assert.Equal((2, 1), (report.SkippedMissing, report.SkippedVideos));
        Assert.Equal([Path.Combine(root, "videos", "dog_park.mp4")], report.MissingExamples);
    }

    [Fact]
    public void AtMostFiveMissingExamplesAreKept()
    {
        using var tmp = TestPaths.NewTempDir();
        string file = Path.Combine(tmp.Path, "list.json");
        File.WriteAllBytes(Path.Combine(tmp.Path, "here.mp4"), []);
        File.WriteAllText(file, "[" + string.Join(", ", Enumerable.Range(0, 8).Select(i => $$"""{"video": "gone{{i}}.mp4", "caption": ["a", "b"]}""")) +
                                """, {"video": "here.mp4", "caption": "c"}]""");
        var (split, report) = Loader.Load(file, "x", new LoadOptions { SkipMissing = true });
        Assert.Single(split.Videos);
        Assert.Equal((16, 8, 5), (report.SkippedMissing, report.SkippedVideos, report.MissingExamples.Count));
    }
}
