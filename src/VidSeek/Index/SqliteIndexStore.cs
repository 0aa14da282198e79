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

    private SqliteIndexStore(string file, SqliteConnection db, IndexManifest manifest)
    {
        File = file;
        this.db = db;
        Manifest = manifest;
    }

    /// <summary>Opens an existing index.</summary>
    /// <param name="writable">
    /// Whether the caller writes. Readers open it read-write too where the file permits, because the first connection
    /// after a crash must be able to roll back the interrupted transaction; a read-only file is opened read-only.
    /// </param>
    /// <exception cref="VidSeekException">The file is missing or is not a VidSeek index.</exception>
    public static SqliteIndexStore Open(string file, bool writable = false)
    {
        if (!System.IO.File.Exists(file)) throw new VidSeekException($"index not found: {file}");
        bool readOnlyFile = !OperatingSystem.IsWindows() && (System.IO.File.GetUnixFileMode(file) & (UnixFileMode.UserWrite | UnixFileMode.GroupWrite | UnixFileMode.OtherWrite)) == 0;
        if (writable && readOnlyFile) throw new VidSeekException($"{file} is read-only");
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
            return new SqliteIndexStore(file, db, manifest);
        }
        catch (SqliteException e)
        {
            db?.Dispose();
            throw new VidSeekException($"{file} is not a VidSeek index: {e.Message}", e);
        }
        catch
        {
            db?.Dispose();
            throw;
        }
    }

    /// <summary>Opens <paramref name="file"/> for writing, creating it with <paramref name="manifest"/> if it does not exist.</summary>
    /// <exception cref="VidSeekException">The file exists but was built with another model, frame count or root.</exception>
    public static SqliteIndexStore OpenOrCreate(string file, IndexManifest manifest)
    {
        if (System.IO.File.Exists(file))
        {
            var existing = Open(file, writable: true);
            var m = existing.Manifest;
            string? clash = m.ModelSha256 != manifest.ModelSha256 ? $"the model {m.Model} (sha256 {Short(m.ModelSha256)}), not {manifest.Model} (sha256 {Short(manifest.ModelSha256)})"
                : m.Frames != manifest.Frames ? $"{m.Frames} frames per video, not {manifest.Frames}"
                : m.Root != manifest.Root ? $"the folder {m.Root}, not {manifest.Root}"
                : m.ModelType != manifest.ModelType ? $"a {m.ModelType} model, not a {manifest.ModelType}"
                : m.SegmentingOrDefault.Describe() != manifest.SegmentingOrDefault.Describe()
                    ? $"segments '{m.SegmentingOrDefault.Describe()}', not '{manifest.SegmentingOrDefault.Describe()}' (index again with the same --segments options)"
                : null;
            if (clash is not null)
            {
                existing.Dispose();
                throw new VidSeekException($"{file} was built with {clash}; give another --out, or delete it to build it again");
            }
            if (m.Model != manifest.Model) existing.WriteManifest(existing.Manifest with { Model = manifest.Model }); // same weights, moved folder
            return existing;
        }
        string? dir = Path.GetDirectoryName(Path.GetFullPath(file));
        if (dir is not null) Directory.CreateDirectory(dir);
        // Built under a temporary name and renamed, so a crash during creation leaves no file that looks like an index.
        string tmp = file + ".creating";
        System.IO.File.Delete(tmp);
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
        System.IO.File.Move(tmp, file);
        return Open(file, writable: true);
    }

    private static string Short(string sha) => sha.Length > 12 ? sha[..12] : sha;

    private void WriteManifest(IndexManifest manifest)
    {
        using var cmd = db.CreateCommand();
        cmd.CommandText = "UPDATE meta SET value = $v WHERE key = 'manifest'";
        cmd.Parameters.AddWithValue("$v", JsonSerializer.Serialize(manifest));
        cmd.ExecuteNonQuery();
        Manifest = manifest;
    }

    public long Generation => Guard(() => Convert.ToInt64(Scalar(db, "SELECT value FROM meta WHERE key = 'generation'") ?? 0L));

    public int VideoCount => Guard(() => Convert.ToInt32(Scalar(db, "SELECT COUNT(*) FROM videos")));

    public int SegmentCount => Guard(() => Convert.ToInt32(Scalar(db, "SELECT COUNT(*) FROM segments")));

    public Dictionary<string, StoredFile> Files() => Guard(() =>
    {
        using var cmd = db.CreateCommand();
        cmd.CommandText = $"SELECT {IndexRows.FileColumns} FROM videos";
        using var r = cmd.ExecuteReader();
        return IndexRows.Files(r);
    });

    public long Put(IndexedVideo video, IReadOnlyList<SegmentToStore> segments, Action? beforeCommit = null)
    {
        using var tx = db.BeginTransaction();
        long id = Write(tx, video, segments);
        beforeCommit?.Invoke();
        tx.Commit();
        return id;
    }

    /// <summary>
    /// Adds many videos in one transaction (one commit, one fsync, one generation step): for building large indexes in bulk
    /// (the search benchmark's synthetic collections). All or nothing, like <see cref="Put"/>.
    /// </summary>
    public void PutMany(IEnumerable<(IndexedVideo Video, IReadOnlyList<SegmentToStore> Segments)> videos)
    {
        using var tx = db.BeginTransaction();
        foreach (var (video, segments) in videos) Write(tx, video, segments);
        tx.Commit();
    }

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

    public void Touch(long videoId, long mtimeTicks)
    {
        using var tx = db.BeginTransaction();
        Run(tx, "UPDATE videos SET mtime = $m WHERE id = $id", ("$m", mtimeTicks), ("$id", videoId));
        tx.Commit();
    }

    public void Remove(long videoId)
    {
        using var tx = db.BeginTransaction();
        // Explicit deletes (rather than relying on ON DELETE CASCADE alone) so an index opened without foreign keys stays clean.
        Run(tx, "DELETE FROM thumbnails WHERE segment_id IN (SELECT id FROM segments WHERE video_id = $id)", ("$id", videoId));
        Run(tx, "DELETE FROM segments WHERE video_id = $id", ("$id", videoId));
        Run(tx, "DELETE FROM captions WHERE video_id = $id", ("$id", videoId));
        Run(tx, "DELETE FROM videos WHERE id = $id", ("$id", videoId));
        BumpGeneration(tx);
        tx.Commit();
    }

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
        catch (SqliteException e) { throw Unreadable(e); }
        using (reader)
            while (true)
            {
                IndexedSegment segment;
                try
                {
                    if (!reader.Read()) yield break;
                    segment = ReadSegment(reader);
                }
                catch (SqliteException e) { throw Unreadable(e); }
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
        IndexRows.Segment(r, Manifest, File, static (row, i) => IndexRows.Floats((byte[])row[i])); // the coarse vector: a float32 blob

    public byte[]? Thumbnail(long segmentId, int frame) => Guard(() =>
    {
        using var cmd = db.CreateCommand();
        cmd.CommandText = "SELECT jpeg FROM thumbnails WHERE segment_id = $id AND frame = $f";
        cmd.Parameters.AddWithValue("$id", segmentId);
        cmd.Parameters.AddWithValue("$f", frame);
        return cmd.ExecuteScalar() as byte[];
    });

    /// <summary>SQLite's own consistency check: "ok" for a sound file.</summary>
    public string IntegrityCheck() => (string)Scalar(db, "PRAGMA integrity_check")!;

    private void BumpGeneration(SqliteTransaction tx) =>
        Run(tx, "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'");

    private void Run(SqliteTransaction tx, string sql, params (string Name, object Value)[] parameters)
    {
        using var cmd = Command(tx, sql, parameters);
        cmd.ExecuteNonQuery();
    }

    /// <summary>Runs an <c>INSERT ... RETURNING id</c>.</summary>
    private long Insert(SqliteTransaction tx, string sql, params (string Name, object Value)[] parameters)
    {
        using var cmd = Command(tx, sql, parameters);
        return (long)cmd.ExecuteScalar()!;
    }

    private SqliteCommand Command(SqliteTransaction tx, string sql, (string Name, object Value)[] parameters)
    {
        var cmd = db.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = sql;
        foreach (var (name, value) in parameters) cmd.Parameters.AddWithValue(name, value);
        return cmd;
    }

    private T Guard<T>(Func<T> read)
    {
        try { return read(); }
        catch (SqliteException e) { throw Unreadable(e); }
    }

    private VidSeekException Unreadable(SqliteException e) => new($"{File} cannot be read ({e.Message}); build the index again", e);

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

    public void Dispose() => db.Dispose();
}
