using VidSeek.Index;

namespace VidSeek.Tests.Index;

/// <summary>What <c>vidseek index</c> accepts: more extensions in any case, one video file, and a clear word on nothing to index.</summary>
[Collection(ProcessStateCollection.Name)]
public class VideoFilesTests(IndexFixture fixture) : IClassFixture<IndexFixture>
{
    [Fact]
    public void NewExtensionsInAnyCaseAreFound()
    {
        using var tmp = TestPaths.NewTempDir();
        string bars = Path.Combine(TestPaths.Videos, "bars_h264.mp4");
        string[] names = ["a.MP4", "b.m4v", "c.MTS", "d.m2ts", "e.3gp", "f.mpg", "g.MPEG", "h.wmv", "i.flv", "j.ogv", "k.txt", "l.mp4.bak"];
        foreach (var n in names) File.CreateSymbolicLink(Path.Combine(tmp.Path, n), bars);
        var (videos, root) = VideoFiles.Scan(tmp.Path);
        Assert.Equal(tmp.Path.TrimEnd('/'), root);
        Assert.Equal(names[..10], videos.Select(v => Path.GetFileName(v.FullPath)));
    }

    [Fact]
    public void AnEmptyFolderIsAClearError()
    {
        using var tmp = TestPaths.NewTempDir();
        File.WriteAllText(Path.Combine(tmp.Path, "notes.txt"), "no videos here");
        var (code, _, err) = CliRunner.Run("index", tmp.Path, "--model", fixture.Model, "--out", Path.Combine(tmp.Path, "x.vsidx"));
        Assert.Equal(1, code);
        Assert.StartsWith($"error: no video files under {tmp.Path}", err.Trim());
        Assert.Contains(".m4v", err);
        Assert.False(File.Exists(Path.Combine(tmp.Path, "x.vsidx")));
    }

    [Fact]
    public void ASingleVideoFileIsIndexedWithItsFolderAsRoot()
    {
        string videos = fixture.NewVideoFolder("bars_h264.mp4", "numbered_h264.mp4");
        string index = Path.Combine(Path.GetTempPath(), $"vidseek-one-{Guid.NewGuid():N}.vsidx");
        try
        {
            var first = CliRunner.Run("index", Path.Combine(videos, "bars_h264.mp4"), "--model", fixture.Model, "--out", index);
            Assert.True(first.Code == 0, first.Err);
            Assert.Contains("1 videos in", first.Out);
            Assert.Contains("1 added", first.Out);
            var again = CliRunner.Run("index", Path.Combine(videos, "bars_h264.mp4"), "--model", fixture.Model, "--out", index);
            Assert.True(again.Code == 0, again.Err);
            Assert.Contains("1 unchanged", again.Out);
            using var store = SqliteIndexStore.Open(index);
            Assert.Equal("bars_h264.mp4", Assert.Single(store.Videos()).Path);
            Assert.Equal(videos.TrimEnd('/'), store.Manifest.Root);

            var notVideo = Path.Combine(videos, "notes.txt");
            File.WriteAllText(notVideo, "x");
            Assert.Contains("is not a video file", CliRunner.Run("index", notVideo, "--model", fixture.Model, "--out", index).Err);
        }
        finally
        {
            foreach (var f in Directory.GetFiles(Path.GetDirectoryName(index)!, Path.GetFileName(index) + "*")) File.Delete(f);
            Directory.Delete(videos, true);
        }
    }

    [Fact]
    public void SearchingAnIndexWithoutVideosSaysSo()
    {
        using var tmp = TestPaths.NewTempDir();
        File.WriteAllText(Path.Combine(tmp.Path, "broken.mp4"), "not a video"); // fails to decode: the index ends up empty
        string index = Path.Combine(tmp.Path, "x.vsidx");
        var built = CliRunner.Run("index", tmp.Path, "--model", fixture.Model, "--out", index);
        Assert.True(built.Code == 0, built.Err);
        Assert.Contains("0 videos in", built.Out);
        var (code, _, err) = CliRunner.Run("search", index, "a red circle");
        Assert.Equal(1, code);
        Assert.Contains("holds no videos", err);
    }
}
