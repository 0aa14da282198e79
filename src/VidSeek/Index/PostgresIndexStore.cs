using System.Data;
using System.Net.Sockets;
using System.Text.Json;
using Npgsql;
using NpgsqlTypes;
using Pgvector;

namespace VidSeek.Index;

/// <summary>
/// The video index in a PostgreSQL database with the pgvector extension, named by a
/// <c>postgres://user[:password]@host[:port]/database[?schema=NAME&amp;sslmode=...]</c> URL: for collections indexed by many
/// processes and searched from several front ends. Behaves as <see cref="SqliteIndexStore"/>: one transaction per video,
/// identity ids that are never reused, a generation counter bumped in every write transaction, the manifest as JSON.
/// </summary>
/// <remarks>
/// <para>Tables (in the schema the URL names, <c>vidseek</c> by default, so one database can hold several indexes):
/// <c>migrations</c> (the schema versions applied), <c>meta</c> (manifest, generation), <c>videos</c>, <c>segments</c>
/// (frame times and per-frame embeddings as <c>bytea</c> of float64/float32 so an export is bit-equal; the coarse vector as
/// <c>vector(E)</c> with an HNSW <c>vector_cosine_ops</c> index for a first, approximate stage), <c>thumbnails</c>
/// (<c>bytea</c> JPEGs), <c>captions</c>. Paths use the "C" collation, so the index order (path, then ordinal) is the
/// byte order, as in SQLite.</para>
/// <para>Every statement, reads included, runs inside an explicit transaction. On a real server that gives each read a
/// consistent snapshot; on the PGlite test server (one WASM backend multiplexing its client connections) it is what keeps
/// two connections' statements from interleaving: PGlite's socket server runs only the transaction owner's messages while a
/// transaction block is open, but may interleave the extended-protocol messages of two auto-commit statements.</para>
/// </remarks>
public sealed class PostgresIndexStore : ISharedIndexStore
{
    /// <summary>The schema version this program creates and reads; a database with a newer one is refused.</summary>
    public const int SchemaVersion = 2;

    private readonly NpgsqlDataSource source;
    private readonly string schema;

    public string Location { get; }
    public IndexManifest Manifest { get; private set; }

    /// <summary>The schema prefix of every table name ("vidseek."). Never the search_path: PGlite's connections share one session.</summary>
    private string q => schema + ".";

    private PostgresIndexStore(NpgsqlDataSource source, string location, string schema, IndexManifest manifest)
    {
        this.source = source;
        Location = location;
        this.schema = schema;
        Manifest = manifest;
    }

    /// <summary>Whether <paramref name="location"/> is a PostgreSQL URL (<c>postgres://</c> or <c>postgresql://</c>).</summary>
    public static bool IsUrl(string location) =>
        location.StartsWith("postgres://", StringComparison.OrdinalIgnoreCase) || location.StartsWith("postgresql://", StringComparison.OrdinalIgnoreCase);

    /// <summary>The URL without its password, for messages.</summary>
    public static string Redact(string url)
    {
        int scheme = url.IndexOf("://", StringComparison.Ordinal);
        if (scheme < 0) return url;
        int hostEnd = url.IndexOf('/', scheme + 3);
        int at = url.LastIndexOf('@', hostEnd < 0 ? url.Length - 1 : hostEnd);
        if (at < scheme) return url;
        int colon = url.IndexOf(':', scheme + 3);
        return colon >= 0 && colon < at ? url[..colon] + url[at..] : url;
    }

    /// <summary>The Npgsql connection string and the schema for a URL. The password may also come from <c>PGPASSWORD</c>.</summary>
    public static (string ConnectionString, string Schema) Parse(string url)
    {
        string shown = Redact(url);
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Host.Length == 0)
            throw new VidSeekException($"{shown} is not a PostgreSQL URL (postgres://user[:password]@host[:port]/database[?schema=NAME])");
        var b = new NpgsqlConnectionStringBuilder
        {
            Host = uri.Host,
            Port = uri.IsDefaultPort || uri.Port <= 0 ? 5432 : uri.Port,
            Database = Uri.UnescapeDataString(uri.AbsolutePath.TrimStart('/')) is { Length: > 0 } db ? db : "postgres",
            // No server-side prepared statements and no DISCARD ALL on reuse: nothing session-wide, which PGlite's
            // socket server (all connections share one backend session) needs, and a real server does not mind.
            MaxAutoPrepare = 0,
            NoResetOnClose = true,
            Timeout = 30,
            ApplicationName = "vidseek",
        };
        if (uri.UserInfo.Length > 0)
        {
            int colon = uri.UserInfo.IndexOf(':');
            b.Username = Uri.UnescapeDataString(colon < 0 ? uri.UserInfo : uri.UserInfo[..colon]);
            if (colon >= 0) b.Password = Uri.UnescapeDataString(uri.UserInfo[(colon + 1)..]);
        }
        if (b.Password is null && Environment.GetEnvironmentVariable("PGPASSWORD") is { Length: > 0 } pw) b.Password = pw;
        string schema = "vidseek";
        foreach (var pair in uri.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            int eq = pair.IndexOf('=');
            string key = Uri.UnescapeDataString(eq < 0 ? pair : pair[..eq]).ToLowerInvariant(), value = eq < 0 ? "" : Uri.UnescapeDataString(pair[(eq + 1)..]);
            switch (key)
            {
                case "schema":
                    if (!System.Text.RegularExpressions.Regex.IsMatch(value, "^[a-z_][a-z0-9_]{0,62}$"))
                        throw new VidSeekException($"{shown}: schema must be lower-case letters, digits and '_' (got '{value}')");
                    schema = value;
                    break;
                case "sslmode":
                    b.SslMode = Enum.TryParse<SslMode>(value.Replace("-", ""), true, out var mode) ? mode
                        : throw new VidSeekException($"{shown}: unknown sslmode '{value}' (disable, allow, prefer, require, verify-ca, verify-full)");
                    break;
                case "connect_timeout":
                    b.Timeout = int.TryParse(value, out int t) && t > 0 ? t : throw new VidSeekException($"{shown}: connect_timeout must be a positive number of seconds");
                    break;
                case "application_name":
                    b.ApplicationName = value;
                    break;
                default:
                    throw new VidSeekException($"{shown}: unknown parameter '{key}' (known: schema, sslmode, connect_timeout, application_name)");
            }
        }
        return (b.ConnectionString, schema);
    }

    private static NpgsqlDataSource NewSource(string connectionString)
    {
        var builder = new NpgsqlDataSourceBuilder(connectionString);
        builder.UseVector();
        return builder.Build();
    }

    /// <summary>Opens an existing index.</summary>
    /// <exception cref="VidSeekException">No server, refused login, no index in the schema, or a schema newer than this program.</exception>
    public static PostgresIndexStore Open(string url, bool writable = false)
    {
        var (cs, schema) = Parse(url);
        string shown = Redact(url);
        var src = NewSource(cs);
        try
        {
            var manifest = Wrap(shown, () =>
            {
                using var conn = src.OpenConnection();
                using var tx = conn.BeginTransaction();
                int version = AppliedVersion(conn, tx, schema);
                if (version == 0) throw new VidSeekException($"index not found: {shown} has no VidSeek index (schema {schema}); build one with vidseek index DIR --out {shown}");
                CheckVersion(shown, version);
                var m = ReadManifest(conn, tx, schema + ".", shown);
                tx.Commit();
                return m;
            });
            return new PostgresIndexStore(src, shown, schema, manifest);
        }
        catch
        {
            src.Dispose();
            throw;
        }
    }

    /// <summary>Opens the index at <paramref name="url"/> for writing, creating its schema with <paramref name="manifest"/> if it has none.</summary>
    /// <exception cref="VidSeekException">It exists but was built with another model, frame count or root.</exception>
    public static PostgresIndexStore OpenOrCreate(string url, IndexManifest manifest)
    {
        var (cs, schema) = Parse(url);
        string shown = Redact(url);
        var src = NewSource(cs);
        try
        {
            bool created = Wrap(shown, () =>
            {
                using var conn = src.OpenConnection();
                // The extension first, in its own transaction: its types must exist before the connection's type cache is used.
                using (var tx = conn.BeginTransaction())
                {
                    if (Scalar(conn, tx, "SELECT 1 FROM pg_extension WHERE extname = 'vector'") is null)
                        try { Execute(conn, tx, "CREATE EXTENSION IF NOT EXISTS vector"); }
                        catch (PostgresException e) when (e.SqlState is "58P01" or "0A000" or "42704")
                        {
                            throw new VidSeekException($"the PostgreSQL server at {shown} has no pgvector extension ({e.MessageText}); install pgvector on the server (https://github.com/pgvector/pgvector)", e);
                        }
                        catch (PostgresException e) when (e.SqlState == "42501")
                        {
                            throw new VidSeekException($"{shown}: this user may not create the pgvector extension ({e.MessageText}); ask an administrator to run CREATE EXTENSION vector in that database", e);
                        }
                    tx.Commit();
                }
                conn.ReloadTypes();
                using var t2 = conn.BeginTransaction();
                // Two processes creating the same index at once: the second waits here, then finds it made.
                Execute(conn, t2, "SELECT pg_advisory_xact_lock(hashtext($1))", ("vidseek:" + schema));
                int version = AppliedVersion(conn, t2, schema);
                CheckVersion(shown, version);
                bool isNew = version == 0;
                if (version < SchemaVersion) Migrate(conn, t2, schema, version, manifest);
                t2.Commit();
                return isNew;
            });
            // A fresh data source (in Open) loads the types, the extension's vector among them.
            src.Dispose();
            var store = Open(url, writable: true);
            if (created) return store;
            var m = store.Manifest;
            string? clash = m.ClashWith(manifest);
            if (clash is not null)
            {
                store.Dispose();
                throw new VidSeekException($"{shown} was built with {clash}; give another --out (or ?schema=), or drop its schema to build it again");
            }
            if (m.Model != manifest.Model) store.Write(tx => { store.WriteManifest(tx, store.Manifest with { Model = manifest.Model }); return 0; }); // same weights, moved folder
            return store;
        }
        catch
        {
            src.Dispose();
            throw;
        }
    }


    private static void CheckVersion(string shown, int version)
    {
        if (version > SchemaVersion)
            throw new VidSeekException($"{shown} holds a VidSeek index of schema version {version}, newer than this program's {SchemaVersion}; use a newer VidSeek");
    }

    /// <summary>The highest schema version applied in <paramref name="schema"/>, 0 when it has no index.</summary>
    private static int AppliedVersion(NpgsqlConnection conn, NpgsqlTransaction tx, string schema)
    {
        if (Scalar(conn, tx, "SELECT to_regclass($1)::text", $"{schema}.migrations") is not string) return 0;
        return Convert.ToInt32(Scalar(conn, tx, $"SELECT COALESCE(MAX(version), 0) FROM {schema}.migrations"));
    }

    /// <summary>Applies the migrations after <paramref name="from"/>, each recorded in <c>migrations</c>.</summary>
    private static void Migrate(NpgsqlConnection conn, NpgsqlTransaction tx, string schema, int from, IndexManifest manifest)
    {
        if (from < 1)
        {
            if (manifest.EmbedDim < 1 || manifest.EmbedDim > 16000) throw new VidSeekException($"embedding width {manifest.EmbedDim} cannot be stored as a pgvector vector (1 to 16000)");
            foreach (var statement in $"""
                CREATE SCHEMA IF NOT EXISTS {schema};
                CREATE TABLE {schema}.migrations(version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now(), program text NOT NULL);
                CREATE TABLE {schema}.meta(key text PRIMARY KEY, value text NOT NULL);
                CREATE TABLE {schema}.videos(
                    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, path text COLLATE "C" NOT NULL UNIQUE, size bigint NOT NULL,
                    mtime bigint NOT NULL, sha256 text NOT NULL, duration double precision NOT NULL, fps double precision NOT NULL,
                    frame_count integer NOT NULL, width integer NOT NULL, height integer NOT NULL);
                CREATE TABLE {schema}.segments(
                    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, video_id bigint NOT NULL REFERENCES {schema}.videos(id) ON DELETE CASCADE,
                    ordinal integer NOT NULL, start_s double precision NOT NULL, end_s double precision NOT NULL,
                    frame_times bytea NOT NULL, frame_embeddings bytea NOT NULL, coarse vector({manifest.EmbedDim}) NOT NULL, tokens bytea,
                    UNIQUE(video_id, ordinal));
                CREATE INDEX segments_coarse_hnsw ON {schema}.segments USING hnsw (coarse vector_cosine_ops);
                CREATE TABLE {schema}.thumbnails(segment_id bigint NOT NULL REFERENCES {schema}.segments(id) ON DELETE CASCADE,
                    frame integer NOT NULL, jpeg bytea NOT NULL, PRIMARY KEY(segment_id, frame));
                CREATE TABLE {schema}.captions(id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                    video_id bigint NOT NULL REFERENCES {schema}.videos(id) ON DELETE CASCADE, text text NOT NULL);
                CREATE INDEX captions_video ON {schema}.captions(video_id);
                INSERT INTO {schema}.meta(key, value) VALUES ('generation', '0');
                INSERT INTO {schema}.migrations(version, program) VALUES (1, 'vidseek');
                """.Split(";\n", StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                Execute(conn, tx, statement.TrimEnd(';'));
            Execute(conn, tx, $"INSERT INTO {schema}.meta(key, value) VALUES ('manifest', $1)", JsonSerializer.Serialize(manifest));
        }
        if (from < 2)
        {
            // Version 2: the job table through which several indexers share the work (ISharedIndexStore).
            Execute(conn, tx, $"""CREATE TABLE {schema}.jobs(path text COLLATE "C" PRIMARY KEY, worker text, lease_until timestamptz, attempts integer NOT NULL DEFAULT 0)""");
            Execute(conn, tx, $"INSERT INTO {schema}.migrations(version, program) VALUES (2, 'vidseek')");
        }
    }

    private static IndexManifest ReadManifest(NpgsqlConnection conn, NpgsqlTransaction tx, string q, string shown)
    {
        var json = Scalar(conn, tx, $"SELECT value FROM {q}meta WHERE key = 'manifest'") as string
            ?? throw new VidSeekException($"{shown} is not a VidSeek index (no manifest)");
        IndexManifest? manifest;
        try { manifest = JsonSerializer.Deserialize<IndexManifest>(json); }
        catch (JsonException e) { throw new VidSeekException($"{shown} is not a VidSeek index (its manifest is not valid: {e.Message})", e); }
        if (manifest is null) throw new VidSeekException($"{shown}: empty manifest");
        if (manifest.Version != IndexManifest.CurrentVersion)
            throw new VidSeekException($"{shown} is an index of format version {manifest.Version}; this VidSeek reads version {IndexManifest.CurrentVersion} (build it again)");
        return manifest;
    }

    private void WriteManifest(NpgsqlTransaction tx, IndexManifest manifest)
    {
        Execute(tx.Connection!, tx, $"UPDATE {q}meta SET value = $1 WHERE key = 'manifest'", JsonSerializer.Serialize(manifest));
        Manifest = manifest;
    }

    public long Generation => Read((c, tx) => long.Parse((string)Scalar(c, tx, $"SELECT value FROM {q}meta WHERE key = 'generation'")!));

    public int VideoCount => Read((c, tx) => Convert.ToInt32(Scalar(c, tx, $"SELECT COUNT(*) FROM {q}videos")));

    public int SegmentCount => Read((c, tx) => Convert.ToInt32(Scalar(c, tx, $"SELECT COUNT(*) FROM {q}segments")));

    public Dictionary<string, StoredFile> Files() => Read((c, tx) =>
    {
        using var cmd = Command(c, tx, $"SELECT {IndexRows.FileColumns} FROM {q}videos");
        using var r = cmd.ExecuteReader();
        return IndexRows.Files(r);
    });

    public long Put(IndexedVideo video, IReadOnlyList<SegmentToStore> segments, Action? beforeCommit = null) => Write(tx =>
    {
        long id = WriteVideo(tx, video, segments);
        Execute(tx.Connection!, tx, $"DELETE FROM {q}jobs WHERE path = $1", video.Path);
        BumpGeneration(tx);
        beforeCommit?.Invoke();
        return id;
    });

    public bool PutClaimed(string worker, IndexedVideo video, IReadOnlyList<SegmentToStore> segments, Action? beforeCommit = null) => Write(tx =>
    {
        // The job first: on a real server this DELETE waits for a concurrent claim of the row to commit and then sees its new
        // worker; on PGlite transactions run one after another. Either way it ends the job only if it is still this worker's.
        if (Execute(tx.Connection!, tx, $"DELETE FROM {q}jobs WHERE path = $1 AND worker = $2", video.Path, worker) == 0) return false;
        WriteVideo(tx, video, segments);
        BumpGeneration(tx);
        beforeCommit?.Invoke();
        return true;
    });

    /// <summary>The rows of one video (replacing those at the same path); the caller bumps the generation and commits.</summary>
    private long WriteVideo(NpgsqlTransaction tx, IndexedVideo video, IReadOnlyList<SegmentToStore> segments)
    {
        var c = tx.Connection!;
        Execute(c, tx, $"DELETE FROM {q}videos WHERE path = $1", video.Path);
        long id = (long)Scalar(c, tx, $"""
            INSERT INTO {q}videos(path, size, mtime, sha256, duration, fps, frame_count, width, height)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id
            """, video.Path, video.Size, video.MtimeTicks, video.Sha256, video.Duration, video.Fps, video.FrameCount, video.Width, video.Height)!;
        foreach (var (segment, thumbnails) in segments)
        {
            if (segment.Coarse.Length != Manifest.EmbedDim)
                throw new VidSeekException($"{Location}: a coarse vector of width {segment.Coarse.Length} does not fit this index (E = {Manifest.EmbedDim})");
            long sid = (long)Scalar(c, tx, $"""
                INSERT INTO {q}segments(video_id, ordinal, start_s, end_s, frame_times, frame_embeddings, coarse, tokens)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id
                """, id, segment.Ordinal, segment.Start, segment.End, Bytes(segment.FrameTimes), Bytes(segment.FrameEmbeddings),
                new Vector(segment.Coarse), segment.Tokens is null ? DBNull.Value : Bytes(segment.Tokens))!;
            if (thumbnails.Count > 0)
            {
                // One statement for the segment's thumbnails (arrays unnested), not one round trip per frame.
                Execute(c, tx, $"INSERT INTO {q}thumbnails(segment_id, frame, jpeg) SELECT $1, f - 1, j FROM unnest($2::bytea[]) WITH ORDINALITY AS t(j, f)",
                    sid, thumbnails.ToArray());
            }
        }
        if (video.Captions.Count > 0)
            Execute(c, tx, $"INSERT INTO {q}captions(video_id, text) SELECT $1, t FROM unnest($2::text[]) WITH ORDINALITY AS c(t, n) ORDER BY n", id, video.Captions.ToArray());
        return id;
    }

    /// <summary>
    /// Adds many videos in one transaction (one commit, one generation step): for loading large synthetic collections in bulk
    /// (the <c>pg-scale</c> benchmark). All or nothing, like <see cref="Put"/>.
    /// </summary>
    public void PutMany(IEnumerable<(IndexedVideo Video, IReadOnlyList<SegmentToStore> Segments)> videos) => Write(tx =>
    {
        foreach (var (video, segments) in videos) WriteVideo(tx, video, segments);
        BumpGeneration(tx);
        return 0;
    });

    public void Touch(long videoId, long mtimeTicks) => Write(tx =>
    {
        Execute(tx.Connection!, tx, $"UPDATE {q}videos SET mtime = $1 WHERE id = $2", mtimeTicks, videoId);
        Execute(tx.Connection!, tx, $"DELETE FROM {q}jobs WHERE path = (SELECT path FROM {q}videos WHERE id = $1)", videoId);
        return 0;
    });

    public void Remove(long videoId) => Write(tx =>
    {
        // Segments, thumbnails and captions go with the video (ON DELETE CASCADE).
        if (Execute(tx.Connection!, tx, $"DELETE FROM {q}videos WHERE id = $1", videoId) > 0) BumpGeneration(tx);
        return 0;
    });

    public void Enqueue(IEnumerable<string> paths)
    {
        var all = paths.ToArray();
        if (all.Length == 0) return;
        Write(tx => Execute(tx.Connection!, tx, $"INSERT INTO {q}jobs(path) SELECT p FROM unnest($1::text[]) AS t(p) ON CONFLICT (path) DO NOTHING", (object)all));
    }

    /// <remarks>
    /// On a real server two workers claiming at once get different jobs: the inner <c>SELECT ... FOR UPDATE SKIP LOCKED</c>
    /// locks the row it picks and skips rows another transaction holds. PGlite (the test server) runs every connection in one
    /// backend session, so transactions execute one after another and SKIP LOCKED never has anything to skip; there the claim
    /// is correct because the whole <c>UPDATE ... WHERE (free or expired) ... RETURNING</c> is one statement in a transaction
    /// that nothing interleaves with. The outer <c>WHERE</c> repeats the lease condition, so the statement never takes a live
    /// job whichever of the two guarantees holds. Leases run on the server's clock (<c>clock_timestamp()</c>), so the
    /// workers' clocks do not matter.
    /// </remarks>
    public string? Claim(string worker, TimeSpan lease) => Write(tx => Scalar(tx.Connection!, tx, $"""
        UPDATE {q}jobs SET worker = $1, lease_until = clock_timestamp() + $2 * interval '1 second', attempts = attempts + 1
        WHERE path = (SELECT path FROM {q}jobs WHERE lease_until IS NULL OR lease_until < clock_timestamp()
                      ORDER BY path LIMIT 1 FOR UPDATE SKIP LOCKED)
          AND (lease_until IS NULL OR lease_until < clock_timestamp())
        RETURNING path
        """, worker, lease.TotalSeconds) as string);

    public int Renew(string worker, TimeSpan lease) => Write(tx => Execute(tx.Connection!, tx,
        $"UPDATE {q}jobs SET lease_until = clock_timestamp() + $2 * interval '1 second' WHERE worker = $1", worker, lease.TotalSeconds));

    public void Finish(string path, string worker) => Write(tx => Execute(tx.Connection!, tx, $"DELETE FROM {q}jobs WHERE path = $1 AND worker = $2", path, worker));

    public void Release(string worker) => Write(tx => Execute(tx.Connection!, tx,
        $"UPDATE {q}jobs SET worker = NULL, lease_until = NULL WHERE worker = $1", worker));

    public int PendingJobs => Read((c, tx) => Convert.ToInt32(Scalar(c, tx, $"SELECT COUNT(*) FROM {q}jobs")));

    public StoredFile? Stored(string path) => Read((c, tx) =>
    {
        using var cmd = Command(c, tx, $"SELECT {IndexRows.FileColumns} FROM {q}videos WHERE path = $1", path);
        using var r = cmd.ExecuteReader();
        return r.Read() ? IndexRows.File(r) : (StoredFile?)null;
    });

    public IReadOnlyList<IndexedVideo> Videos() => Read((c, tx) => ReadVideos(c, tx, null));

    public IndexedVideo? Video(long id) => Read((c, tx) => ReadVideos(c, tx, id).SingleOrDefault());

    private List<IndexedVideo> ReadVideos(NpgsqlConnection c, NpgsqlTransaction tx, long? only)
    {
        Dictionary<long, List<string>> captions;
        using (var cmd = only is null ? Command(c, tx, $"SELECT video_id, text FROM {q}captions ORDER BY id")
                   : Command(c, tx, $"SELECT video_id, text FROM {q}captions WHERE video_id = $1 ORDER BY id", only.Value))
        using (var r = cmd.ExecuteReader())
            captions = IndexRows.Captions(r);
        string columns = $"SELECT {IndexRows.VideoColumns} FROM {q}videos";
        using var vc = only is null ? Command(c, tx, columns + " ORDER BY path") : Command(c, tx, columns + " WHERE id = $1", only.Value);
        using var reader = vc.ExecuteReader();
        return IndexRows.Videos(reader, captions);
    }

    private const string SegmentColumns = "s.id, s.video_id, s.ordinal, s.start_s, s.end_s, s.frame_times, s.frame_embeddings, s.coarse";

    public IEnumerable<IndexedSegment> Segments(bool withTokens = true)
    {
        // Streamed inside one read-only transaction (a consistent snapshot), which ends when the caller stops reading.
        NpgsqlConnection conn;
        NpgsqlTransaction tx;
        NpgsqlDataReader reader;
        try
        {
            conn = source.OpenConnection();
            tx = conn.BeginTransaction(IsolationLevel.RepeatableRead);
            var cmd = Command(conn, tx, $"SELECT {SegmentColumns}, {(withTokens ? "s.tokens" : "NULL::bytea")} FROM {q}segments s JOIN {q}videos v ON v.id = s.video_id ORDER BY v.path, s.ordinal");
            reader = cmd.ExecuteReader();
        }
        catch (Exception e) when (e is NpgsqlException or SocketException) { throw Describe(Location, e); }
        using (conn)
        using (tx)
        using (reader)
            while (true)
            {
                IndexedSegment segment;
                try
                {
                    if (!reader.Read()) yield break;
                    segment = ReadSegment(reader);
                }
                catch (Exception e) when (e is NpgsqlException or SocketException) { throw Describe(Location, e); }
                yield return segment;
            }
    }

    public IReadOnlyList<IndexedSegment> Segments(IReadOnlyCollection<long> ids, bool withTokens = true) => Read((c, tx) =>
    {
        var result = new List<IndexedSegment>();
        if (ids.Count == 0) return result;
        using var cmd = Command(c, tx, $"""
            SELECT {SegmentColumns}, {(withTokens ? "s.tokens" : "NULL::bytea")} FROM {q}segments s JOIN {q}videos v ON v.id = s.video_id
            WHERE s.id = ANY($1) ORDER BY v.path, s.ordinal
            """, ids.ToArray());
        using var reader = cmd.ExecuteReader();
        while (reader.Read()) result.Add(ReadSegment(reader));
        return result;
    });

    public long[] SegmentIds() => Read((c, tx) =>
    {
        using var cmd = Command(c, tx, $"SELECT id FROM {q}segments ORDER BY id");
        using var r = cmd.ExecuteReader();
        var ids = new List<long>();
        while (r.Read()) ids.Add(r.GetInt64(0));
        return ids.ToArray();
    });

    public IReadOnlyList<IndexedSegment> SegmentsOf(long videoId, bool withTokens = false) => Read((c, tx) =>
    {
        var result = new List<IndexedSegment>();
        using var cmd = Command(c, tx, $"SELECT {SegmentColumns}, {(withTokens ? "s.tokens" : "NULL::bytea")} FROM {q}segments s WHERE s.video_id = $1 ORDER BY s.ordinal", videoId);
        using var reader = cmd.ExecuteReader();
        while (reader.Read()) result.Add(ReadSegment(reader));
        return (IReadOnlyList<IndexedSegment>)result;
    });

    /// <summary>
    /// The first, approximate stage on the server: the ids of the <paramref name="k"/> segments whose coarse vectors are nearest
    /// to <paramref name="query"/> by cosine distance, through the HNSW index. <c>hnsw.ef_search</c> is max(k, 40) up to
    /// pgvector's ceiling of 1000; beyond that the scan is iterative (pgvector 0.8: <c>hnsw.iterative_scan</c>, relaxed order,
    /// which the exact second stage re-ranks anyway), since a plain HNSW scan returns at most ef_search rows.
    /// </summary>
    public IReadOnlyList<long> NearestCoarse(float[] query, int k) => Read((c, tx) =>
    {
        Execute(c, tx, $"SET LOCAL hnsw.ef_search = {Math.Clamp(k, 40, 1000)}");
        if (k > 1000)
        {
            Execute(c, tx, "SET LOCAL hnsw.iterative_scan = relaxed_order");
            Execute(c, tx, $"SET LOCAL hnsw.max_scan_tuples = {Math.Max(20_000L, 20L * k)}");
        }
        using var cmd = Command(c, tx, $"SELECT id FROM {q}segments ORDER BY coarse <=> $1 LIMIT $2", new Vector(query), k);
        using var r = cmd.ExecuteReader();
        var ids = new List<long>();
        while (r.Read()) ids.Add(r.GetInt64(0));
        return (IReadOnlyList<long>)ids;
    });

    private IndexedSegment ReadSegment(NpgsqlDataReader r) =>
        IndexRows.Segment(r, Manifest, Location, static (row, i) => row.GetFieldValue<Vector>(i).ToArray()); // the coarse vector: pgvector's vector

    public byte[]? Thumbnail(long segmentId, int frame) => Read((c, tx) =>
        Scalar(c, tx, $"SELECT jpeg FROM {q}thumbnails WHERE segment_id = $1 AND frame = $2", segmentId, frame) as byte[]);

    public string? ReadMeta(string key) => Read((c, tx) => Scalar(c, tx, $"SELECT value FROM {q}meta WHERE key = $1", key) as string);

    public void WriteMeta(string key, string value)
    {
        if (key is "manifest" or "generation") throw new ArgumentException($"the meta key '{key}' belongs to the store", nameof(key));
        Write(tx => Execute(tx.Connection!, tx, $"INSERT INTO {q}meta(key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value", key, value));
    }

    private void BumpGeneration(NpgsqlTransaction tx) =>
        Execute(tx.Connection!, tx, $"UPDATE {q}meta SET value = (value::bigint + 1)::text WHERE key = 'generation'");

    /// <summary>Runs <paramref name="read"/> in a read-only transaction, translating server errors to one line.</summary>
    private T Read<T>(Func<NpgsqlConnection, NpgsqlTransaction, T> read) => Wrap(Location, () =>
    {
        using var conn = source.OpenConnection();
        using var tx = conn.BeginTransaction(IsolationLevel.RepeatableRead);
        var result = read(conn, tx);
        tx.Commit();
        return result;
    });

    /// <summary>Runs <paramref name="write"/> in one transaction: all of it is committed, or none.</summary>
    private T Write<T>(Func<NpgsqlTransaction, T> write) => Wrap(Location, () =>
    {
        using var conn = source.OpenConnection();
        using var tx = conn.BeginTransaction();
        var result = write(tx);
        tx.Commit();
        return result;
    });

    private static T Wrap<T>(string shown, Func<T> run)
    {
        try { return run(); }
        catch (Exception e) when (e is NpgsqlException or SocketException or TimeoutException) { throw Describe(shown, e); }
    }

    /// <summary>One line saying what went wrong and what to do, never the password.</summary>
    private static VidSeekException Describe(string shown, Exception e)
    {
        var socket = e as SocketException ?? e.InnerException as SocketException ?? e.InnerException?.InnerException as SocketException;
        string message = e switch
        {
            PostgresException { SqlState: "28P01" or "28000" } p => $"PostgreSQL at {shown} refused the login ({p.MessageText}); check the user and the password (in the URL or PGPASSWORD)",
            PostgresException { SqlState: "3D000" } p => $"PostgreSQL at {shown}: {p.MessageText}; create the database first (createdb)",
            PostgresException p => $"PostgreSQL at {shown}: {p.MessageText} ({p.SqlState})",
            _ when socket is { SocketErrorCode: SocketError.ConnectionRefused } => $"cannot connect to PostgreSQL at {shown}: connection refused; is the server running on that host and port?",
            _ when socket is not null => $"cannot connect to PostgreSQL at {shown}: {socket.Message}",
            TimeoutException or NpgsqlException { InnerException: TimeoutException } => $"PostgreSQL at {shown} did not answer in time; is the server running and reachable?",
            _ => $"PostgreSQL at {shown}: {FirstLine(e.Message)}",
        };
        return new VidSeekException(message, e);
    }

    private static string FirstLine(string s) => s.Split('\n')[0].Trim();

    private static NpgsqlCommand Command(NpgsqlConnection c, NpgsqlTransaction tx, string sql, params object[] parameters)
    {
        var cmd = new NpgsqlCommand(sql, c, tx);
        foreach (var p in parameters) cmd.Parameters.Add(new NpgsqlParameter { Value = p });
        return cmd;
    }

    private static int Execute(NpgsqlConnection c, NpgsqlTransaction tx, string sql, params object[] parameters)
    {
        using var cmd = Command(c, tx, sql, parameters);
        return cmd.ExecuteNonQuery();
    }

    private static object? Scalar(NpgsqlConnection c, NpgsqlTransaction tx, string sql, params object[] parameters)
    {
        using var cmd = Command(c, tx, sql, parameters);
        var v = cmd.ExecuteScalar();
        return v is DBNull ? null : v;
    }

    private static byte[] Bytes<T>(T[] values) where T : struct => IndexRows.Bytes(values);

    public void Dispose() => source.Dispose();
}
