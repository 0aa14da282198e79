using Microsoft.Data.Sqlite;
using VidSeek.Index;

namespace VidSeek.Tests.Index;

/// <summary>The <see cref="IIndexStore"/> contract on the embedded SQLite store, written directly (no model, no video).</summary>
public class IndexStoreTests
{
    private static readonly IndexManifest Manifest = new() { Model = "/m", ModelSha256 = new string('a', 64), Frames = 2, EmbedDim = 3, Root = "/videos" };

    private static IndexedVideo Video(string path) => new(path, 10, 1, new string('b', 64), 4.0, 10, 40, 8, 6, ["a caption"]);

    private static SegmentToStore Segment(int ordinal, float value) =>
        new(new IndexedSegment(ordinal, ordinal * 2.0, ordinal * 2.0 + 2, [ordinal * 2.0 + 0.5, ordinal * 2.0 + 1.5], Enumerable.Repeat(value, 6).ToArray(), [value, value, value]),
            [[1, 2], [3, 4]]);

    [Fact]
    public void SegmentsComeBackInPathThenOrdinalOrderAndByIdAndGenerationCountsWrites()
    {
        using var tmp = TestPaths.NewTempDir();
        using var store = IndexStore.OpenOrCreate(Path.Combine(tmp.Path, "x.vsi"), Manifest);
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
        string file = Path.Combine(tmp.Path, "x.vsi");
        using (var store = IndexStore.OpenOrCreate(file, Manifest)) store.Put(Video("a.mp4"), [Segment(0, 1)]);
        using (var db = new SqliteConnection($"Data Source={file};Pooling=False"))
        {
            db.Open();
            using var cmd = db.CreateCommand();
            cmd.CommandText = "UPDATE segments SET frame_embeddings = x'0102'";
            cmd.ExecuteNonQuery();
        }
        using var reopened = IndexStore.Open(file);
        var e = Assert.Throws<VidSeekException>(() => reopened.Segments().ToList());
        Assert.Contains(file, e.Message);
        Assert.Contains("frame_embeddings", e.Message);
    }
}
