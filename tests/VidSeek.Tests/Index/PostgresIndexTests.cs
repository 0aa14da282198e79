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
public class PostgresIndexTests(IndexFixture fixture, PostgresServer server) : IndexBehaviour(fixture), IClassFixture<IndexFixture>, IClassFixture<PostgresServer>
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

    [Fact]
    public void ThreeWorkersOneKilledIndexEveryVideoExactlyOnce()
    {
        string url = server.NewIndexUrl();
        string schema = url[(url.LastIndexOf("schema=", StringComparison.Ordinal) + 7)..];
        // 40 files: five copies of each fixture video under other names (same bytes, so the same embeddings).
        string videos = Fixture.NewVideoFolder(IndexFixture.GoodVideos);
        var originals = Directory.GetFiles(videos, "*", SearchOption.AllDirectories);
        foreach (var f in originals)
            for (int c = 1; c < 5; c++) File.Copy(f, Path.Combine(Path.GetDirectoryName(f)!, $"copy{c}_{Path.GetFileName(f)}"));
        int total = originals.Length * 5;

        // One worker alone over the originals first: the reference embeddings (and the schema, so the workers race on jobs only).
        string reference = server.NewIndexUrl();
        string refVideos = Fixture.NewVideoFolder(IndexFixture.GoodVideos);
        Assert.Equal(0, Index(refVideos, reference).Code);
        var expected = Load(reference);

        string[] args = ["index", videos, "--model", Fixture.Model, "--out", url, "--lease", "3"];
        var workers = Enumerable.Range(0, 3).Select(_ => Process.Start(ChildStart(args))!).ToList();
        foreach (var w in workers) { w.OutputDataReceived += (_, _) => { }; w.ErrorDataReceived += (_, _) => { }; w.BeginOutputReadLine(); w.BeginErrorReadLine(); }
        // Kill one (SIGKILL: no unwinding) once some videos are in and it holds a job, then start it again.
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(240) && Convert.ToInt64(server.Scalar(url, $"SELECT COUNT(*) FROM pg_namespace n JOIN pg_class c ON c.relnamespace = n.oid WHERE n.nspname = '{schema}' AND c.relname = 'videos'")) == 0)
            Thread.Sleep(100);
        while (clock.Elapsed < TimeSpan.FromSeconds(240) && Convert.ToInt64(server.Scalar(url, $"SELECT COUNT(*) FROM {schema}.videos")) < 4)
            Thread.Sleep(100);
        workers[0].Kill();
        workers[0].WaitForExit();
        bool killedMidRun = Convert.ToInt64(server.Scalar(url, $"SELECT COUNT(*) FROM {schema}.videos")) < total;
        var restarted = Process.Start(ChildStart(args))!;
        restarted.BeginOutputReadLine();
        restarted.BeginErrorReadLine();
        foreach (var w in workers.Skip(1).Append(restarted))
        {
            Assert.True(w.WaitForExit(300_000), "a worker did not finish");
            Assert.Equal(0, w.ExitCode);
        }
        Assert.True(killedMidRun, "the killed worker should have been killed before the index was complete");

        var all = Load(url);
        Assert.Equal(total, all.Count);
        Assert.Equal(total, Convert.ToInt64(server.Scalar(url, $"SELECT COUNT(DISTINCT path) FROM {schema}.videos")));
        Assert.Equal(total, Convert.ToInt64(server.Scalar(url, $"SELECT COUNT(*) FROM {schema}.segments")));
        Assert.Equal(0L, Convert.ToInt64(server.Scalar(url, $"SELECT COUNT(*) FROM {schema}.jobs")));     // no job left claimed
        foreach (var (path, entry) in all)
        {
            string original = string.Join('/', path.Split('/').Select(p => System.Text.RegularExpressions.Regex.Replace(p, "^copy[0-9]_", "")));
            Assert.Equal(expected[original].Segment.FrameEmbeddings, entry.Segment.FrameEmbeddings);
        }
        foreach (var w in workers) w.Dispose();
        restarted.Dispose();
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
