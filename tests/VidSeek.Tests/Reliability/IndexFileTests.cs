using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Data.Sqlite;
using VidSeek.Index;
using VidSeek.Tests.Index;
using VidSeek.Web;

namespace VidSeek.Tests.Reliability;

/// <summary>A small real index (two fixture videos, the tiny X-Pool model), built once; tests corrupt copies of it.</summary>
public sealed class SmallIndexFixture : IDisposable
{
    public IndexFixture Models { get; } = new();
    public string Videos { get; }
    public string Index { get; }

    public SmallIndexFixture()
    {
        Videos = Models.NewVideoFolder("bars_h264.mp4", "numbered_h264.mp4");
        Index = Path.Combine(Models.Tmp, "small.vsi");
        var (code, _, err) = CliRunner.Run("index", Videos, "--model", Models.Model, "--out", Index);
        Assert.True(code == 0, err);
    }

    /// <summary>A fresh copy of the index in its own folder.</summary>
    public string Copy()
    {
        string dir = Directory.CreateTempSubdirectory("vidseek-idx-").FullName;
        string copy = Path.Combine(dir, "copy.vsi");
        File.Copy(Index, copy);
        return copy;
    }

    public void Dispose()
    {
        try { Directory.Delete(Videos, true); } catch (IOException) { }
        Models.Dispose();
    }
}

/// <summary>
/// Damaged and foreign index files, and a hostile environment (read-only file or folder, full disk, two writers), through the
/// CLI: each is one <c>error:</c> line naming the file, a non-zero exit, and the file as it was.
/// </summary>
[Collection(ProcessStateCollection.Name)]
public sealed class IndexFileTests(SmallIndexFixture fixture) : IClassFixture<SmallIndexFixture>
{
    public static TheoryData<string> Damages() =>
    [
        "random bytes", "text file", "empty file", "truncated", "manifest not JSON", "manifest a JSON list", "Frames a string", "Frames -1",
        "short ModelSha256", "frame_times not doubles", "frame_times text", "generation not a number", "no meta table",
    ];

    /// <summary>Damages <paramref name="file"/> as <paramref name="damage"/> says.</summary>
    internal static void Damage(string file, string damage)
    {
        switch (damage)
        {
            case "random bytes": File.WriteAllBytes(file, RandomBytes(8192, 1)); return;
            case "text file": File.WriteAllText(file, "this is not an index\nbut a note\n"); return;
            case "empty file": File.WriteAllBytes(file, []); return;
            case "truncated":
                var bytes = File.ReadAllBytes(file);
                File.WriteAllBytes(file, bytes[..(bytes.Length / 2)]);
                return;
            case "manifest not JSON": Sql(file, "UPDATE meta SET value = '{\"Version\": 3, \"Frames\": ' WHERE key = 'manifest'"); return;
            case "manifest a JSON list": Sql(file, "UPDATE meta SET value = '[1, 2, 3]' WHERE key = 'manifest'"); return;
            case "Frames a string": EditManifest(file, m => m["Frames"] = "four"); return;
            case "Frames -1": EditManifest(file, m => m["Frames"] = -1); return;
            case "short ModelSha256": EditManifest(file, m => m["ModelSha256"] = "abc"); return;
            case "frame_times not doubles": Sql(file, "UPDATE segments SET frame_times = x'010203'"); return;
            case "frame_times text": Sql(file, "UPDATE segments SET frame_times = 'not json'"); return;
            case "generation not a number": Sql(file, "UPDATE meta SET value = 'lots' WHERE key = 'generation'"); return;
            case "no meta table": Sql(file, "DROP TABLE meta"); return;
            default: throw new ArgumentException(damage);
        }
    }

    internal static byte[] RandomBytes(int n, int seed)
    {
        var b = new byte[n];
        new Random(seed).NextBytes(b);
        return b;
    }

    internal static void Sql(string file, string sql)
    {
        using (var db = new SqliteConnection($"Data Source={file};Pooling=False"))
        {
            db.Open();
            using var cmd = db.CreateCommand();
            cmd.CommandText = sql;
            cmd.ExecuteNonQuery();
        }
        SqliteConnection.ClearAllPools();
    }

    private static void EditManifest(string file, Action<JsonObject> edit)
    {
        string json;
        using (var db = new SqliteConnection($"Data Source={file};Pooling=False"))
        {
            db.Open();
            using var cmd = db.CreateCommand();
            cmd.CommandText = "SELECT value FROM meta WHERE key = 'manifest'";
            json = (string)cmd.ExecuteScalar()!;
        }
        var node = JsonNode.Parse(json)!.AsObject();
        edit(node);
        Sql(file, $"UPDATE meta SET value = '{node.ToJsonString().Replace("'", "''")}' WHERE key = 'manifest'");
    }

    internal static string Hash(string file) => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(file)));

    /// <summary>One line, <c>error: ...</c>, naming <paramref name="file"/>.</summary>
    internal static void AssertOneErrorLine((int Code, string Out, string Err) run, string file, string what)
    {
        Assert.True(run.Code == 1, $"{what}: exit {run.Code}, stderr: {run.Err}");
        var lines = run.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, $"{what}: expected one line on stderr, got:\n{run.Err}");
        Assert.StartsWith("error: ", lines[0]);
        Assert.Contains(file, lines[0]);
    }

    /// <summary>
    /// A child process's answer: exit 1, exactly one <c>error:</c> line naming <paramref name="file"/>, no stack trace, nothing
    /// from native libraries (other lines are VidSeek's own progress, which a child without a terminal prints as plain text).
    /// </summary>
    internal static void AssertChildOneError((int Code, string Out, string Err) run, string file, string what)
    {
        Assert.True(run.Code == 1, $"{what}: exit {run.Code}, stderr: {run.Err}");
        var lines = run.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var errors = lines.Where(l => l.StartsWith("error: ", StringComparison.Ordinal)).ToList();
        Assert.True(errors.Count == 1 && errors[0].Contains(file), $"{what}: expected one error line naming {file}, got:\n{run.Err}");
        Assert.DoesNotContain(lines, l => l.TrimStart().StartsWith("at ", StringComparison.Ordinal) || l.Contains("Exception"));
    }

    /// <summary>Runs a CLI command line that must end by itself (serve of a damaged index must not start serving).</summary>
    private static (int Code, string Out, string Err) RunBounded(params string[] args)
    {
        var run = Task.Run(() => CliRunner.Run(args));
        Assert.True(run.Wait(TimeSpan.FromSeconds(90)), $"'{string.Join(' ', args)}' did not end (it served a damaged index?)");
        return run.Result;
    }

    [Theory]
    [MemberData(nameof(Damages))]
    public void ADamagedIndexIsOneErrorForSearchServeAndIndexAndIsLeftAsItWas(string damage)
    {
        string file = fixture.Copy();
        try
        {
            Damage(file, damage);
            string before = Hash(file);
            AssertOneErrorLine(RunBounded("search", file, "a red bar"), file, $"search, {damage}");
            AssertOneErrorLine(RunBounded("serve", file, "--port", "0"), file, $"serve, {damage}");
            AssertOneErrorLine(RunBounded("index", fixture.Videos, "--model", fixture.Models.Model, "--out", file), file, $"index, {damage}");
            Assert.Equal(before, Hash(file));
        }
        finally { Directory.Delete(Path.GetDirectoryName(file)!, true); }
    }

    [Fact]
    public void IndexOutNamingAFolderIsAClearError()
    {
        string dir = Directory.CreateTempSubdirectory("vidseek-out-").FullName;
        try
        {
            var run = CliRunner.Run("index", fixture.Videos, "--model", fixture.Models.Model, "--out", dir);
            AssertOneErrorLine(run, dir, "index --out FOLDER");
            Assert.Contains("is a folder", run.Err);
            Assert.Empty(Directory.GetFileSystemEntries(dir));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void AReadOnlyIndexFileIsOneErrorAndUnchanged()
    {
        string file = fixture.Copy();
        try
        {
            File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
            string before = Hash(file);
            // Nothing to add in the fixture's folder, but the open for writing must already refuse.
            var run = CliRunner.Run("index", fixture.Videos, "--model", fixture.Models.Model, "--out", file);
            AssertOneErrorLine(run, file, "index of a read-only file");
            Assert.Contains("read-only", run.Err);
            Assert.Equal(before, Hash(file));
            // Reading it still works.
            var search = CliRunner.Run("search", file, "a red bar");
            Assert.True(search.Code == 0, search.Err);
        }
        finally { Directory.Delete(Path.GetDirectoryName(file)!, true); }
    }

    [Fact]
    public void AReadOnlyFolderIsOneErrorAndTheIndexUnchanged()
    {
        // As root, permission bits do not stop a write: a read-only mount does. Without root, a folder without write permission.
        string file = fixture.Copy();
        string dir = Path.GetDirectoryName(file)!;
        string mount = Path.Combine(Path.GetTempPath(), $"vidseek-ro-{Guid.NewGuid():N}");
        bool mounted = false;
        try
        {
            string target = file;
            if (Environment.UserName == "root" || geteuid() == 0)
            {
                Directory.CreateDirectory(mount);
                if (Sh($"mount -t tmpfs -o size=8m tmpfs '{mount}'") != 0) Assert.Skip("root without the right to mount a tmpfs: cannot make a read-only folder");
                mounted = true;
                target = Path.Combine(mount, "copy.vsi");
                File.Copy(file, target);
                Assert.Equal(0, Sh($"mount -o remount,ro '{mount}'"));
            }
            else File.SetUnixFileMode(dir, UnixFileMode.UserRead | UnixFileMode.UserExecute);
            string before = Hash(target);
            var run = CliRunner.Run("index", fixture.Videos, "--model", fixture.Models.Model, "--out", target);
            AssertOneErrorLine(run, target, "index in a read-only folder");
            Assert.Equal(before, Hash(target));
            var search = CliRunner.Run("search", target, "a red bar");
            Assert.True(search.Code == 0, search.Err);
        }
        finally
        {
            if (mounted) Sh($"umount '{mount}'");
            if (Directory.Exists(mount)) Directory.Delete(mount, true);
            File.SetUnixFileMode(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            Directory.Delete(dir, true);
        }
    }

    [System.Runtime.InteropServices.DllImport("libc.so.6")]
    private static extern uint geteuid();

    internal static int Sh(string command)
    {
        using var p = Process.Start(new ProcessStartInfo("bash", ["-c", command]) { RedirectStandardError = true, RedirectStandardOutput = true })!;
        p.StandardOutput.ReadToEnd();
        p.StandardError.ReadToEnd();
        p.WaitForExit();
        return p.ExitCode;
    }

    /// <summary>
    /// A full disk, simulated by the file-size limit (<c>ulimit -f</c>, with SIGXFSZ ignored, so a write past it fails with
    /// EFBIG as a write to a full disk fails with ENOSPC): no root and no mount needed, so it runs on every CI machine. The
    /// runtime's W^X double mapping of code pages is file-backed and would hit the limit before Main, so it is turned off.
    /// </summary>
    internal static (int Code, string Out, string Err) RunChildWithFileLimit(long kilobytes, params string[] args)
    {
        string dll = Path.Combine(AppContext.BaseDirectory, "vidseek.dll");
        string quoted = string.Join(' ', args.Select(a => "'" + a.Replace("'", "'\\''") + "'"));
        var psi = new ProcessStartInfo("bash", ["-c", $"trap '' XFSZ; ulimit -f {kilobytes}; exec dotnet '{dll}' {quoted}"])
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        psi.Environment["DOTNET_EnableWriteXorExecute"] = "0";
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(180_000)) { p.Kill(true); Assert.Fail("vidseek did not finish under the file-size limit"); }
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    [Fact]
    public void AFullDiskWhileIndexingIsOneErrorAndTheIndexIsAsItWas()
    {
        string file = fixture.Copy();
        string videos = fixture.Models.NewVideoFolder("bars_h264.mp4", "numbered_h264.mp4");
        try
        {
            // The copy was built over the fixture's folder; build one over a folder that we can add to.
            File.Delete(file);
            Assert.Equal(0, CliRunner.Run("index", videos, "--model", fixture.Models.Model, "--out", file).Code);
            File.Copy(Path.Combine(TestPaths.Videos, "cellauto_mjpeg.avi"), Path.Combine(videos, "cellauto_mjpeg.avi"));
            Dictionary<string, StoredFile> before;
            long generation;
            using (var store = SqliteIndexStore.Open(file)) (before, generation) = (store.Files(), store.Generation);
            long limit = (new FileInfo(file).Length + 1023) / 1024; // not one block more than the index has now
            var run = RunChildWithFileLimit(limit, "index", videos, "--model", fixture.Models.Model, "--out", file);
            AssertChildOneError(run, file, "index on a full disk");
            using var after = SqliteIndexStore.Open(file);
            Assert.Equal("ok", after.IntegrityCheck());
            Assert.Equal(before, after.Files());
            Assert.Equal(generation, after.Generation);
            Assert.Equal(0, CliRunner.Run("search", file, "a red bar").Code);
        }
        finally
        {
            Directory.Delete(videos, true);
            Directory.Delete(Path.GetDirectoryName(file)!, true);
        }
    }

    [Fact]
    public void AFullDiskUnderEmbedVideoOutIsOneErrorAndNoFile()
    {
        string dir = Directory.CreateTempSubdirectory("vidseek-full-").FullName;
        try
        {
            string output = Path.Combine(dir, "e.safetensors");
            var run = RunChildWithFileLimit(0, "embed-video", "--model", fixture.Models.Model, "--out", output, Path.Combine(TestPaths.Videos, "bars_h264.mp4"));
            AssertChildOneError(run, output, "embed-video --out on a full disk");
            Assert.Empty(Directory.GetFileSystemEntries(dir));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void TwoWritersCreatingTheSameIndexNeverCorruptIt()
    {
        var manifest = new IndexManifest { Model = "/m", ModelSha256 = new string('a', 64), Frames = 2, EmbedDim = 3, Root = "/videos" };
        using var tmp = TestPaths.NewTempDir();
        const int trials = 40;
        int refused = 0;
        var clock = Stopwatch.StartNew();
        for (int t = 0; t < trials; t++)
        {
            string file = Path.Combine(tmp.Path, $"i{t}.vsi");
            using var start = new Barrier(2);
            var outcomes = Enumerable.Range(0, 2).Select(w => Task.Factory.StartNew(() =>
            {
                start.SignalAndWait();
                try
                {
                    using var store = SqliteIndexStore.OpenOrCreate(file, manifest);
                    store.Put(new IndexedVideo($"w{w}.mp4", 10, 1, new string('b', 64), 4, 10, 40, 8, 6, []),
                        [new SegmentToStore(new IndexedSegment(0, 0, 4, [1, 2], [1, 2, 3, 4, 5, 6], [1, 2, 3]), [[1], [2]])]);
                    return (string?)null;
                }
                catch (VidSeekException e) { return e.Message; }
            }, TaskCreationOptions.LongRunning)).ToArray();
            Assert.True(Task.WaitAll(outcomes, TimeSpan.FromSeconds(30)), $"trial {t}: a writer hung");
            var errors = outcomes.Select(o => o.Result).Where(e => e is not null).ToList();
            Assert.True(errors.Count < 2, $"trial {t}: both writers failed: {string.Join(" | ", errors)}");
            foreach (var e in errors) Assert.Contains("another vidseek process is writing", e);
            refused += errors.Count;
            using var store = SqliteIndexStore.Open(file);
            Assert.Equal("ok", store.IntegrityCheck());
            Assert.Equal(2 - errors.Count, store.VideoCount);
            Assert.Empty(Directory.GetFiles(tmp.Path, $"i{t}.vsi.creating*"));
        }
        TestContext.Current.SendDiagnosticMessage($"{trials} trials of two concurrent creations: {refused} second writers refused, 0 corrupt, {clock.Elapsed.TotalSeconds:F1} s");
    }

    [Fact]
    public void TwoIndexProcessesCreatingTheSameIndexLeaveOneValidIndex()
    {
        string dir = Directory.CreateTempSubdirectory("vidseek-two-").FullName;
        try
        {
            for (int t = 0; t < 3; t++)
            {
                string file = Path.Combine(dir, $"i{t}.vsi");
                var runs = Enumerable.Range(0, 2).Select(_ => Task.Run(() =>
                    IndexTests.RunChild(["index", fixture.Videos, "--model", fixture.Models.Model, "--out", file]))).ToArray();
                Task.WaitAll(runs);
                foreach (var r in runs.Select(r => r.Result))
                {
                    if (r.Code == 0) continue;
                    Assert.Equal(1, r.Code);
                    Assert.Contains("another vidseek process is writing", r.Err);
                    Assert.DoesNotContain("   at ", r.Err);
                }
                Assert.Contains(runs, r => r.Result.Code == 0);
                using var store = SqliteIndexStore.Open(file);
                Assert.Equal("ok", store.IntegrityCheck());
                Assert.Equal(2, store.VideoCount);
            }
        }
        finally { Directory.Delete(dir, true); }
    }
}
