using Microsoft.Data.Sqlite;

namespace VidSeek.Index;

/// <summary>What <see cref="IndexCopy.Copy"/> did.</summary>
public sealed record IndexCopyReport(int Copied, int AlreadyThere, int Removed, int Segments);

/// <summary>
/// Copies an index between stores (SQLite file to PostgreSQL and back, or any pair): every video with its metadata, captions,
/// segments (frame times and embeddings bit for bit), thumbnails, and the manifest. Ids are the target's own (they are never
/// reused within a store, so they cannot be carried over into one that has given them out already); the generation starts anew.
/// </summary>
public static class IndexCopy
{
    /// <summary>Copies <paramref name="from"/> into <paramref name="to"/>.</summary>
    /// <remarks>
    /// A file target must not exist: it is written beside (<c>TO.copying</c>) and renamed when complete, so nothing half-written
    /// is left. A database target is created, or completed when it holds the same index (same manifest): videos already there
    /// with the same content hash are kept, others written one transaction each, and videos the source does not have are
    /// dropped, so an interrupted copy is finished by running it again.
    /// </remarks>
    public static IndexCopyReport Copy(string from, string to, Action<int, int, string>? progress = null)
    {
        using var source = IndexStore.Open(from);
        if (!IndexStore.IsUrl(to))
        {
            if (File.Exists(to)) throw new VidSeekException($"{to} already exists; copy into a new file");
            string tmp = to + ".copying";
            File.Delete(tmp);
            IndexCopyReport report;
            try
            {
                using (var target = SqliteIndexStore.OpenOrCreate(tmp, source.Manifest)) report = CopyInto(source, target, progress);
                SqliteConnection.ClearAllPools();
                File.Move(tmp, to);
            }
            catch
            {
                SqliteConnection.ClearAllPools();
                File.Delete(tmp);
                throw;
            }
            finally { File.Delete(tmp + ".lock"); } // the temporary name's writer lock (SqliteIndexStore.OpenOrCreate)
            return report;
        }
        using (var target = IndexStore.OpenOrCreate(to, source.Manifest))
        {
            if (!ManifestsEqual(target.Manifest, source.Manifest))
                throw new VidSeekException($"{target.Location} holds an index of another manifest (dataset {target.Manifest.Dataset ?? "none"}, not {source.Manifest.Dataset ?? "none"}); copy into another schema");
            return CopyInto(source, target, progress);
        }
    }

    private static bool ManifestsEqual(IndexManifest a, IndexManifest b) => a == b;

    private static IndexCopyReport CopyInto(IIndexStore source, IIndexStore target, Action<int, int, string>? progress)
    {
        var there = target.Files();
        var videos = source.Videos();
        var wanted = videos.Select(v => v.Path).ToHashSet(StringComparer.Ordinal);
        int removed = 0;
        foreach (var (path, file) in there)
            if (!wanted.Contains(path)) { target.Remove(file.Id); removed++; }
        // The segment ids of every video first (a stream read to its end), then each video's segments by id: no store call
        // runs while a stream is open, which a PostgreSQL server multiplexing one session (PGlite) could not serve.
        var segmentIds = new Dictionary<long, List<long>>();
        foreach (var s in source.Segments(withTokens: false))
        {
            if (!segmentIds.TryGetValue(s.VideoId, out var list)) segmentIds[s.VideoId] = list = [];
            list.Add(s.Id);
        }
        int copied = 0, kept = 0, segmentCount = 0, done = 0;
        foreach (var video in videos)
        {
            var ids = segmentIds.GetValueOrDefault(video.Id) ?? [];
            segmentCount += ids.Count;
            if (there.TryGetValue(video.Path, out var old) && old.Sha256 == video.Sha256 && old.Size == video.Size && old.MtimeTicks == video.MtimeTicks)
                kept++;
            else
            {
                var own = source.Segments(ids, withTokens: true);
                if (own.Count != ids.Count) throw new VidSeekException($"{source.Location} changed while it was being copied; copy again");
                var toStore = own.Select(s => new SegmentToStore(s with { Id = 0, VideoId = 0 }, Thumbnails(source, s.Id))).ToList();
                target.Put(video with { Id = 0 }, toStore);
                copied++;
            }
            progress?.Invoke(++done, videos.Count, video.Path);
        }
        return new IndexCopyReport(copied, kept, removed, segmentCount);
    }

    /// <summary>A segment's thumbnails, frame 0, 1, ... up to the first missing one.</summary>
    private static List<byte[]> Thumbnails(IIndexStore store, long segmentId)
    {
        var list = new List<byte[]>();
        for (int f = 0; store.Thumbnail(segmentId, f) is { } jpeg; f++) list.Add(jpeg);
        return list;
    }
}
