using VidSeek.Data;
using VidSeek.Data.Loaders;
using static VidSeek.Tests.Data.DatasetFixtures;

namespace VidSeek.Tests.Data;

public class MsvdLoaderTests
{
    private static readonly MsvdLoader Loader = new();

    [Fact]
    public void EveryCaptionOfTheListedVideosIsAQuery()
    {
        var (split, _) = Loader.Load(Dir("msvd"), "train", new LoadOptions());
        AssertWellFormed(split);
        Assert.Equal(["-4wsuPCjDBc_5_15", "-7KMZQEsJW4_205_208", "-8y1Q0rA3n8_108_115"], split.Videos.Select(v => v.Id));
        Assert.Equal([0, 0, 0, 1, 1, 2], split.VideoOfCaption);
        Assert.Equal("a squirrel is eating a peanut in it's shell", split.Captions[0].Text);
        Assert.Equal("someone slices a tomato", split.Captions[4].Text);
        // Only YouTubeClips exists: the videos are found there.
        Assert.Equal(Path.Combine(Dir("msvd"), "YouTubeClips", "-4wsuPCjDBc_5_15.avi"), split.Videos[0].Path);
    }

    [Theory]
    [InlineData("val", 1, 2)]
    [InlineData("test", 2, 5)]
    public void OtherSplits(string name, int videos, int captions)
    {
        var (split, _) = Loader.Load(Dir("msvd"), name, new LoadOptions());
        AssertWellFormed(split);
        Assert.Equal((videos, captions), (split.Videos.Count, split.Captions.Count));
    }

    [Fact]
    public void VideosFolderIsPreferredWhenItExists()
    {
        using var tmp = TestPaths.NewTempDir();
        string root = Copy("msvd", tmp);
        Directory.Move(Path.Combine(root, "YouTubeClips"), Path.Combine(root, "videos"));
        var (split, _) = Loader.Load(root, "val", new LoadOptions());
        Assert.Equal(Path.Combine(root, "videos", "-9CUm-2cui8_39_44.avi"), split.Videos.Single().Path);
    }

    [Fact]
    public void UnknownSplitListsTheKnownOnes() =>
        AssertError(() => Loader.Load(Dir("msvd"), "validate", new LoadOptions()), "unknown split 'validate'", "train, val, test");

    [Theory]
    [InlineData("test_list.txt")]
    [InlineData("captions_msvd.json")]
    public void MissingAnnotationFileNamesTheExpectedPath(string file)
    {
        using var tmp = TestPaths.NewTempDir();
        string root = Copy("msvd", tmp);
        File.Delete(Path.Combine(root, file));
        AssertError(() => Loader.Load(root, "test", new LoadOptions()), "missing annotation file", Path.Combine(root, file));
    }

    [Theory]
    [InlineData("{\"-9CUm-2cui8_39_44\": [\"a cat\"", new[] { "invalid JSON" })]
    [InlineData("[\"a cat\"]", new[] { "top level", "must be an object" })]
    [InlineData("{\"-9CUm-2cui8_39_44\": {\"caption\": \"a cat\"}}", new[] { "video '-9CUm-2cui8_39_44'", "its captions must be a string or a list of strings, found an object" })]
    [InlineData("{\"-9CUm-2cui8_39_44\": [\"a cat\", 3]}", new[] { "video '-9CUm-2cui8_39_44'", "its captions[1] must be a string, found a number" })]
    [InlineData("{\"-9CUm-2cui8_39_44\": [\"a cat\"], \"-9CUm-2cui8_39_44\": [\"a kitten\"]}", new[] { "video '-9CUm-2cui8_39_44'", "duplicate video id" })]
    public void MalformedCaptionsNameTheFileAndVideo(string json, string[] parts)
    {
        using var tmp = TestPaths.NewTempDir();
        string root = Copy("msvd", tmp);
        string file = Path.Combine(root, MsvdLoader.CaptionsFile);
        File.WriteAllText(file, json);
        AssertError(() => Loader.Load(root, "val", new LoadOptions()), [file, .. parts]);
    }

    [Fact]
    public void ListedIdWithoutCaptionsEntryNamesTheListFileAndLine()
    {
        using var tmp = TestPaths.NewTempDir();
        string root = Copy("msvd", tmp);
        File.WriteAllText(Path.Combine(root, "val_list.txt"), "-9CUm-2cui8_39_44\n\nnot_a_video\n");
        AssertError(() => Loader.Load(root, "val", new LoadOptions()),
            Path.Combine(root, "val_list.txt"), "line 3", "'not_a_video' has no entry in", MsvdLoader.CaptionsFile);
    }

    [Fact]
    public void MissingVideoIsAnErrorOrSkippedAndCounted()
    {
        using var tmp = TestPaths.NewTempDir();
        string root = Copy("msvd", tmp);
        File.Delete(Path.Combine(root, "YouTubeClips", "-7KMZQEsJW4_205_208.avi"));
        AssertError(() => Loader.Load(root, "train", new LoadOptions()),
            Path.Combine(root, MsvdLoader.CaptionsFile), "video '-7KMZQEsJW4_205_208'", Path.Combine(root, "YouTubeClips", "-7KMZQEsJW4_205_208.avi"));

        var (split, report) = Loader.Load(root, "train", new LoadOptions { SkipMissing = true });
        AssertWellFormed(split);
        Assert.Equal(["-4wsuPCjDBc_5_15", "-8y1Q0rA3n8_108_115"], split.Videos.Select(v => v.Id));
        Assert.Equal((2, 1), (report.SkippedMissing, report.SkippedVideos));
    }
}
