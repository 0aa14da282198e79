namespace VidSeek.Index;

/// <summary>One indexed video file: where it is and what it was when encoded. Its searchable content is its <see cref="IndexedSegment"/>s.</summary>
/// <param name="Path">Relative to the index's root folder, with '/' separators.</param>
/// <param name="MtimeTicks">Last write time (UTC ticks) when encoded; with <paramref name="Size"/> the quick "unchanged" test.</param>
/// <param name="Sha256">Content hash (hex): a file touched but not changed is not encoded again.</param>
/// <param name="Captions">Ground-truth captions when the index was built from an annotated dataset, else empty.</param>
public sealed record IndexedVideo(
    string Path, long Size, long MtimeTicks, string Sha256, double Duration, double Fps, int FrameCount, int Width, int Height,
    IReadOnlyList<string> Captions)
{
    /// <summary>Id in the index (0 before it is stored). Ids are never reused: a stale id finds nothing, never another video.</summary>
    public long Id { get; init; }
}

/// <summary>
/// A stretch of a video that search ranks as one unit (a moment): its sampled frames and their embeddings. A short clip, and
/// every clip of an annotated dataset, is one segment covering the whole video.
/// </summary>
/// <param name="Ordinal">0, 1, ... in time order within the video.</param>
/// <param name="Start">Start time in seconds.</param>
/// <param name="End">End time in seconds.</param>
/// <param name="FrameTimes">Time in seconds of each sampled frame, <c>[F]</c>.</param>
/// <param name="FrameEmbeddings">Row-major <c>[F, E]</c> float32: per-frame embeddings (dual encoder) or per-frame ITC vectors (VLT).</param>
/// <param name="Coarse"><c>[E]</c>, the normalised mean of the frames: one vector per segment for a first, approximate stage.</param>
/// <param name="Tokens">VLT models: the video tokens <c>F_V</c>, row-major <c>[F, L, D]</c>, for ITM re-ranking; null for dual encoders (or when not read).</param>
public sealed record IndexedSegment(int Ordinal, double Start, double End, double[] FrameTimes, float[] FrameEmbeddings, float[] Coarse, float[]? Tokens = null)
{
    /// <summary>Id in the index (0 before it is stored); never reused.</summary>
    public long Id { get; init; }
    /// <summary>The <see cref="IndexedVideo.Id"/> it belongs to.</summary>
    public long VideoId { get; init; }
}

/// <summary>A segment to store, with one JPEG thumbnail per sampled frame.</summary>
public sealed record SegmentToStore(IndexedSegment Segment, IReadOnlyList<byte[]> Thumbnails);

/// <summary>What the incremental builder needs to know of a stored file.</summary>
public readonly record struct StoredFile(long Id, long Size, long MtimeTicks, string Sha256);

/// <summary>
/// The video index as the builder, the searcher and the web server see it, whatever holds it (the embedded SQLite file
/// <see cref="SqliteIndexStore"/>, or a PostgreSQL database, <see cref="PostgresIndexStore"/>). Every write is atomic per video: after a crash a store holds each video either
/// as it was before or as it was written, with all its segments and thumbnails.
/// </summary>
/// <remarks>
/// Segments are returned in a fixed order, by video path then ordinal: that order is the tie-break of every ranking, and for
/// an index of a dataset split it is the split's order of videos sorted by path (see IndexTests, search equals eval).
/// </remarks>
public interface IIndexStore : IDisposable
{
    /// <summary>Where it is (a file path or a URL), for messages.</summary>
    string Location { get; }

    /// <summary>What it was built with; a search must use the same model and frame count.</summary>
    IndexManifest Manifest { get; }

    /// <summary>A number that changes whenever the content changes (a video added, replaced or removed), also by another process.</summary>
    long Generation { get; }

    int VideoCount { get; }
    int SegmentCount { get; }

    /// <summary>Every stored file by path: what the incremental builder compares the folder with.</summary>
    Dictionary<string, StoredFile> Files();

    /// <summary>Adds a video with its segments, thumbnails and captions, or replaces the one stored under the same path, atomically.</summary>
    /// <param name="beforeCommit">Test hook: runs inside the transaction, after every row is written and before the commit.</param>
    /// <returns>The video's new id.</returns>
    long Put(IndexedVideo video, IReadOnlyList<SegmentToStore> segments, Action? beforeCommit = null);

    /// <summary>Records a new modification time for a video whose content hash is unchanged.</summary>
    void Touch(long videoId, long mtimeTicks);

    /// <summary>Drops a video with its segments, thumbnails and captions.</summary>
    void Remove(long videoId);

    /// <summary>Every video (metadata and captions, no embeddings), in path order.</summary>
    IReadOnlyList<IndexedVideo> Videos();

    /// <summary>The video with this id, or null.</summary>
    IndexedVideo? Video(long id);

    /// <summary>Whether any video has captions (the index came from an annotated dataset). By default from <see cref="Videos"/>;
    /// a store answers it with one query where it can.</summary>
    bool HasCaptions() => Videos().Any(v => v.Captions.Count > 0);

    /// <summary>Every segment in index order (video path, then ordinal), streamed; <paramref name="withTokens"/> reads the VLT tokens too.</summary>
    IEnumerable<IndexedSegment> Segments(bool withTokens = true);

    /// <summary>Every segment id, ascending: what the ANN index (<see cref="AnnIndex"/>) compares its keys with to catch up incrementally.</summary>
    long[] SegmentIds();

    /// <summary>The segments with these ids (in index order; unknown ids are left out): the second stage reads only its candidates.</summary>
    IReadOnlyList<IndexedSegment> Segments(IReadOnlyCollection<long> ids, bool withTokens = true);

    /// <summary>The segments of one video, in ordinal order (empty for an unknown id).</summary>
    IReadOnlyList<IndexedSegment> SegmentsOf(long videoId, bool withTokens = false);

    /// <summary>The JPEG thumbnail of frame <paramref name="frame"/> of segment <paramref name="segmentId"/>, or null.</summary>
    byte[]? Thumbnail(long segmentId, int frame);

    /// <summary>A value of the meta table that derived data is kept under (e.g. <see cref="ScoreCalibration"/>), or null. The keys
    /// <c>manifest</c> and <c>generation</c> belong to the store.</summary>
    string? ReadMeta(string key);

    /// <summary>Sets a meta value (inserted or replaced; not a content change, so the generation stays). <c>manifest</c> and <c>generation</c> are refused.</summary>
    void WriteMeta(string key, string value);
}

/// <summary>
/// A store that several <c>index</c> processes may update at once (<see cref="PostgresIndexStore"/>): the work is shared
/// through a job table. A job is a path to (re)encode; a worker claims one under a lease, renews the leases of everything it
/// holds while it works (a heartbeat), and a dead worker's leases expire, so another worker takes its jobs over.
/// <see cref="PutClaimed"/> writes a video and ends its job in one transaction, and only while the job is still the writer's:
/// a video lands exactly once, written by the worker that held it last.
/// </summary>
public interface ISharedIndexStore : IIndexStore
{
    /// <summary>Adds jobs for these paths (those already queued are left as they are).</summary>
    void Enqueue(IEnumerable<string> paths);

    /// <summary>Claims the next job that nobody holds (or whose lease has expired) for <paramref name="lease"/>; null when there is none to claim.</summary>
    string? Claim(string worker, TimeSpan lease);

    /// <summary>Extends the lease of every job <paramref name="worker"/> holds (its heartbeat); returns how many it holds.</summary>
    int Renew(string worker, TimeSpan lease);

    /// <summary>
    /// Writes a video as <see cref="IIndexStore.Put"/> does and ends its job, in one transaction, if <paramref name="worker"/>
    /// still holds the job; otherwise (its lease expired and another worker took the job over, or finished it) writes nothing
    /// and returns false.
    /// </summary>
    bool PutClaimed(string worker, IndexedVideo video, IReadOnlyList<SegmentToStore> segments, Action? beforeCommit = null);

    /// <summary>Drops a job without a write (the file failed to decode, or turned out unchanged), if <paramref name="worker"/> still holds it.</summary>
    void Finish(string path, string worker);

    /// <summary>Gives back every job <paramref name="worker"/> holds (it stops early: Ctrl+C), so others take them at once.</summary>
    void Release(string worker);

    /// <summary>How many jobs are left, claimed or not.</summary>
    int PendingJobs { get; }

    /// <summary>What is stored for one path now (another worker may have written it since this one looked), or null.</summary>
    StoredFile? Stored(string path);
}

/// <summary>
/// Opens an index by its location: a <c>postgres://</c> or <c>postgresql://</c> URL is <see cref="PostgresIndexStore"/>,
/// anything else a file path of the embedded SQLite store.
/// </summary>
public static class IndexStore
{
    /// <summary>Whether <paramref name="location"/> names a database server rather than a file.</summary>
    public static bool IsUrl(string location) => PostgresIndexStore.IsUrl(location);

    /// <summary>A location as the user gave it, made absolute when it is a file path.</summary>
    public static string Normalize(string location) => IsUrl(location) ? location : Path.GetFullPath(location);

    /// <summary>Opens an existing index for reading (or, with <paramref name="writable"/>, for updating).</summary>
    public static IIndexStore Open(string location, bool writable = false) =>
        IsUrl(location) ? PostgresIndexStore.Open(location, writable) : SqliteIndexStore.Open(location, writable);

    /// <summary>Opens <paramref name="location"/> for writing, creating it with <paramref name="manifest"/> if it does not exist.</summary>
    public static IIndexStore OpenOrCreate(string location, IndexManifest manifest) =>
        IsUrl(location) ? PostgresIndexStore.OpenOrCreate(location, manifest) : SqliteIndexStore.OpenOrCreate(location, manifest);
}
