using System.Text.Json;
using Microsoft.Data.Sqlite;

namespace VidSeek.Index;

/// <summary>What the index was built with; a search must use the same.</summary>
public sealed record IndexManifest
{
    /// <summary>3: videos hold segments (each with its frames, embeddings and thumbnails); ids are never reused.</summary>
    public const int CurrentVersion = 3;
    public int Version { get; init; } = CurrentVersion;
    /// <summary>The model folder, absolute.</summary>
    public string Model { get; init; } = "";
    /// <summary>SHA-256 of the model's <c>model.safetensors</c>: the embeddings are only valid for these weights.</summary>
    public string ModelSha256 { get; init; } = "";
    /// <summary>F, frames sampled per segment.</summary>
    public int Frames { get; init; }
    /// <summary>E, the width of a frame embedding.</summary>
    public int EmbedDim { get; init; }
    /// <summary><c>vidseek-dual-encoder</c> or <c>vidseek-vlt</c> (<see cref="IndexModel.ModelType"/>).</summary>
    public string ModelType { get; init; } = IndexModel.DualType;
    /// <summary>VLT: L and D of the stored video tokens <c>[F, L, D]</c>; 0 for dual encoders.</summary>
    public int TokensPerFrame { get; init; }
    public int TokenDim { get; init; }
    /// <summary>The folder that video paths are relative to, absolute.</summary>
    public string Root { get; init; } = "";
    /// <summary>The annotated dataset the videos came from (format, root, split), or null for a plain folder.</summary>
    public string? Dataset { get; init; }
    /// <summary>How videos are cut into segments; absent in indexes written before segmenting was a choice, which hold one segment per video.</summary>
    public SegmentingOptions? Segmenting { get; init; }
    /// <summary><see cref="Segmenting"/>, with the whole-video default of older indexes filled in.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public SegmentingOptions SegmentingOrDefault => Segmenting ?? SegmentingOptions.WholeVideo;

    /// <summary>Most frames per segment an index may hold (the CLI's <c>--frames</c> bound).</summary>
    public const int MaxFrames = 256;

    /// <summary>
    /// How an existing index (this manifest) differs from what a new run asks for (<paramref name="wanted"/>) in a way that
    /// forbids adding to it, said as "built with ..."; null when it may be updated. The same rule for every store; a moved
    /// model folder with the same weights is not a clash.
    /// </summary>
    public string? ClashWith(IndexManifest wanted)
    {
        static string Short(string sha) => sha.Length > 12 ? sha[..12] : sha;
        return ModelSha256 != wanted.ModelSha256 ? $"the model {Model} (sha256 {Short(ModelSha256)}), not {wanted.Model} (sha256 {Short(wanted.ModelSha256)})"
            : Frames != wanted.Frames ? $"{Frames} frames per video, not {wanted.Frames}"
            : Root != wanted.Root ? $"the folder {Root}, not {wanted.Root}"
            : ModelType != wanted.ModelType ? $"a {ModelType} model, not a {wanted.ModelType}"
            : EmbedDim != wanted.EmbedDim ? $"embeddings of width {EmbedDim}, not {wanted.EmbedDim}"
            : SegmentingOrDefault.Describe() != wanted.SegmentingOrDefault.Describe()
                ? $"segments '{SegmentingOrDefault.Describe()}', not '{wanted.SegmentingOrDefault.Describe()}' (index again with the same --segments options)"
            : null;
    }

    /// <summary>
    /// What is wrong with a manifest read from a file (a field out of range or of the wrong form), or null when it is sound.
    /// Checked on every open, so a hand-edited or damaged manifest is one error rather than a crash (or a huge allocation) later.
    /// </summary>
    public string? Problem()
    {
        if (Frames is < 1 or > MaxFrames) return $"Frames is {Frames}, not 1..{MaxFrames}";
        if (EmbedDim is < 1 or > 1 << 16) return $"EmbedDim is {EmbedDim}, not 1..65536";
        if (ModelType is not (IndexModel.DualType or IndexModel.VltType)) return $"ModelType is '{ModelType}', not {IndexModel.DualType} or {IndexModel.VltType}";
        if (TokensPerFrame is < 0 or > 1 << 16 || TokenDim is < 0 or > 1 << 16) return $"TokensPerFrame/TokenDim {TokensPerFrame}/{TokenDim} out of range";
        if (ModelType == IndexModel.VltType && (TokensPerFrame < 1 || TokenDim < 1)) return "a VLT index needs TokensPerFrame and TokenDim";
        if ((long)Frames * Math.Max(1, TokensPerFrame) * Math.Max(1, TokenDim) > 1L << 28) return "Frames x TokensPerFrame x TokenDim is too large";
        if (ModelSha256 is null || ModelSha256.Length != 64 || !ModelSha256.All(char.IsAsciiHexDigit)) return "ModelSha256 is not 64 hex digits";
        if (string.IsNullOrEmpty(Model)) return "Model is empty";
        if (string.IsNullOrEmpty(Root) || !Path.IsPathFullyQualified(Root)) return $"Root '{Root}' is not an absolute folder";
        if (Segmenting is { } seg)
        {
            try { seg.Validate(); }
            catch (VidSeekException e) { return $"Segmenting: {e.Message}"; }
        }
        return null;
    }
}

/// <summary>
/// The embedded video index: one SQLite file, no server. Every video is written with its segments and thumbnails in one
/// transaction, so a process killed at any point leaves the index as it was after the last finished video: SQLite rolls the
/// unfinished transaction back when the file is next opened. Paths are unique, so re-adding a video replaces it.
/// </summary>
/// <remarks>
/// Tables: <c>meta</c> (the <see cref="IndexManifest"/> as JSON, and the generation counter), <c>videos</c> (one row per
/// file), <c>segments</c> (per segment: times, embeddings as float32 blobs, VLT tokens), <c>thumbnails</c> (a JPEG per
/// sampled frame of a segment, for the web page), <c>captions</c> (ground truth, optional). Ids are AUTOINCREMENT, so a
/// deleted video's id is never given to another one.
/// </remarks>
public sealed class SqliteIndexStore : IIndexStore
{
    private readonly SqliteConnection db;

    public string File { get; }
    public string Location => File;
    public IndexManifest Manifest { get; private set; }

    private readonly FileStream? writerLock;

    private SqliteIndexStore(string file, SqliteConnection db, IndexManifest manifest, FileStream? writerLock = null)
    {
        File = file;
        this.db = db;
        Manifest = manifest;
        this.writerLock = writerLock;
    }

    /// <summary>Opens an existing index.</summary>
    /// <param name="writable">
    /// Whether the caller writes. Readers open it read-write too where the file permits, because the first connection
    /// after a crash must be able to roll back the interrupted transaction; a read-only file is opened read-only.
    /// </param>
    /// <exception cref="VidSeekException">The file is missing or is not a VidSeek index.</exception>
    public static SqliteIndexStore Open(string file, bool writable = false) => Open(file, writable, writerLock: null);

    private static SqliteIndexStore Open(string file, bool writable, FileStream? writerLock)
    {
        if (Directory.Exists(file)) throw new VidSeekException($"{file} is a folder, not an index file; give a file path (e.g. {Path.Combine(file, "index.vsi")})");
        if (!System.IO.File.Exists(file)) throw new VidSeekException($"index not found: {file}");
        bool readOnlyFile = !OperatingSystem.IsWindows() && (System.IO.File.GetUnixFileMode(file) & (UnixFileMode.UserWrite | UnixFileMode.GroupWrite | UnixFileMode.OtherWrite)) == 0;
        if (writable && readOnlyFile) throw new VidSeekException($"{file} is read-only; make it writable (chmod u+w) or give another --out");
        SqliteConnection? db = null;
        try
        {
            db = Connect(file, readOnlyFile ? SqliteOpenMode.ReadOnly : SqliteOpenMode.ReadWrite);
            var json = Scalar(db, "SELECT value FROM meta WHERE key = 'manifest'") as string
                ?? throw new VidSeekException($"{file} is not a VidSeek index (no manifest)");
            IndexManifest? manifest;
            try { manifest = JsonSerializer.Deserialize<IndexManifest>(json); }
            catch (JsonException e) { throw new VidSeekException($"{file} is not a VidSeek index (its manifest is not valid: {e.Message})", e); }
            if (manifest is null) throw new VidSeekException($"{file}: empty manifest");
            if (manifest.Version != IndexManifest.CurrentVersion)
                throw new VidSeekException($"{file} is an index of format version {manifest.Version}; this VidSeek reads version {IndexManifest.CurrentVersion} (build it again)");
            if (manifest.Problem() is { } problem) throw new VidSeekException($"{file} has a damaged manifest ({problem}); build the index again");
            if (!long.TryParse(Scalar(db, "SELECT value FROM meta WHERE key = 'generation'") as string, System.Globalization.NumberStyles.None, null, out _))
                throw new VidSeekException($"{file} is damaged (its generation counter is not a number); build the index again");
            if (writerLock is not null)
            {
                // A writer checks the whole file before changing it: updating a damaged file could spread the damage, and
                // `index` must not take a segment whose blobs are malformed for "unchanged".
                if (Scalar(db, "PRAGMA quick_check") is not "ok")
                    throw new VidSeekException($"{file} is damaged (SQLite's quick_check fails); build the index again");
                CheckBlobSizes(db, file, manifest);
            }
            return new SqliteIndexStore(file, db, manifest, writerLock);
        }
        catch (Exception e) when (IsDataError(e))
        {
            db?.Dispose();
            throw new VidSeekException($"{file} is not a VidSeek index: {OneLine(e.Message)}", e);
        }
        catch
        {
            db?.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Checks that every segment's blobs have the sizes the manifest implies (<c>search</c> and <c>serve</c> call it when they
    /// open an index, so a damaged row is one error at start rather than a failed request later; writers check on open).
    /// </summary>
    public void CheckSegmentBlobs() => Guard(() => { CheckBlobSizes(db, File, Manifest); return 0; });

    /// <summary>
    /// Every segment's blobs have the byte length the manifest implies. SQLite's <c>length()</c> of a blob reads its size from
    /// the record header, not its content, so this costs one pass over the segment rows.
    /// </summary>
    private static void CheckBlobSizes(SqliteConnection db, string file, IndexManifest m)
    {
        using var cmd = db.CreateCommand();
        cmd.CommandText = """
            SELECT id, CASE
                WHEN typeof(frame_times) <> 'blob' OR length(frame_times) <> $f * 8 THEN 'frame_times'
                WHEN typeof(frame_embeddings) <> 'blob' OR length(frame_embeddings) <> $f * $e * 4 THEN 'frame_embeddings'
                WHEN typeof(coarse) <> 'blob' OR length(coarse) <> $e * 4 THEN 'coarse vector'
                WHEN tokens IS NOT NULL AND (typeof(tokens) <> 'blob' OR length(tokens) <> $f * $l * $d * 4) THEN 'tokens'
                END AS bad FROM segments WHERE bad IS NOT NULL LIMIT 1
            """;
        cmd.Parameters.AddWithValue("$f", m.Frames);
        cmd.Parameters.AddWithValue("$e", m.EmbedDim);
        cmd.Parameters.AddWithValue("$l", m.TokensPerFrame);
        cmd.Parameters.AddWithValue("$d", m.TokenDim);
        using var r = cmd.ExecuteReader();
        if (r.Read()) throw new VidSeekException($"{file}: segment {r.GetInt64(0)} has a malformed {r.GetString(1)}; build the index again");
    }

    /// <summary>
    /// The lock a writer holds for as long as it has the index open (<c>INDEX.lock</c> beside it, an exclusive advisory lock that
    /// the system drops when the process ends, however it ends): one writer at a time, so two <c>index</c> runs never interleave
    /// creation or updates, and the second says so instead of failing somewhere inside SQLite.
    /// </summary>
    private static FileStream LockWriter(string file)
    {
        string path = file + ".lock";
        try { return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None); }
        catch (IOException e) when (IsSharingViolation(e))
        {
            throw new VidSeekException($"another vidseek process is writing {file} (it holds {path}); wait for it to finish, then run this again", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new VidSeekException($"cannot write beside {file} ({OneLine(e.Message)}); updating an index needs its folder writable", e);
        }
    }

    /// <summary>The lock is held by another open of the file (.NET's FileShare.None is an advisory flock on Unix).</summary>
    private static bool IsSharingViolation(IOException e) =>
        e.HResult == unchecked((int)0x80070020) || e.Message.Contains("being used by another process", StringComparison.Ordinal);

    /// <summary>Opens <paramref name="file"/> for writing, creating it with <paramref name="manifest"/> if it does not exist.</summary>
    /// <exception cref="VidSeekException">The file exists but was built with another model, frame count or root; or another process is writing it.</exception>
    public static SqliteIndexStore OpenOrCreate(string file, IndexManifest manifest)
    {
        if (Directory.Exists(file)) throw new VidSeekException($"{file} is a folder, not an index file; give a file path (e.g. {Path.Combine(file, "index.vsi")})");
        string? dir = Path.GetDirectoryName(Path.GetFullPath(file));
        if (dir is not null) Directory.CreateDirectory(dir);
        var writerLock = LockWriter(file);
        try
        {
            if (!System.IO.File.Exists(file)) Create(file, manifest);
            var existing = Open(file, writable: true, writerLock);
            var m = existing.Manifest;
            string? clash = m.ClashWith(manifest);
            if (clash is not null)
            {
                existing.Dispose();
                throw new VidSeekException($"{file} was built with {clash}; give another --out, or delete it to build it again");
            }
            if (m.Model != manifest.Model) existing.WriteManifest(existing.Manifest with { Model = manifest.Model }); // same weights, moved folder
            return existing;
        }
        catch
        {
            writerLock.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Creates a new, empty index. It is built under a name of its own and renamed into place, so a crash during creation leaves
    /// no file that looks like an index, and no other process ever sees a half-made one (the caller holds the writer lock).
    /// </summary>
    private static void Create(string file, IndexManifest manifest)
    {
        string tmp = $"{file}.creating-{Environment.ProcessId}-{Guid.NewGuid():N}";
        try
        {
            using (var create = Connect(tmp, SqliteOpenMode.ReadWriteCreate))
            {
                Execute(create, """
                    CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
                    CREATE TABLE videos(
                        id INTEGER PRIMARY KEY AUTOINCREMENT, path TEXT NOT NULL UNIQUE, size INTEGER NOT NULL, mtime INTEGER NOT NULL,
                        sha256 TEXT NOT NULL, duration REAL NOT NULL, fps REAL NOT NULL, frame_count INTEGER NOT NULL,
                        width INTEGER NOT NULL, height INTEGER NOT NULL);
                    CREATE TABLE segments(
                        id INTEGER PRIMARY KEY AUTOINCREMENT, video_id INTEGER NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
                        ordinal INTEGER NOT NULL, start REAL NOT NULL, end REAL NOT NULL,
                        frame_times BLOB NOT NULL, frame_embeddings BLOB NOT NULL, coarse BLOB NOT NULL, tokens BLOB,
                        UNIQUE(video_id, ordinal));
                    CREATE TABLE thumbnails(segment_id INTEGER NOT NULL REFERENCES segments(id) ON DELETE CASCADE, frame INTEGER NOT NULL,
                        jpeg BLOB NOT NULL, PRIMARY KEY(segment_id, frame));
                    CREATE TABLE captions(video_id INTEGER NOT NULL REFERENCES videos(id) ON DELETE CASCADE, text TEXT NOT NULL);
                    CREATE INDEX captions_video ON captions(video_id);
                    INSERT INTO meta(key, value) VALUES ('generation', '0');
                    """);
                using var cmd = create.CreateCommand();
                cmd.CommandText = "INSERT INTO meta(key, value) VALUES ('manifest', $v)";
                cmd.Parameters.AddWithValue("$v", JsonSerializer.Serialize(manifest));
                cmd.ExecuteNonQuery();
            }
            SqliteConnection.ClearAllPools();
            System.IO.File.Move(tmp, file, overwrite: false);
        }
        catch (SqliteException e)
        {
            throw new VidSeekException($"cannot create {file}: {OneLine(e.Message)}", e);
        }
        finally
        {
            try { System.IO.File.Delete(tmp); System.IO.File.Delete(tmp + "-journal"); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }


    private void WriteManifest(IndexManifest manifest) => GuardWrite(() =>
    {
        using var cmd = db.CreateCommand();
        cmd.CommandText = "UPDATE meta SET value = $v WHERE key = 'manifest'";
        cmd.Parameters.AddWithValue("$v", JsonSerializer.Serialize(manifest));
        cmd.ExecuteNonQuery();
        Manifest = manifest;
        return 0;
    });

    public long Generation => Guard(() => Convert.ToInt64(Scalar(db, "SELECT value FROM meta WHERE key = 'generation'") ?? 0L));

    public int VideoCount => Guard(() => Convert.ToInt32(Scalar(db, "SELECT COUNT(*) FROM videos")));

    public int SegmentCount => Guard(() => Convert.ToInt32(Scalar(db, "SELECT COUNT(*) FROM segments")));

    public bool HasCaptions() => Guard(() => Convert.ToInt64(Scalar(db, "SELECT EXISTS(SELECT 1 FROM captions)")) != 0);

    public Dictionary<string, StoredFile> Files() => Guard(() =>
    {
        using var cmd = db.CreateCommand();
        cmd.CommandText = $"SELECT {IndexRows.FileColumns} FROM videos";
        using var r = cmd.ExecuteReader();
        return IndexRows.Files(r);
    });

    public long Put(IndexedVideo video, IReadOnlyList<SegmentToStore> segments, Action? beforeCommit = null) => GuardWrite(() =>
    {
        using var tx = db.BeginTransaction();
        long id = Write(tx, video, segments);
        beforeCommit?.Invoke();
        tx.Commit();
        return id;
    });

    /// <summary>
    /// Adds many videos in one transaction (one commit, one fsync, one generation step): for building large indexes in bulk
    /// (the search benchmark's synthetic collections). All or nothing, like <see cref="Put"/>.
    /// </summary>
    public void PutMany(IEnumerable<(IndexedVideo Video, IReadOnlyList<SegmentToStore> Segments)> videos) => GuardWrite(() =>
    {
        using var tx = db.BeginTransaction();
        statements = [];
        try
        {
            foreach (var (video, segments) in videos) Write(tx, video, segments);
        }
        finally
        {
            foreach (var cmd in statements.Values) cmd.Dispose();
            statements = null;
        }
        tx.Commit();
        return 0;
    });

    // While PutMany runs: one command per SQL text, reused for every row (Microsoft.Data.Sqlite keeps a command's prepared
    // statement until its text changes), instead of parsing and planning the same few statements again for every video.
    private Dictionary<string, SqliteCommand>? statements;

    /// <summary>Writes a video with its segments, thumbnails and captions (replacing one at the same path) and bumps the generation.</summary>
    private long Write(SqliteTransaction tx, IndexedVideo video, IReadOnlyList<SegmentToStore> segments)
    {
        Run(tx, "DELETE FROM videos WHERE path = $p", ("$p", video.Path));
        long id = Insert(tx, """
            INSERT INTO videos(path, size, mtime, sha256, duration, fps, frame_count, width, height)
            VALUES ($path, $size, $mtime, $sha, $duration, $fps, $count, $w, $h) RETURNING id
            """, ("$path", video.Path), ("$size", video.Size), ("$mtime", video.MtimeTicks), ("$sha", video.Sha256), ("$duration", video.Duration),
            ("$fps", video.Fps), ("$count", video.FrameCount), ("$w", video.Width), ("$h", video.Height));
        foreach (var (segment, thumbnails) in segments)
        {
            long sid = Insert(tx, """
                INSERT INTO segments(video_id, ordinal, start, end, frame_times, frame_embeddings, coarse, tokens)
                VALUES ($v, $o, $s, $e, $times, $emb, $coarse, $tokens) RETURNING id
                """, ("$v", id), ("$o", segment.Ordinal), ("$s", segment.Start), ("$e", segment.End), ("$times", Bytes(segment.FrameTimes)),
                ("$emb", Bytes(segment.FrameEmbeddings)), ("$coarse", Bytes(segment.Coarse)),
                ("$tokens", segment.Tokens is null ? DBNull.Value : Bytes(segment.Tokens)));
            for (int f = 0; f < thumbnails.Count; f++)
                Run(tx, "INSERT INTO thumbnails(segment_id, frame, jpeg) VALUES ($id, $f, $jpeg)", ("$id", sid), ("$f", f), ("$jpeg", thumbnails[f]));
        }
        foreach (var caption in video.Captions)
            Run(tx, "INSERT INTO captions(video_id, text) VALUES ($id, $t)", ("$id", id), ("$t", caption));
        BumpGeneration(tx);
        return id;
    }

    public void Touch(long videoId, long mtimeTicks) => GuardWrite(() =>
    {
        using var tx = db.BeginTransaction();
        Run(tx, "UPDATE videos SET mtime = $m WHERE id = $id", ("$m", mtimeTicks), ("$id", videoId));
        tx.Commit();
        return 0;
    });

    public void Remove(long videoId) => GuardWrite(() =>
    {
        using var tx = db.BeginTransaction();
        // Explicit deletes (rather than relying on ON DELETE CASCADE alone) so an index opened without foreign keys stays clean.
        Run(tx, "DELETE FROM thumbnails WHERE segment_id IN (SELECT id FROM segments WHERE video_id = $id)", ("$id", videoId));
        Run(tx, "DELETE FROM segments WHERE video_id = $id", ("$id", videoId));
        Run(tx, "DELETE FROM captions WHERE video_id = $id", ("$id", videoId));
        Run(tx, "DELETE FROM videos WHERE id = $id", ("$id", videoId));
        BumpGeneration(tx);
        tx.Commit();
        return 0;
    });

    public IReadOnlyList<IndexedVideo> Videos() => Guard(() => ReadVideos(null));

    public IndexedVideo? Video(long id) => Guard(() => ReadVideos(id).SingleOrDefault());

    private List<IndexedVideo> ReadVideos(long? only)
    {
        string where = only is null ? "" : " WHERE video_id = $id";
        Dictionary<long, List<string>> captions;
        using (var c = db.CreateCommand())
        {
            c.CommandText = "SELECT video_id, text FROM captions" + where + " ORDER BY rowid";
            if (only is not null) c.Parameters.AddWithValue("$id", only);
            using var r = c.ExecuteReader();
            captions = IndexRows.Captions(r);
        }
        using var cmd = db.CreateCommand();
        cmd.CommandText = $"SELECT {IndexRows.VideoColumns} FROM videos" + (only is null ? "" : " WHERE id = $id") + " ORDER BY path";
        if (only is not null) cmd.Parameters.AddWithValue("$id", only);
        using var reader = cmd.ExecuteReader();
        return IndexRows.Videos(reader, captions);
    }

    private const string SegmentColumns = "s.id, s.video_id, s.ordinal, s.start, s.end, s.frame_times, s.frame_embeddings, s.coarse";

    public IEnumerable<IndexedSegment> Segments(bool withTokens = true)
    {
        using var cmd = db.CreateCommand();
        cmd.CommandText = $"SELECT {SegmentColumns}, {(withTokens ? "s.tokens" : "NULL")} FROM segments s JOIN videos v ON v.id = s.video_id ORDER BY v.path, s.ordinal";
        SqliteDataReader reader;
        try { reader = cmd.ExecuteReader(); }
        catch (Exception e) when (IsDataError(e)) { throw Unreadable(e); }
        using (reader)
            while (true)
            {
                IndexedSegment segment;
                try
                {
                    if (!reader.Read()) yield break;
                    segment = ReadSegment(reader);
                }
                catch (Exception e) when (IsDataError(e)) { throw Unreadable(e); }
                yield return segment;
            }
    }

    public long[] SegmentIds() => Guard(() =>
    {
        var ids = new List<long>(SegmentCount);
        using var cmd = db.CreateCommand();
        cmd.CommandText = "SELECT id FROM segments ORDER BY id";
        using var r = cmd.ExecuteReader();
        while (r.Read()) ids.Add(r.GetInt64(0));
        return ids.ToArray();
    });

    public IReadOnlyList<IndexedSegment> Segments(IReadOnlyCollection<long> ids, bool withTokens = true) => Guard(() =>
    {
        var result = new List<IndexedSegment>();
        if (ids.Count == 0) return result;
        using var cmd = db.CreateCommand();
        // The ids go in as a JSON array (one parameter, any count) and are expanded by json_each.
        cmd.CommandText = $"""
            SELECT {SegmentColumns}, {(withTokens ? "s.tokens" : "NULL")} FROM segments s JOIN videos v ON v.id = s.video_id
            WHERE s.id IN (SELECT value FROM json_each($ids)) ORDER BY v.path, s.ordinal
            """;
        cmd.Parameters.AddWithValue("$ids", JsonSerializer.Serialize(ids));
        using var reader = cmd.ExecuteReader();
        while (reader.Read()) result.Add(ReadSegment(reader));
        return result;
    });

    public IReadOnlyList<IndexedSegment> SegmentsOf(long videoId, bool withTokens = false) => Guard(() =>
    {
        var result = new List<IndexedSegment>();
        using var cmd = db.CreateCommand();
        cmd.CommandText = $"SELECT {SegmentColumns}, {(withTokens ? "s.tokens" : "NULL")} FROM segments s WHERE s.video_id = $v ORDER BY s.ordinal";
        cmd.Parameters.AddWithValue("$v", videoId);
        using var reader = cmd.ExecuteReader();
        while (reader.Read()) result.Add(ReadSegment(reader));
        return result;
    });

    private IndexedSegment ReadSegment(SqliteDataReader r) =>
        IndexRows.Segment(r, Manifest, File, static (row, i) => row[i] is byte[] b ? IndexRows.Floats(b) : null); // the coarse vector: a float32 blob

    public byte[]? Thumbnail(long segmentId, int frame) => Guard(() =>
    {
        using var cmd = db.CreateCommand();
        cmd.CommandText = "SELECT jpeg FROM thumbnails WHERE segment_id = $id AND frame = $f";
        cmd.Parameters.AddWithValue("$id", segmentId);
        cmd.Parameters.AddWithValue("$f", frame);
        return cmd.ExecuteScalar() as byte[];
    });

    public string? ReadMeta(string key) => Guard(() =>
    {
        using var cmd = db.CreateCommand();
        cmd.CommandText = "SELECT value FROM meta WHERE key = $k";
        cmd.Parameters.AddWithValue("$k", key);
        return cmd.ExecuteScalar() as string;
    });

    public void WriteMeta(string key, string value)
    {
        if (key is "manifest" or "generation") throw new ArgumentException($"the meta key '{key}' belongs to the store", nameof(key));
        Guard(() =>
        {
            using var cmd = db.CreateCommand();
            cmd.CommandText = "INSERT INTO meta(key, value) VALUES ($k, $v) ON CONFLICT(key) DO UPDATE SET value = excluded.value";
            cmd.Parameters.AddWithValue("$k", key);
            cmd.Parameters.AddWithValue("$v", value);
            return cmd.ExecuteNonQuery();
        });
    }

    /// <summary>SQLite's own consistency check: "ok" for a sound file.</summary>
    public string IntegrityCheck() => (string)Scalar(db, "PRAGMA integrity_check")!;

    private void BumpGeneration(SqliteTransaction tx) =>
        Run(tx, "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'");

    private void Run(SqliteTransaction tx, string sql, params (string Name, object Value)[] parameters)
    {
        var cmd = Command(tx, sql, parameters);
        try { cmd.ExecuteNonQuery(); }
        finally { if (statements is null) cmd.Dispose(); }
    }

    /// <summary>Runs an <c>INSERT ... RETURNING id</c>.</summary>
    private long Insert(SqliteTransaction tx, string sql, params (string Name, object Value)[] parameters)
    {
        var cmd = Command(tx, sql, parameters);
        try { return (long)cmd.ExecuteScalar()!; }
        finally { if (statements is null) cmd.Dispose(); }
    }

    /// <summary>A command for <paramref name="sql"/> with these parameters: new, or during <see cref="PutMany"/> the cached one of that text.</summary>
    private SqliteCommand Command(SqliteTransaction tx, string sql, (string Name, object Value)[] parameters)
    {
        SqliteCommand? cmd = null;
        if (statements is not null && statements.TryGetValue(sql, out cmd)) cmd.Parameters.Clear();
        else
        {
            cmd = db.CreateCommand();
            cmd.Transaction = tx;
            cmd.CommandText = sql;
            if (statements is not null) statements[sql] = cmd;
        }
        foreach (var (name, value) in parameters) cmd.Parameters.AddWithValue(name, value);
        return cmd;
    }

    private T Guard<T>(Func<T> read)
    {
        try { return read(); }
        catch (Exception e) when (IsDataError(e)) { throw Unreadable(e); }
    }

    /// <summary>
    /// A write that fails (a full disk, a read-only folder for the journal, a damaged page) is one error; SQLite rolls the
    /// transaction back, so the index stays as it was before this write.
    /// </summary>
    private T GuardWrite<T>(Func<T> write)
    {
        try { return write(); }
        catch (SqliteException e)
        {
            string hint = e.SqliteErrorCode == 13 ? "the disk is full; free some space and run it again"
                : e.SqliteErrorCode is 8 or 10 or 14 ? "check that the file and its folder are writable and the disk has space"
                : "build the index again if this persists";
            throw new VidSeekException($"{File} cannot be written ({OneLine(e.Message)}); nothing of this write was kept: {hint}", e);
        }
    }

    /// <summary>
    /// What a damaged or foreign file raises while it is read: SQLite's own errors, and a value of the wrong type or range
    /// in a row (a flipped byte can turn an integer column into text or null).
    /// </summary>
    private static bool IsDataError(Exception e) =>
        e is SqliteException or InvalidCastException or FormatException or OverflowException or IndexOutOfRangeException
        || (e is InvalidOperationException && e.Source is "Microsoft.Data.Sqlite");

    private VidSeekException Unreadable(Exception e) => new($"{File} cannot be read ({OneLine(e.Message)}); build the index again", e);

    private static string OneLine(string s) => string.Join(' ', s.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries)).Trim();

    private static byte[] Bytes<T>(T[] values) where T : struct => IndexRows.Bytes(values);

    private static SqliteConnection Connect(string file, SqliteOpenMode mode)
    {
        // No pooling: a pooled connection would keep the file open after Dispose (and block renames and deletes).
        var db = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = file, Mode = mode, Pooling = false }.ToString());
        db.Open();
        Execute(db, "PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL;");
        return db;
    }

    private static void Execute(SqliteConnection db, string sql)
    {
        using var cmd = db.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }

    private static object? Scalar(SqliteConnection db, string sql)
    {
        using var cmd = db.CreateCommand();
        cmd.CommandText = sql;
        return cmd.ExecuteScalar();
    }

    public void Dispose()
    {
        db.Dispose();
        writerLock?.Dispose();
    }
}
