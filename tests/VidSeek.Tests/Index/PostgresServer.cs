using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Npgsql;

namespace VidSeek.Tests.Index;

/// <summary>
/// A PostgreSQL server with pgvector for one test class: the one <c>VIDSEEK_TEST_PG</c> names (a postgres:// URL), or else
/// PGlite (PostgreSQL compiled to WASM, with pgvector) served over the wire protocol by <c>tests/pglite</c>'s pinned npm
/// packages on a free loopback port, started here and stopped when the class is done. No Docker. Every test works in a
/// schema of its own (<see cref="NewIndexUrl"/>), dropped at the end.
/// </summary>
/// <remarks>
/// PGlite is one single-user backend: its socket server multiplexes the connections onto one session, running only the
/// owner's messages while a transaction block is open. Transactions from several connections therefore never interleave
/// (they run one after another), row locks never conflict, and session state (SET, prepared statements, advisory locks) is
/// shared by every connection. The store is written for that (explicit transactions everywhere, schema-qualified names, no
/// session state), and behaves the same on a real server.
/// </remarks>
public sealed class PostgresServer : IDisposable
{
    public const string Variable = "VIDSEEK_TEST_PG";

    private readonly Process? process;
    private readonly List<string> schemas = [];

    /// <summary>The server's URL (no schema), or null when there is none (see <see cref="SkipReason"/>).</summary>
    public string? Url { get; }
    public string? SkipReason { get; }
    /// <summary>Whether this is the PGlite server started here (not a real one named by <see cref="Variable"/>).</summary>
    public bool IsPglite => process is not null;

    public PostgresServer()
    {
        if (Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } url)
        {
            Url = url;
            return;
        }
        string dir = Path.Combine(TestPaths.RepoRoot, "tests", "pglite");
        string script = Path.Combine(dir, "node_modules", "@electric-sql", "pglite-socket", "dist", "scripts", "server.js");
        string? node = FindOnPath("node");
        if (node is null)
        {
            SkipReason = $"no PostgreSQL for the tests: Node.js is not installed (it serves PGlite from tests/pglite), and {Variable} does not name a server";
            return;
        }
        if (!File.Exists(script))
        {
            SkipReason = $"no PostgreSQL for the tests: tests/pglite is not installed (cd tests/pglite && npm ci; .ci/run does it), and {Variable} does not name a server";
            return;
        }
        int port = FreePort();
        var psi = new ProcessStartInfo(node) { WorkingDirectory = dir, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { script, "-p", port.ToString(), "-e", "@electric-sql/pglite-pgvector:vector", "-m", "64" }) psi.ArgumentList.Add(a);
        process = Process.Start(psi)!;
        var listening = new TaskCompletionSource();
        var log = new System.Text.StringBuilder();
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (log) log.AppendLine(e.Data);
            if (e.Data.Contains("listening", StringComparison.OrdinalIgnoreCase)) listening.TrySetResult();
        };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        // WASM start-up is slow on a busy machine (10-40 s seen on 2 shared cores).
        var clock = Stopwatch.StartNew();
        while (!listening.Task.IsCompleted && !process.HasExited && clock.Elapsed < TimeSpan.FromSeconds(240)) listening.Task.Wait(200);
        if (!listening.Task.IsCompleted)
        {
            Stop();
            lock (log) throw new InvalidOperationException($"the PGlite server did not start in {clock.Elapsed.TotalSeconds:F0} s:\n{log}");
        }
        Url = $"postgres://postgres@127.0.0.1:{port}/postgres";
    }

    /// <summary>Skips the calling test, with the reason, when there is no server.</summary>
    public string RequireUrl()
    {
        if (Url is null) Assert.Skip(SkipReason!);
        return Url;
    }

    /// <summary>A URL naming a new, empty schema on the server: an index of its own.</summary>
    public string NewIndexUrl()
    {
        string url = RequireUrl();
        string schema = "t_" + Guid.NewGuid().ToString("N")[..16];
        lock (schemas) schemas.Add(schema);
        return url + (url.Contains('?') ? "&" : "?") + "schema=" + schema;
    }

    /// <summary>Runs SQL on the server directly (to corrupt or inspect an index behind the store's back).</summary>
    public void Execute(string indexUrl, string sql)
    {
        var (cs, _) = VidSeek.Index.PostgresIndexStore.Parse(indexUrl);
        using var conn = new NpgsqlConnection(cs);
        conn.Open();
        using var tx = conn.BeginTransaction();
        using var cmd = new NpgsqlCommand(sql, conn, tx);
        cmd.ExecuteNonQuery();
        tx.Commit();
    }

    /// <summary>The first column of the first row of a query, run directly on the server.</summary>
    public object? Scalar(string indexUrl, string sql)
    {
        var (cs, _) = VidSeek.Index.PostgresIndexStore.Parse(indexUrl);
        using var conn = new NpgsqlConnection(cs);
        conn.Open();
        using var tx = conn.BeginTransaction();
        using var cmd = new NpgsqlCommand(sql, conn, tx);
        var value = cmd.ExecuteScalar();
        tx.Commit();
        return value;
    }

    private static string? FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator).Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists);

    private static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    private void Stop()
    {
        if (process is null) return;
        try { if (!process.HasExited) process.Kill(entireProcessTree: true); process.WaitForExit(10_000); }
        catch (InvalidOperationException) { }
        process.Dispose();
    }

    public void Dispose()
    {
        if (process is null && Url is not null)
        {
            // A real server outlives the tests: drop what they made.
            foreach (var schema in schemas)
                try { Execute(Url + (Url.Contains('?') ? "&" : "?") + "schema=" + schema, $"DROP SCHEMA IF EXISTS {schema} CASCADE"); }
                catch (Exception e) when (e is NpgsqlException or VidSeekException) { }
        }
        Stop();
    }
}
