using System.Data.Common;
using System.Runtime.InteropServices;

namespace VidSeek.Index;

/// <summary>
/// Rows to records, for every store (<see cref="SqliteIndexStore"/>, <see cref="PostgresIndexStore"/>): both select the same
/// columns in the same order, so one mapper over <see cref="DbDataReader"/> reads them, with the same checks and messages.
/// Arrays are stored as the raw bytes of their elements (float64 frame times, float32 embeddings and tokens), which come back
/// bit-equal; a blob whose length does not fit the manifest is an error naming the index, the segment and the column.
/// </summary>
internal static class IndexRows
{
    /// <summary>The columns <see cref="Videos"/> reads, in order.</summary>
    public const string VideoColumns = "id, path, size, mtime, sha256, duration, fps, frame_count, width, height";

    /// <summary>The columns <see cref="Files"/> reads, in order.</summary>
    public const string FileColumns = "id, path, size, mtime, sha256";

    /// <summary>Captions by video id from rows of <c>(video_id, text)</c>, in the order read.</summary>
    public static Dictionary<long, List<string>> Captions(DbDataReader r)
    {
        var captions = new Dictionary<long, List<string>>();
        while (r.Read())
        {
            long id = r.GetInt64(0);
            if (!captions.TryGetValue(id, out var list)) captions[id] = list = [];
            list.Add(r.GetString(1));
        }
        return captions;
    }

    /// <summary>Videos from rows of <see cref="VideoColumns"/>, with their captions.</summary>
    public static List<IndexedVideo> Videos(DbDataReader r, Dictionary<long, List<string>> captions)
    {
        var result = new List<IndexedVideo>();
        while (r.Read())
        {
            long id = r.GetInt64(0);
            result.Add(new IndexedVideo(r.GetString(1), r.GetInt64(2), r.GetInt64(3), r.GetString(4), r.GetDouble(5),
                r.GetDouble(6), r.GetInt32(7), r.GetInt32(8), r.GetInt32(9), captions.GetValueOrDefault(id) ?? (IReadOnlyList<string>)[])
            { Id = id });
        }
        return result;
    }

    /// <summary>Stored files by path from rows of <see cref="FileColumns"/>.</summary>
    public static Dictionary<string, StoredFile> Files(DbDataReader r)
    {
        var result = new Dictionary<string, StoredFile>(StringComparer.Ordinal);
        while (r.Read()) result[r.GetString(1)] = File(r);
        return result;
    }

    /// <summary>The current row of <see cref="FileColumns"/>.</summary>
    public static StoredFile File(DbDataReader r) => new(r.GetInt64(0), r.GetInt64(2), r.GetInt64(3), r.GetString(4));

    /// <summary>
    /// The current row of <c>id, video_id, ordinal, start, end, frame_times, frame_embeddings, coarse, tokens</c> as a segment,
    /// each array checked against the manifest's shapes. <paramref name="coarse"/> reads column 7, which the stores keep
    /// differently (a float32 blob in SQLite, a pgvector <c>vector</c> in PostgreSQL); null when it is malformed.
    /// </summary>
    public static IndexedSegment Segment(DbDataReader r, IndexManifest m, string location, Func<DbDataReader, int, float[]?> coarse)
    {
        long id = r.GetInt64(0);
        string What(string column) => $"{location}: segment {id} has a malformed {column}; build the index again";
        // A value of another type (a damaged or hand-edited row) is a malformed column, not a cast exception.
        var times = r[5] is byte[] t ? Doubles(t) : null;
        var frames = r[6] is byte[] f ? Floats(f) : null;
        var vector = coarse(r, 7);
        var tokens = r.IsDBNull(8) ? null : r[8] is byte[] k ? Floats(k) : [];
        if (times is null || times.Length != m.Frames) throw new VidSeekException(What("frame_times"));
        if (frames is null || frames.Length != (long)m.Frames * m.EmbedDim) throw new VidSeekException(What("frame_embeddings"));
        if (vector is null || vector.Length != m.EmbedDim) throw new VidSeekException(What("coarse vector"));
        if (m.ModelType == IndexModel.VltType && !r.IsDBNull(8) && (tokens is null || tokens.Length != (long)m.Frames * m.TokensPerFrame * m.TokenDim))
            throw new VidSeekException(What("tokens"));
        return new IndexedSegment(r.GetInt32(2), r.GetDouble(3), r.GetDouble(4), times, frames, vector, tokens) { Id = id, VideoId = r.GetInt64(1) };
    }

    /// <summary>The raw bytes of an array, as stored.</summary>
    public static byte[] Bytes<T>(T[] values) where T : struct => MemoryMarshal.AsBytes(values.AsSpan()).ToArray();

    /// <summary>A float32 blob, or null when its length is not a whole number of floats.</summary>
    public static float[]? Floats(byte[] bytes) => bytes.Length % 4 == 0 ? MemoryMarshal.Cast<byte, float>(bytes).ToArray() : null;

    /// <summary>A float64 blob, or null when its length is not a whole number of doubles.</summary>
    public static double[]? Doubles(byte[] bytes) => bytes.Length % 8 == 0 ? MemoryMarshal.Cast<byte, double>(bytes).ToArray() : null;
}
