using VidSeek.Data;
using VidSeek.Data.Loaders;
using static VidSeek.Tests.Data.DatasetFixtures;

namespace VidSeek.Tests.Data;

/// <summary>DiDeMo and ActivityNet Captions: paragraph-to-video, one query per video.</summary>
public class ParagraphLoaderTests
{
    [Fact]
    public void DidemoJoinsTheSentencesOfAVideoIntoOneQuery()
    {
        var options = new LoadOptions { VideosDir = Path.Combine(Dir("didemo"), "videos") };
        var (split, _) = new DidemoLoader().Load(Dir("didemo"), "train", options);
        AssertWellFormed(split);
        Assert.Equal(("didemo", "train"), (split.Dataset, split.Name));
        Assert.Equal(
        [
            ("a girl in a pink shirt walks into view. the girl waves at the camera. the camera pans to a dog.", "10015567@N08_3655084291_d8b58466fa.mp4"),
            ("a red car drives past.", "10034812@N02_2893498547_30df8bfa0a.mp4"),
        ], Pairs(split));
        Assert.Equal(Path.Combine(Dir("didemo"), "videos", "10034812@N02_2893498547_30df8bfa0a.mp4"), split.Videos[1].Path);

        var (test, _) = new DidemoLoader().Load(Dir("didemo"), "test", options);
        Assert.Equal((2, 2), (test.Videos.Count, test.Captions.Count));
    }

    [Fact]
    public void ActivityNetTrimsSentencesAndMergesEntriesOfTheSameVideo()
    {
        var options = new LoadOptions { VideosDir = Path.Combine(Dir("activitynet"), "videos") };
        var (split, _) = new ActivityNetLoader().Load(Dir("activitynet"), "val", options);
        AssertWellFormed(split);
        Assert.Equal(
        [
            ("A weight lifting tutorial is given. The coach helps the guy in red with the proper body placement and lifting technique. He lifts the weight over his head.", "v_uqiMw7tQ1Cc.mp4"),
            ("Three men are standing on a mat. The man in front begins to do karate on the mat. He gets down on the ground and flips around.", "v_bXdq2zI1Ms0.mp4"),
        ], Pairs(split));
        Assert.All(split.Captions, c => Assert.Null(c.Type));
    }

    [Fact]
    public void DefaultVideosFolderIsTheJsonFolder() =>
        // The fixture's entries are bare file names and its videos are in videos/: found only with VideosDir.
        AssertError(() => new ActivityNetLoader().Load(Dir("activitynet"), "train", new LoadOptions()),
            Path.Combine(Dir("activitynet"), "train.json"), "entry 0", Path.Combine(Dir("activitynet"), "v_QOlSCBRmfWY.mp4"));

    [Fact]
    public void MissingParagraphVideoIsSkippedAsOneCaption()
    {
        using var tmp = TestPaths.NewTempDir();
        string root = Copy("activitynet", tmp);
        File.Delete(Path.Combine(root, "videos", "v_uqiMw7tQ1Cc.mp4"));
        var options = new LoadOptions { VideosDir = Path.Combine(root, "videos") };
        AssertError(() => new ActivityNetLoader().Load(root, "val", options), Path.Combine(root, "val.json"), "entry 0", "v_uqiMw7tQ1Cc.mp4");

        var (split, report) = new ActivityNetLoader().Load(root, "val", options with { SkipMissing = true });
        Assert.Equal(["v_bXdq2zI1Ms0.mp4"], split.Videos.Select(v => v.Id));
        Assert.Equal((1, 1), (report.SkippedMissing, report.SkippedVideos));
    }

    [Fact]
    public void MalformedParagraphFileNamesTheFileAndEntry()
    {
        using var tmp = TestPaths.NewTempDir();
        string root = Copy("didemo", tmp);
        File.WriteAllText(Path.Combine(root, "val.json"), """[{"video": "a.mp4", "caption": ["one."]}, {"video": "b.mp4", "caption": [["nested"]]}]""");
        AssertError(() => new DidemoLoader().Load(root, "val", new LoadOptions()),
            Path.Combine(root, "val.json"), "entry 1", "'caption'[0] must be a string, found a list");
    }

    [Fact]
    public void UnknownSplitListsTheJsonFiles() =>
        AssertError(() => new DidemoLoader().Load(Dir("didemo"), "val", new LoadOptions()),
            "didemo: unknown split 'val'", "known splits (the .json files there): test, train");
}
