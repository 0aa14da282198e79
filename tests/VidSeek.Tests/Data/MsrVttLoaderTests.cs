using VidSeek.Data;
using VidSeek.Data.Loaders;
using static VidSeek.Tests.Data.DatasetFixtures;

namespace VidSeek.Tests.Data;

public class MsrVttLoaderTests
{
    private static readonly MsrVttLoader Loader = new();

    [Fact]
    public void Train9kTakesTheListedVideosWithAllTheirJsonSentences()
    {
        var (split, report) = Loader.Load(Dir("msrvtt"), "train-9k", new LoadOptions());
        AssertWellFormed(split);
        Assert.Equal(("msrvtt", "train-9k"), (split.Dataset, split.Name));
        // video2 is listed but has no sentence: left out (video-to-text needs a caption).
        Assert.Equal(["video0", "video1", "video3"], split.Videos.Select(v => v.Id));
        Assert.Equal(Path.Combine(Dir("msrvtt"), "videos", "video1.mp4"), split.Videos[1].Path);
        // Captions in the json's sentence order.
        Assert.Equal(
        [
            ("a cartoon animals runs through an ice cave in a video game", "video0"),
            ("a person is cooking in a kitchen", "video1"),
            ("a cartoon character runs around inside of a video game", "video0"),
            ("a girl is singing on stage", "video3"),
            ("someone is stirring a pot of soup", "video1"),
            ("an animated creature slides down an icy hill", "video0"),
            ("a singer performs for a crowd", "video3"),
        ], Pairs(split));
        Assert.All(split.Captions, c => Assert.Null(c.Type));
        Assert.Empty(split.CaptionTypes);
        Assert.Equal(0, report.SkippedMissing);
    }

    [Fact]
    public void Train7kKeepsTheCsvOrderOfVideos()
    {
        var (split, _) = Loader.Load(Dir("msrvtt"), "train-7k", new LoadOptions());
        AssertWellFormed(split);
        Assert.Equal(["video1", "video0"], split.Videos.Select(v => v.Id));
        Assert.Equal(5, split.Captions.Count);
        Assert.Equal([1, 0, 1, 0, 1], split.VideoOfCaption);
    }

    [Fact]
    public void Test1kATakesOneSentencePerVideoFromTheJsFusionCsvWithQuotedCommas()
    {
        var (split, _) = Loader.Load(Dir("msrvtt"), "test-1ka", new LoadOptions());
        AssertWellFormed(split);
        Assert.Equal(
        [
            ("a man is talking about a car", "video7010"),
            ("a woman, wearing a hat, sings a song", "video7011"),
            ("a sign that reads \"open\" hangs on a door", "video7012"),
        ], Pairs(split));
    }

    [Theory]
    [InlineData("train", new[] { "video0", "video1" }, 5)]
    [InlineData("validate", new[] { "video3" }, 2)]
    [InlineData("test", new[] { "video7010", "video7011", "video7012" }, 4)]
    public void AnyOtherSplitNameSelectsVideosByTheirSplitField(string name, string[] videos, int captions)
    {
        var (split, _) = Loader.Load(Dir("msrvtt"), name, new LoadOptions());
        AssertWellFormed(split);
        Assert.Equal(videos, split.Videos.Select(v => v.Id));
        Assert.Equal(captions, split.Captions.Count);
    }

    [Fact]
    public void SentenceTypesBecomeCaptionTypes()
    {
        // The synthetic Shapes corpus stores its splits in the split field and tags each sentence full/segment.
        using var tmp = TestPaths.NewTempDir();
        Directory.CreateDirectory(Path.Combine(tmp.Path, "videos"));
        foreach (var v in new[] { "s0", "s1", "s2" }) File.WriteAllBytes(Path.Combine(tmp.Path, "videos", v + ".mp4"), []);
        File.WriteAllText(Path.Combine(tmp.Path, MsrVttLoader.DataFile), """
            {"videos": [{"video_id": "s0", "split": "train"}, {"video_id": "s1", "split": "test-novel"}, {"video_id": "s2", "split": "test-novel"}],
             "sentences": [{"caption": "a red circle moves right", "video_id": "s1", "type": "full"},
                           {"caption": "a red circle", "video_id": "s1", "type": "segment"},
                           {"caption": "a blue square", "video_id": "s0", "type": "full"},
                           {"caption": "a green star spins", "video_id": "s2", "type": "full"},
                           {"caption": "untagged", "video_id": "s2"}]}
            """);
        var (split, _) = Loader.Load(tmp.Path, "test-novel", new LoadOptions());
        Assert.Equal(["s1", "s2"], split.Videos.Select(v => v.Id));
        Assert.Equal(["full", "segment", "full", null], split.Captions.Select(c => c.Type));
        Assert.Equal(["full", "segment"], split.CaptionTypes);
        Assert.Equal([0, 0, 1, 1], split.VideoOfCaption);
    }

    [Fact]
    public void UnknownSplitListsTheFixedSplitsAndTheJsonSplitValues()
    {
        var e = AssertError(() => Loader.Load(Dir("msrvtt"), "val", new LoadOptions()), "unknown split 'val'");
        Assert.Contains("train-9k, train-7k, test-1ka, train, validate, test", e.Message);
    }

    [Fact]
    public void VideosDefaultToVideosAllWhenThatExistsAndVideosDirOverrides()
    {
        using var tmp = TestPaths.NewTempDir();
        string root = Copy("msrvtt", tmp);
        string all = Path.Combine(root, "videos", "all");
        Directory.CreateDirectory(all);
        File.Move(Path.Combine(root, "videos", "video3.mp4"), Path.Combine(all, "video3.mp4"));
        var (split, _) = Loader.Load(root, "validate", new LoadOptions());
        Assert.Equal(Path.Combine(all, "video3.mp4"), split.Videos.Single().Path);

        var (other, _) = Loader.Load(root, "train-7k", new LoadOptions { VideosDir = Path.Combine(root, "videos") });
        Assert.Equal(Path.Combine(root, "videos", "video1.mp4"), other.Videos[0].Path);
    }

    [Fact]
    public void MissingVideoIsAnErrorNamingTheAnnotationFileAndEntry()
    {
        using var tmp = TestPaths.NewTempDir();
        string root = Copy("msrvtt", tmp);
        File.Delete(Path.Combine(root, "videos", "video1.mp4"));
        AssertError(() => Loader.Load(root, "train-9k", new LoadOptions()),
            Path.Combine(root, MsrVttLoader.DataFile), "sentences[2]", "video1", Path.Combine(root, "videos", "video1.mp4"));

        File.Delete(Path.Combine(root, "videos", "video7011.mp4"));
        AssertError(() => Loader.Load(root, "test-1ka", new LoadOptions()),
            Path.Combine(root, MsrVttLoader.TestFile), "line 3", "video7011");
    }

    [Fact]
    public void SkipMissingDropsAndCountsTheCaptionsOfMissingVideos()
    {
        using var tmp = TestPaths.NewTempDir();
        string root = Copy("msrvtt", tmp);
        File.Delete(Path.Combine(root, "videos", "video1.mp4"));
        var (split, report) = Loader.Load(root, "train-9k", new LoadOptions { SkipMissing = true });
        AssertWellFormed(split);
        Assert.Equal(["video0", "video3"], split.Videos.Select(v => v.Id));
        Assert.Equal(5, split.Captions.Count);
        Assert.Equal((2, 1), (report.SkippedMissing, report.SkippedVideos));
        Assert.Equal([Path.Combine(root, "videos", "video1.mp4")], report.MissingExamples);
    }

    [Fact]
    public void AllVideosMissingIsAnErrorEvenWhenSkipping()
    {
        using var tmp = TestPaths.NewTempDir();
        string root = Copy("msrvtt", tmp);
        AssertError(() => Loader.Load(root, "train-9k", new LoadOptions { SkipMissing = true, VideosDir = Path.Combine(root, "nowhere") }),
            "all 7 captions name missing videos", Path.Combine(root, "nowhere"));
    }

    [Theory]
    [InlineData("MSRVTT_train.7k.csv", "train-7k")]
    [InlineData("MSRVTT_JSFUSION_test.csv", "test-1ka")]
    [InlineData("MSRVTT_data.json", "validate")]
    [InlineData("MSRVTT_data.json", "train-9k")]
    public void MissingAnnotationFileNamesTheExpectedPath(string file, string split)
    {
        using var tmp = TestPaths.NewTempDir();
        string root = Copy("msrvtt", tmp);
        File.Delete(Path.Combine(root, file));
        AssertError(() => Loader.Load(root, split, new LoadOptions()), "missing annotation file", Path.Combine(root, file));
    }

    [Fact]
    public void MissingRootIsAnError() =>
        AssertError(() => Loader.Load(Path.Combine(Dir("msrvtt"), "nope"), "train-9k", new LoadOptions()), "dataset folder not found", "nope");

    public static TheoryData<string, string, string[]> MalformedData => new()
    {
        { "{\"videos\": [],\n \"sentences\": [}", "validate", ["invalid JSON at line 2, byte 16: '}' is an invalid start of a value."] },
        { "[]", "validate", ["top level", "must be an object", "a list"] },
        { "{\"sentences\": []}", "validate", ["missing field 'videos'"] },
        { "{\"videos\": [{\"video_id\": 3}], \"sentences\": []}", "validate", ["videos[0]", "'video_id' must be a string, found a number"] },
        { "{\"videos\": [{\"video_id\": \"video3\", \"split\": 1}], \"sentences\": []}", "validate", ["videos[0]", "'split' must be a string"] },
        { "{\"videos\": [{\"video_id\": \"video3\"}, {\"video_id\": \"video3\"}], \"sentences\": []}", "validate", ["videos[1]", "duplicate video_id 'video3'"] },
        { "{\"videos\": [{\"video_id\": \"video3\", \"split\": \"validate\"}], \"sentences\": [{\"caption\": \"x\", \"video_id\": \"video3\"}, {\"video_id\": \"video3\"}]}", "validate", ["sentences[1]", "missing field 'caption'"] },
        { "{\"videos\": [{\"video_id\": \"video3\", \"split\": \"validate\"}], \"sentences\": [{\"caption\": \"x\", \"video_id\": \"video9\"}]}", "validate", ["sentences[0]", "video_id 'video9' is not in 'videos'"] },
        { "{\"videos\": [{\"video_id\": \"video3\", \"split\": \"validate\"}], \"sentences\": [{\"caption\": \"x\", \"video_id\": \"video3\", \"type\": 2}]}", "validate", ["sentences[0]", "'type' must be a string"] },
        { "{\"videos\": [{\"video_id\": \"video3\", \"split\": \"validate\"}], \"sentences\": \"none\"}", "validate", ["'sentences' must be a list"] },
    };

    [Theory]
    [MemberData(nameof(MalformedData))]
    public void MalformedDataJsonNamesTheFileAndEntry(string json, string split, string[] parts)
    {
        using var tmp = TestPaths.NewTempDir();
        string root = Copy("msrvtt", tmp);
        File.WriteAllText(Path.Combine(root, MsrVttLoader.DataFile), json);
        AssertError(() => Loader.Load(root, split, new LoadOptions()), [Path.Combine(root, MsrVttLoader.DataFile), .. parts]);
    }

    [Theory]
    [InlineData("MSRVTT_train.9k.csv", "train-9k", "vid\nvideo0\n", new[] { "missing column 'video_id'", "vid" })]
    [InlineData("MSRVTT_train.9k.csv", "train-9k", "video_id\nvideo0\nvideo99\n", new[] { "line 3", "video 'video99' is not in the 'videos' of", "MSRVTT_data.json" })]
    [InlineData("MSRVTT_train.9k.csv", "train-9k", "video_id\nvideo0\n\"\"\n", new[] { "line 3", "empty video_id" })]
    [InlineData("MSRVTT_train.9k.csv", "train-9k", "", new[] { "empty CSV file" })]
    [InlineData("MSRVTT_JSFUSION_test.csv", "test-1ka", "key,vid_key,video_id\nret0,msr7010,video7010\n", new[] { "missing column 'sentence'", "key, vid_key, video_id" })]
    [InlineData("MSRVTT_JSFUSION_test.csv", "test-1ka", "key,vid_key,video_id,sentence\nret0,msr7010,video7010,a man\nret1,msr7011,video7011,a woman, singing\n", new[] { "line 3", "5 fields, the header has 4" })]
    [InlineData("MSRVTT_JSFUSION_test.csv", "test-1ka", "key,vid_key,video_id,sentence\nret0,msr7010,video7010,a man\nret1,msr7011,video7011,\"a woman\n", new[] { "line 3", "unterminated quoted field" })]
    public void MalformedCsvNamesTheFileAndLine(string file, string split, string csv, string[] parts)
    {
        using var tmp = TestPaths.NewTempDir();
        string root = Copy("msrvtt", tmp);
        File.WriteAllText(Path.Combine(root, file), csv);
        AssertError(() => Loader.Load(root, split, new LoadOptions()), [Path.Combine(root, file), .. parts]);
    }

    [Fact]
    public void QuotedFieldsMaySpanLines()
    {
        using var tmp = TestPaths.NewTempDir();
        string root = Copy("msrvtt", tmp);
        File.WriteAllText(Path.Combine(root, MsrVttLoader.TestFile),
            "key,vid_key,video_id,sentence\nret0,msr7010,\"video7010\",\"two\nlines\"\nret1,msr7011,video7011,\"\"\n");
        var (split, _) = Loader.Load(root, "test-1ka", new LoadOptions());
        Assert.Equal([("two\nlines", "video7010"), ("", "video7011")], Pairs(split));
    }
}
