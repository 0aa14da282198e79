using System.Runtime.InteropServices;
using System.Text.Json;
using Microsoft.Data.Sqlite;

namespace VidSeek.Index;

/// <summary>One indexed video: where it is, what it was when encoded, and its per-frame embeddings.</summary>
/// <param name="Path">Relative to the index's root folder, with '/' separators.</param>
/// <param name="MtimeTicks">Last write time (UTC ticks) when encoded; with <paramref name="Size"/> the quick "unchanged" test.</param>
/// <param name="Sha256">Content hash (hex): a file touched but not changed is not encoded again.</param>
/// <param name="FrameTimes">Time in seconds of each sampled frame, <c>[F]</c>.</param>
/// <param name="FrameEmbeddings">Row-major <c>[F, E]</c> float32: the model's per-frame embeddings.</param>
/// <param name="Coarse"><c>[E]</c>, the normalised mean of the frames: one vector per video for a first, approximate stage.</param>
/// <param name="Captions">Ground-truth captions when the index was built from an annotated dataset, else empty.</param>
/// <param name="Tokens">VLT models: the video tokens <c>F_V</c>, row-major <c>[F, L, D]</c>, for ITM re-ranking; null for dual encoders.</param>
public sealed record IndexedVideo(
    string Path, long Size, long MtimeTicks, string Sha256, double Duration, double Fps, int FrameCount, int Width, int Height,
    double[] FrameTimes, float[] FrameEmbeddings, float[] Coarse, IReadOnlyList<string> Captions, float[]? Tokens = null)
{
    /// <summary>Row id in the index (0 before it is stored).</summary>
    public long Id { get; init; }
}

/// <summary>What the index was built with; a search must use the same.</summary>
public sealed record IndexManifest
{
    /// <summary>2: video tokens for VLT models (<c>videos.tokens</c>).</summary>
    public const int CurrentVersion = 2;
    public int Version { get; init; } = CurrentVersion;
    /// <summary>The model folder, absolute.</summary>
    public string Model { get; init; } = "";
    /// <summary>SHA-256 of the model's <c>model.safetensors</c>: the embeddings are only valid for these weights.</summary>
    public string ModelSha256 { get; init; } = "";
    /// <summary>F, frames sampled per video.</summary>
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
}

/// <summary>
/// The on-disk video index: one SQLite file (embedded, no server). Every video is written with its thumbnails in one
/// transaction, so a process killed at any point leaves the index as it was after the last finished video: SQLite rolls
/// the unfinished transaction back when the file is next opened. Paths are unique, so re-adding a video replaces it.
/// </summary>
/// <remarks>
/// Tables: <c>meta</c> (the <see cref="IndexManifest"/> as JSON), <c>videos</c> (one row per video, embeddings as float32
/// blobs), <c>thumbnails</c> (a JPEG per sampled frame, for the web page), <c>captions</c> (ground truth, optional).
/// </remarks>
public sealed class VideoIndex : IDisposable
{
    private readonly SqliteConnection db;

    public string File { get; }
    public IndexManifest Manifest { get; private set; }

    private VideoIndex(string file, SqliteConnection db, IndexManifest manifest)
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
    public static VideoIndex Open(string file, bool writable = false)
    {
        if (!System.IO.File.Exists(file)) throw new VidSeekException($"index not found: {file}");
        bool readOnlyFile = !OperatingSystem.IsWindows() && (System.IO.File.GetUnixFileMode(file) & (UnixFileMode.UserWrite | UnixFileMode.GroupWrite | UnixFileMode.OtherWrite)) == 0;
        if (writable && readOnlyFile) throw new VidSeekException($"{file} is read-only");
        var db = Connect(file, readOnlyFile ? SqliteOpenMode.ReadOnly : SqliteOpenMode.ReadWrite);
        try
        {
            var json = Scalar(db, "SELECT value FROM meta WHERE key = 'manifest'") as string
                ?? throw new VidSeekException($"{file} is not a VidSeek index (no manifest)");
            var manifest = JsonSerializer.Deserialize<IndexManifest>(json) ?? throw new VidSeekException($"{file}: empty manifest");
            if (manifest.Version != IndexManifest.CurrentVersion)
                throw new VidSeekException($"{file} is an index of format version {manifest.Version}; this VidSeek reads version {IndexManifest.CurrentVersion} (build it again)");
            return new VideoIndex(file, db, manifest);
        }
        catch (SqliteException e)
        {
            db.Dispose();
            throw new VidSeekException($"{file} is not a VidSeek index: {e.Message}", e);
        }
        catch
        {
            db.Dispose();
            throw;
        }
    }

    /// <summary>Opens <paramref name="file"/> for writing, creating it with <paramref name="manifest"/> if it does not exist.</summary>
    /// <exception cref="VidSeekException">The file exists but was built with another model, frame count or root.</exception>
    public static VideoIndex OpenOrCreate(string file, IndexManifest manifest)
    {
        if (System.IO.File.Exists(file))
        {
            var existing = Open(file, writable: true);
            var m = existing.Manifest;
            string? clash = m.ModelSha256 != manifest.ModelSha256 ? $"the model {m.Model} (sha256 {m.ModelSha256[..12]}), not {manifest.Model} (sha256 {manifest.ModelSha256[..12]})"
                : m.Frames != manifest.Frames ? $"{m.Frames} frames per video, not {manifest.Frames}"
                : m.Root != manifest.Root ? $"the folder {m.Root}, not {manifest.Root}"
                : m.ModelType != manifest.ModelType ? $"a {m.ModelType} model, not a {manifest.ModelType}"
                : null;
            if (clash is not null)
            {
                existing.Dispose();
                throw new VidSeekException($"{file} was built with {clash}; give another --out, or delete it to build it again");
            }
            if (m.Model != manifest.Model) existing.WriteManifest(manifest); // same weights, moved folder
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
                    id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE, size INTEGER NOT NULL, mtime INTEGER NOT NULL, sha256 TEXT NOT NULL,
                    duration REAL NOT NULL, fps REAL NOT NULL, frame_count INTEGER NOT NULL, width INTEGER NOT NULL, height INTEGER NOT NULL,
                    frame_times TEXT NOT NULL, frame_embeddings BLOB NOT NULL, coarse BLOB NOT NULL, tokens BLOB);
                CREATE TABLE thumbnails(video_id INTEGER NOT NULL REFERENCES videos(id) ON DELETE CASCADE, frame INTEGER NOT NULL, jpeg BLOB NOT NULL,
                    PRIMARY KEY(video_id, frame));
                CREATE TABLE captions(video_id INTEGER NOT NULL REFERENCES videos(id) ON DELETE CASCADE, text TEXT NOT NULL);
                CREATE INDEX captions_text ON captions(text);
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

    private void WriteManifest(IndexManifest manifest)
    {
        using var cmd = db.CreateCommand();
        cmd.CommandText = "UPDATE meta SET value = $v WHERE key = 'manifest'";
        cmd.Parameters.AddWithValue("$v", JsonSerializer.Serialize(manifest));
        cmd.ExecuteNonQuery();
        Manifest = manifest;
    }

    /// <summary>(path, size, mtime, sha256) of every stored video, by path.</summary>
    public Dictionary<string, (long Id, long Size, long MtimeTicks, string Sha256)> Files()
    {
        var result = new Dictionary<string, (long, long, long, string)>(StringComparer.Ordinal);
        using var cmd = db.CreateCommand();
        cmd.CommandText = "SELECT id, path, size, mtime, sha256 FROM videos";
        using var r = cmd.ExecuteReader();
        while (r.Read()) result[r.GetString(1)] = (r.GetInt64(0), r.GetInt64(2), r.GetInt64(3), r.GetString(4));
        return result;
    }

    public int Count => Convert.ToInt32(Scalar(db, "SELECT COUNT(*) FROM videos"));

    /// <summary>Adds a video, or replaces the one stored under the same path, with its thumbnails and captions, in one transaction.</summary>
    /// <param name="thumbnails">One JPEG per sampled frame.</param>
    /// <param name="beforeCommit">Test hook: runs inside the transaction, after every row is written and before the commit.</param>
    public long Put(IndexedVideo video, IReadOnlyList<byte[]> thumbnails, Action? beforeCommit = null)
    {
        using var tx = db.BeginTransaction();
        using (var del = db.CreateCommand())
        {
            del.Transaction = tx;
            del.CommandText = "DELETE FROM videos WHERE path = $p";
            del.Parameters.AddWithValue("$p", video.Path);
            del.ExecuteNonQuery();
        }
        long id;
        using (var ins = db.CreateCommand())
        {
            ins.Transaction = tx;
            ins.CommandText = """
                INSERT INTO videos(path, size, mtime, sha256, duration, fps, frame_count, width, height, frame_times, frame_embeddings, coarse, tokens)
                VALUES ($path, $size, $mtime, $sha, $duration, $fps, $count, $w, $h, $times, $emb, $coarse, $tokens) RETURNING id
                """;
            ins.Parameters.AddWithValue("$path", video.Path);
            ins.Parameters.AddWithValue("$size", video.Size);
            ins.Parameters.AddWithValue("$mtime", video.MtimeTicks);
            ins.Parameters.AddWithValue("$sha", video.Sha256);
            ins.Parameters.AddWithValue("$duration", video.Duration);
            ins.Parameters.AddWithValue("$fps", video.Fps);
            ins.Parameters.AddWithValue("$count", video.FrameCount);
            ins.Parameters.AddWithValue("$w", video.Width);
            ins.Parameters.AddWithValue("$h", video.Height);
            ins.Parameters.AddWithValue("$times", JsonSerializer.Serialize(video.FrameTimes));
            ins.Parameters.AddWithValue("$emb", MemoryMarshal.AsBytes(video.FrameEmbeddings.AsSpan()).ToArray());
            ins.Parameters.AddWithValue("$coarse", MemoryMarshal.AsBytes(video.Coarse.AsSpan()).ToArray());
            ins.Parameters.AddWithValue("$tokens", video.Tokens is null ? DBNull.Value : MemoryMarshal.AsBytes(video.Tokens.AsSpan()).ToArray());
            id = (long)ins.ExecuteScalar()!;
        }
        for (int f = 0; f < thumbnails.Count; f++)
        {
            using var th = db.CreateCommand();
            th.Transaction = tx;
            th.CommandText = "INSERT INTO thumbnails(video_id, frame, jpeg) VALUES ($id, $f, $jpeg)";
            th.Parameters.AddWithValue("$id", id);
            th.Parameters.AddWithValue("$f", f);
            th.Parameters.AddWithValue("$jpeg", thumbnails[f]);
            th.ExecuteNonQuery();
        }
        foreach (var caption in video.Captions)
        {
            using var c = db.CreateCommand();
            c.Transaction = tx;
            c.CommandText = "INSERT INTO captions(video_id, text) VALUES ($id, $t)";
            c.Parameters.AddWithValue("$id", id);
            c.Parameters.AddWithValue("$t", caption);
            c.ExecuteNonQuery();
        }
        beforeCommit?.Invoke();
        tx.Commit();
        return id;
    }

    /// <summary>Records a new modification time for a video whose content hash is unchanged.</summary>
    public void Touch(long id, long mtimeTicks)
    {
        using var cmd = db.CreateCommand();
        cmd.CommandText = "UPDATE videos SET mtime = $m WHERE id = $id";
        cmd.Parameters.AddWithValue("$m", mtimeTicks);
        cmd.Parameters.AddWithValue("$id", id);
        cmd.ExecuteNonQuery();
    }

    /// <summary>Drops a video (with its thumbnails and captions).</summary>
    public void Remove(long id)
    {
        using var tx = db.BeginTransaction();
        foreach (var table in new[] { "thumbnails", "captions" })
        {
            using var c = db.CreateCommand();
            c.Transaction = tx;
            c.CommandText = $"DELETE FROM {table} WHERE video_id = $id";
            c.Parameters.AddWithValue("$id", id);
            c.ExecuteNonQuery();
        }
        using (var v = db.CreateCommand())
        {
            v.Transaction = tx;
            v.CommandText = "DELETE FROM videos WHERE id = $id";
            v.Parameters.AddWithValue("$id", id);
            v.ExecuteNonQuery();
        }
        tx.Commit();
    }

    /// <summary>Every video with its embeddings and captions, in path order.</summary>
    public List<IndexedVideo> LoadAll()
    {
        try { return ReadAll(); }
        catch (SqliteException e) { throw new VidSeekException($"{File} cannot be read ({e.Message}); build the index again", e); }
    }

    private List<IndexedVideo> ReadAll()
    {
        var captions = new Dictionary<long, List<string>>();
        using (var c = db.CreateCommand())
        {
            c.CommandText = "SELECT video_id, text FROM captions ORDER BY rowid";
            using var r = c.ExecuteReader();
            while (r.Read())
            {
                if (!captions.TryGetValue(r.GetInt64(0), out var list)) captions[r.GetInt64(0)] = list = [];
                list.Add(r.GetString(1));
            }
        }
        var result = new List<IndexedVideo>();
        using var cmd = db.CreateCommand();
        cmd.CommandText = "SELECT id, path, size, mtime, sha256, duration, fps, frame_count, width, height, frame_times, frame_embeddings, coarse, tokens FROM videos ORDER BY path";
        using var reader = cmd.ExecuteReader();
        while (reader.Read())
        {
            long id = reader.GetInt64(0);
            result.Add(new IndexedVideo(reader.GetString(1), reader.GetInt64(2), reader.GetInt64(3), reader.GetString(4), reader.GetDouble(5), reader.GetDouble(6),
                reader.GetInt32(7), reader.GetInt32(8), reader.GetInt32(9), JsonSerializer.Deserialize<double[]>(reader.GetString(10))!,
                Floats((byte[])reader[11]), Floats((byte[])reader[12]), captions.GetValueOrDefault(id) ?? (IReadOnlyList<string>)[],
                reader.IsDBNull(13) ? null : Floats((byte[])reader[13])) { Id = id });
        }
        return result;
    }

    /// <summary>The JPEG thumbnail of frame <paramref name="frame"/> of video <paramref name="id"/>, or null.</summary>
    public byte[]? Thumbnail(long id, int frame)
    {
        using var cmd = db.CreateCommand();
        cmd.CommandText = "SELECT jpeg FROM thumbnails WHERE video_id = $id AND frame = $f";
        cmd.Parameters.AddWithValue("$id", id);
        cmd.Parameters.AddWithValue("$f", frame);
        return cmd.ExecuteScalar() as byte[];
    }

    /// <summary>SQLite's own consistency check: "ok" for a sound file.</summary>
    public string IntegrityCheck() => (string)Scalar(db, "PRAGMA integrity_check")!;

    private static float[] Floats(byte[] bytes) => MemoryMarshal.Cast<byte, float>(bytes).ToArray();

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
