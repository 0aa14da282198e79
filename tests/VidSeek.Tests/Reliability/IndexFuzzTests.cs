using System.Buffers.Binary;
using System.Text;
using Microsoft.Data.Sqlite;
using VidSeek.Index;

namespace VidSeek.Tests.Reliability;

/// <summary>
/// Fuzzing index files: a small real index (two videos) mutated at four levels (raw bytes, whole pages, the meta rows, the
/// segment and video rows' values), then searched as <c>search</c> and <c>serve</c> do and opened for update as <c>index</c>
/// does. Each case must work or end in one clean error.
/// </summary>
[Collection(ProcessStateCollection.Name)]
public sealed class IndexFuzzTests(SmallIndexFixture fixture) : IClassFixture<SmallIndexFixture>
{
    private static readonly string[] BlobColumns = ["frame_times", "frame_embeddings", "coarse", "tokens"];

    private static object RandomValue(Random r) => r.Next(6) switch
    {
        0 => DBNull.Value,
        1 => (long)r.Next(-5, 1 << 20) * (r.Next(2) == 0 ? 1 : long.MaxValue / (1 << 20)),
        2 => r.NextDouble() * 1e300 * (r.Next(2) == 0 ? -1 : 1),
        3 => new string('x', r.Next(50)) + (r.Next(2) == 0 ? "\n../../etc/passwd" : "[1,2"),
        4 => RandomBlob(r, r.Next(0, 300)),
        _ => double.PositiveInfinity, // SQLite cannot store NaN
    };

    private static byte[] RandomBlob(Random r, int n)
    {
        var b = new byte[n];
        r.NextBytes(b);
        return b;
    }

    private static string Mutate(string file, Random r)
    {
        int level = r.Next(4);
        switch (level)
        {
            case 0: // bytes
            {
                var bytes = File.ReadAllBytes(file);
                int n = 1 + r.Next(16);
                for (int i = 0; i < n; i++) bytes[r.Next(bytes.Length)] = (byte)r.Next(256);
                File.WriteAllBytes(file, bytes);
                return $"{n} random bytes";
            }
            case 1: // pages
            {
                var bytes = File.ReadAllBytes(file);
                int size = BinaryPrimitives.ReadUInt16BigEndian(bytes.AsSpan(16));
                size = size == 1 ? 65536 : Math.Max(512, size);
                int pages = bytes.Length / size, page = r.Next(pages);
                string what;
                switch (r.Next(4))
                {
                    case 0: Array.Clear(bytes, page * size, size); what = $"page {page} zeroed"; break;
                    case 1: r.NextBytes(bytes.AsSpan(page * size, size)); what = $"page {page} random"; break;
                    case 2:
                        int other = r.Next(pages);
                        Array.Copy(bytes, other * size, bytes, page * size, size);
                        what = $"page {other} copied over page {page}";
                        break;
                    default: bytes = bytes[..(page * size)]; what = $"truncated to {page} pages"; break;
                }
                File.WriteAllBytes(file, bytes);
                return what;
            }
            case 2: // meta rows
            {
                string key = r.Next(3) == 0 ? "generation" : "manifest";
                object value;
                if (key == "manifest")
                {
                    string json = Scalar(file, "SELECT value FROM meta WHERE key = 'manifest'")!.ToString()!;
                    var sb = new StringBuilder(json);
                    for (int i = 0, n = 1 + r.Next(4); i < n && sb.Length > 0; i++)
                    {
                        int at = r.Next(sb.Length);
                        switch (r.Next(3))
                        {
                            case 0: sb[at] = "0123456789-\"{}[],:ex. "[r.Next(22)]; break;
                            case 1: sb.Remove(at, Math.Min(sb.Length - at, 1 + r.Next(10))); break;
                            default: sb.Insert(at, r.Next(2) == 0 ? "99999999999" : "\"\""); break;
                        }
                    }
                    value = sb.ToString();
                }
                else value = RandomValue(r);
                Exec(file, $"UPDATE meta SET value = $v WHERE key = '{key}'", value);
                return $"meta {key} = {Describe(value)}";
            }
            default: // row values
            {
                (string table, string column) = r.Next(3) switch
                {
                    0 => ("segments", BlobColumns[r.Next(BlobColumns.Length)]),
                    1 => ("segments", new[] { "start", "end", "ordinal", "video_id" }[r.Next(4)]),
                    _ => ("videos", new[] { "path", "size", "mtime", "sha256", "duration", "fps", "frame_count", "width", "height" }[r.Next(9)]),
                };
                var value = column is "frame_times" or "frame_embeddings" or "coarse" or "tokens" && r.Next(2) == 0 ? RandomBlob(r, r.Next(0, 4096)) : RandomValue(r);
                try { Exec(file, $"UPDATE {table} SET {column} = $v WHERE rowid = (SELECT rowid FROM {table} ORDER BY random() LIMIT 1)", value); }
                catch (SqliteException) { return $"{table}.{column} = {Describe(value)} (refused by a constraint)"; }
                return $"{table}.{column} = {Describe(value)}";
            }
        }
    }

    private static string Describe(object v) => v switch
    {
        byte[] b => $"{b.Length} random bytes",
        string s => $"'{(s.Length > 40 ? s[..40] + "..." : s).Replace("\n", "\\n")}'",
        DBNull => "NULL",
        _ => Convert.ToString(v, System.Globalization.CultureInfo.InvariantCulture)!,
    };

    private static object? Scalar(string file, string sql)
    {
        using var db = new SqliteConnection($"Data Source={file};Pooling=False");
        db.Open();
        using var cmd = db.CreateCommand();
        cmd.CommandText = sql;
        return cmd.ExecuteScalar();
    }

    private static void Exec(string file, string sql, object value)
    {
        using var db = new SqliteConnection($"Data Source={file};Pooling=False");
        db.Open();
        using var cmd = db.CreateCommand();
        cmd.CommandText = sql;
        cmd.Parameters.AddWithValue("$v", value);
        cmd.ExecuteNonQuery();
    }

    [Fact]
    public void FuzzedIndexFilesAreSearchedUpdatedOrRefusedCleanly()
    {
        IndexManifest manifest;
        using (var store = SqliteIndexStore.Open(fixture.Index)) manifest = store.Manifest;
        string dir = Directory.CreateTempSubdirectory("vidseek-ifuzz-").FullName;
        try
        {
            var outcome = FuzzHarness.Run("index file", FuzzHarness.Iterations(24), (r, i) =>
            {
                string file = Path.Combine(dir, $"case{i}.vsi");
                File.Copy(fixture.Index, file, true);
                string what = Mutate(file, r);
                SqliteConnection.ClearAllPools();
                return (what, () =>
                {
                    try
                    {
                        // search / serve: open with the model, search, then what the page asks for each hit.
                        using (var searcher = VideoSearcher.Open(file, warn: _ => { }))
                        {
                            foreach (var hit in searcher.Search("a red bar", k: 5))
                            {
                                _ = searcher.Video(hit.Video.Id);
                                _ = searcher.Index.Thumbnail(hit.Segment.Id, 0);
                                _ = searcher.Neighbours(hit.Segment.Id);
                            }
                            _ = searcher.Videos.Count;
                            _ = searcher.ExampleCaptions(3);
                        }
                    }
                    finally
                    {
                        // index: open for update (the whole-file check, the blob check), then what the builder reads first.
                        using var writer = SqliteIndexStore.OpenOrCreate(file, manifest);
                        _ = writer.Files();
                    }
                });
            });
            Assert.True(outcome.CleanErrors > 0, outcome.ToString());
        }
        finally { Directory.Delete(dir, true); }
    }
}
