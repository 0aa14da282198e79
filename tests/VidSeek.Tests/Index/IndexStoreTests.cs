using Microsoft.Data.Sqlite;
using VidSeek.Index;

namespace VidSeek.Tests.Index;

/// <summary>The <see cref="IIndexStore"/> contract, written directly (no model, no video), run on every store.</summary>
public abstract class IndexStoreContract
{
    /// <summary>A location for a new index (a file in <paramref name="tmp"/>, or a URL naming a new schema).</summary>
    protected abstract string NewLocation(string tmp);

    /// <summary>Overwrites every segment's frame embeddings with two bytes, behind the store's back.</summary>
    protected abstract void CorruptEmbeddings(string location);

    private static readonly IndexManifest Manifest = new() { Model = "/m", ModelSha256 = new string('a', 64), Frames = 2, EmbedDim = 3, Root = "/videos" };

    protected static IndexedVideo Video(string path) => new(path, 10, 1, new string('b', 64), 4.0, 10, 40, 8, 6, ["a caption"]);

    protected static SegmentToStore Segment(int ordinal, float value) =>
        new(new IndexedSegment(ordinal, ordinal * 2.0, ordinal * 2.0 + 2, [ordinal * 2.0 + 0.5, ordinal * 2.0 + 1.5], Enumerable.Repeat(value, 6).ToArray(), [value, value, value]),
            [[1, 2], [3, 4]]);

    [Fact]
    public void SegmentsComeBackInPathThenOrdinalOrderAndByIdAndGenerationCountsWrites()
    {
        using var tmp = TestPaths.NewTempDir();
        using var store = IndexStore.OpenOrCreate(NewLocation(tmp.Path), Manifest);
        long g0 = store.Generation;
        long b = store.Put(Video("b.mp4"), [Segment(0, 1), Segment(1, 2)]);
        long a = store.Put(Video("a.mp4"), [Segment(0, 3)]);
        Assert.True(store.Generation > g0);
        Assert.Equal((2, 3), (store.VideoCount, store.SegmentCount));

        var all = store.Segments().ToList();
        Assert.Equal([(a, 0), (b, 0), (b, 1)], all.Select(s => (s.VideoId, s.Ordinal)));
        Assert.Equal([3f, 1f, 2f], all.Select(s => s.Coarse[0]));
        Assert.Equal([2.5, 3.5], all[2].FrameTimes);
        Assert.Equal([(byte)3, (byte)4], store.Thumbnail(all[2].Id, 1));
        Assert.Null(store.Thumbnail(all[2].Id, 2));

        var some = store.Segments([all[2].Id, all[0].Id, 999_999]);
        Assert.Equal([all[0].Id, all[2].Id], some.Select(s => s.Id));            // index order, unknown ids left out
        Assert.Equal(["a.mp4", "b.mp4"], store.Videos().Select(v => v.Path));
        Assert.Equal(["a caption"], store.Video(a)!.Captions);

        long g1 = store.Generation;
        store.Remove(a);
        Assert.True(store.Generation > g1);
        Assert.Null(store.Video(a));
        Assert.Null(store.Thumbnail(all[0].Id, 0));
        long c = store.Put(Video("c.mp4"), [Segment(0, 4)]);
        Assert.True(c > a && c > b, "ids are never reused");
    }

    [Fact]
    public void AMalformedEmbeddingBlobIsAClearErrorNamingTheIndex()
    {
        using var tmp = TestPaths.NewTempDir();
        string file = NewLocation(tmp.Path);
        string shown;
        using (var store = IndexStore.OpenOrCreate(file, Manifest))
        {
            store.Put(Video("a.mp4"), [Segment(0, 1)]);
            shown = store.Location;
        }
        CorruptEmbeddings(file);
        using var reopened = IndexStore.Open(file);
        var e = Assert.Throws<VidSeekException>(() => reopened.Segments().ToList());
        Assert.Contains(shown, e.Message);
        Assert.Contains("frame_embeddings", e.Message);
    }
}

public class SqliteIndexStoreTests : IndexStoreContract
{
    protected override string NewLocation(string tmp) => Path.Combine(tmp, "x.vsi");

    protected override void CorruptEmbeddings(string location)
    {
        using var db = new SqliteConnection($"Data Source={location};Pooling=False");
        db.Open();
        using var cmd = db.CreateCommand();
        cmd.CommandText = "UPDATE segments SET frame_embeddings = x'0102'";
        cmd.ExecuteNonQuery();
    }
}

/// <summary>The contract on <see cref="PostgresIndexStore"/>, and what only a server store has (URLs, migrations, HNSW).</summary>
public partial class PostgresIndexStoreTests(PostgresServer server) : IndexStoreContract, IClassFixture<PostgresServer>
{
    private static readonly IndexManifest Manifest3 = new() { Model = "/m", ModelSha256 = new string('a', 64), Frames = 2, EmbedDim = 3, Root = "/videos" };

    protected override string NewLocation(string tmp) => server.NewIndexUrl();

    protected override void CorruptEmbeddings(string location) =>
        server.Execute(location, $"UPDATE {Schema(location)}.segments SET frame_embeddings = '\\x0102'::bytea");

    private static string Schema(string url) => url[(url.LastIndexOf("schema=", StringComparison.Ordinal) + 7)..];

    [Fact]
    public void ASchemaNewerThanTheProgramIsRefusedAndAMissingIndexIsNamed()
    {
        string url = server.NewIndexUrl();
        var missing = Assert.Throws<VidSeekException>(() => IndexStore.Open(url));
        Assert.Contains("index not found", missing.Message);
        using (IndexStore.OpenOrCreate(url, Manifest3)) { }
        server.Execute(url, $"INSERT INTO {Schema(url)}.migrations(version, program) VALUES ({PostgresIndexStore.SchemaVersion + 1}, 'a newer vidseek')");
        var e = Assert.Throws<VidSeekException>(() => IndexStore.Open(url));
        Assert.Contains($"schema version {PostgresIndexStore.SchemaVersion + 1}, newer than this program's {PostgresIndexStore.SchemaVersion}", e.Message);
        Assert.Throws<VidSeekException>(() => IndexStore.OpenOrCreate(url, Manifest3));
    }

    [Fact]
    public void AnotherModelIsRefusedAndMessagesNeverShowThePassword()
    {
        string url = server.NewIndexUrl().Replace("postgres://postgres@", "postgres://postgres:s3cr%40t@");
        using (var store = IndexStore.OpenOrCreate(url, Manifest3)) Assert.DoesNotContain("s3cr", store.Location);
        var e = Assert.Throws<VidSeekException>(() => IndexStore.OpenOrCreate(url, Manifest3 with { ModelSha256 = new string('c', 64) }));
        Assert.Contains("was built with the model", e.Message);
        Assert.DoesNotContain("s3cr", e.Message);
        Assert.Equal("postgres://u@h:1/d?schema=x", PostgresIndexStore.Redact("postgres://u:pw@h:1/d?schema=x"));
    }

    [Fact]
    public void NoServerIsOneLineSayingSo()
    {
        server.RequireUrl();
        int port;
        var l = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        l.Start();
        port = ((System.Net.IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        var e = Assert.Throws<VidSeekException>(() => IndexStore.Open($"postgres://me:pw@127.0.0.1:{port}/db"));
        Assert.Contains("connection refused", e.Message);
        Assert.DoesNotContain("\n", e.Message);
        Assert.DoesNotContain(":pw", e.Message);
        Assert.Contains("unknown parameter 'colour'", Assert.Throws<VidSeekException>(() => IndexStore.Open("postgres://h/db?colour=red")).Message);
    }

    [Fact]
    public void TheHnswFirstStageFindsTheNearestCoarseVectors()
    {
        string url = server.NewIndexUrl();
        using var store = (PostgresIndexStore)IndexStore.OpenOrCreate(url, Manifest3);
        var rng = new Random(5);
        var ids = new Dictionary<long, float[]>();
        for (int v = 0; v < 40; v++)
        {
            var c = new[] { (float)rng.NextDouble() - 0.5f, (float)rng.NextDouble() - 0.5f, (float)rng.NextDouble() - 0.5f };
            var seg = new IndexedSegment(0, 0, 1, [0.25, 0.75], [.. c, .. c], c);
            store.Put(new IndexedVideo($"v{v:D2}.mp4", 1, 1, "s", 1, 1, 1, 1, 1, []), [new SegmentToStore(seg, [])]);
        }
        foreach (var s in store.Segments()) ids[s.Id] = s.Coarse;
        float[] query = [1, 0.2f, -0.3f];
        static double Cos(float[] a, float[] b) => a.Zip(b, (x, y) => (double)x * y).Sum() / Math.Sqrt(a.Sum(x => (double)x * x) * b.Sum(x => (double)x * x));
        var exact = ids.OrderByDescending(p => Cos(p.Value, query)).Take(5).Select(p => p.Key).ToList();
        // 40 points and ef_search 40: the graph search is exhaustive here, so the approximate stage must equal the exact one.
        Assert.Equal(exact, store.NearestCoarse(query, 5));
    }
}
