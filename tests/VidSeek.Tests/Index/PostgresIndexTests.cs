using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using VidSeek.Index;
using VidSeek.Tests.Training;

namespace VidSeek.Tests.Index;

/// <summary>
/// The store-independent behaviours (<see cref="IndexBehaviour"/>) on PostgreSQL + pgvector, and the two stores side by side:
/// the same videos give the same index and the same rankings, and an index copied SQLite -> PostgreSQL -> SQLite is unchanged.
/// </summary>
[Collection(ProcessStateCollection.Name)]
public partial class PostgresIndexTests(IndexFixture fixture, PostgresServer server) : IndexBehaviour(fixture), IClassFixture<IndexFixture>, IClassFixture<PostgresServer>
{
    protected override string IndexFile(string dir) => server.NewIndexUrl();

    [Fact]
    public void BothStoresHoldTheSameIndexOfTheSameVideosAndRankThemAlike()
    {
        string url = server.NewIndexUrl();
        string videos = Fixture.NewVideoFolder("bars_h264.mp4", "numbered_h264.mp4", "counter_mpeg4.mp4", "zoom_h264.mkv", "moving_vp8.webm");
        string file = Path.Combine(Fixture.Tmp, Guid.NewGuid().ToString("N"), "index.vsi");
        var a = Index(videos, file);
        var b = Index(videos, url);
        Assert.True(a.Code == 0 && b.Code == 0, a.Err + b.Err);
        Assert.Equal(Dump(file), Dump(url));

        using var fromFile = VideoSearcher.Open(file);
        using var fromServer = VideoSearcher.Open(url);
        foreach (var query in new[] { "colour bars", "a counter", "something moving" })
        {
            var x = fromFile.Search(query, 5);
            var y = fromServer.Search(query, 5);
            Assert.Equal(x.Select(h => (h.Video.Path, h.Score, h.BestFrame)), y.Select(h => (h.Video.Path, h.Score, h.BestFrame)));
            Assert.Equal(x.Select(h => h.FrameWeights), y.Select(h => h.FrameWeights));
        }
    }

    [Fact]
    public void CopySqliteToPostgresToSqliteIsLossless()
    {
        var split = TinySetup.Split();
        string dir = Path.Combine(Fixture.Tmp, Guid.NewGuid().ToString("N"));
        string original = Path.Combine(dir, "original.vsi"), back = Path.Combine(dir, "back.vsi");
        BuildIndex(Fixture.Model, split, original, frames: 4);
        string url = server.NewIndexUrl();

        var there = CliRunner.Run("index", "copy", original, url);
        Assert.True(there.Code == 0, there.Err);
        Assert.Contains($"copied {split.Videos.Count} videos", there.Out);
        var again = CliRunner.Run("index", "copy", original, url);                  // a finished copy is left as it is
        Assert.Contains("copied 0 videos", again.Out);
        var home = CliRunner.Run("index", "copy", url, back);
        Assert.True(home.Code == 0, home.Err);

        var expected = Dump(original);
        Assert.NotEmpty(expected);
        Assert.Equal(expected, Dump(url));
        Assert.Equal(expected, Dump(back));
        Assert.Contains("already exists", CliRunner.Run("index", "copy", url, back).Err);
    }

    /// <summary>Everything an index holds but its ids, as lines: the manifest, each video, its captions, segments (the bytes of
    /// every array, hashed) and thumbnails.</summary>
    private static List<string> Dump(string location)
    {
        using var store = IndexStore.Open(location);
        var lines = new List<string> { System.Text.Json.JsonSerializer.Serialize(store.Manifest) };
        var segments = store.Segments().ToList();
        foreach (var v in store.Videos())
        {
            lines.Add($"{v.Path} {v.Size} {v.MtimeTicks} {v.Sha256} {v.Duration:R} {v.Fps:R} {v.FrameCount} {v.Width}x{v.Height} [{string.Join("|", v.Captions)}]");
            foreach (var s in segments.Where(s => s.VideoId == v.Id))
            {
                var thumbs = new List<string>();
                for (int f = 0; store.Thumbnail(s.Id, f) is { } jpeg; f++) thumbs.Add(Hash(jpeg));
                lines.Add($"  {s.Ordinal} {s.Start:R}-{s.End:R} times {Hash(s.FrameTimes)} frames {Hash(s.FrameEmbeddings)} coarse {Hash(s.Coarse)} " +
                          $"tokens {(s.Tokens is null ? "none" : Hash(s.Tokens))} thumbnails {string.Join(",", thumbs)}");
            }
        }
        return lines;
    }

    private static string Hash<T>(T[] values) where T : struct => Convert.ToHexString(SHA256.HashData(MemoryMarshal.AsBytes(values.AsSpan())))[..16];
}
