using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using VidSeek.Index;

namespace VidSeek.Bench;

/// <summary>
/// The PostgreSQL store at 10^5 videos (issue 12): <c>pg-scale --source DIR --n 100000</c>, on the PGlite server of
/// <c>tests/pglite</c> (started here on a free port, its database in a folder under <c>--work</c>) or on <c>--url</c>.
/// <list type="number">
/// <item>Videos: one segment each, mixed from the real segments of <c>search-source</c>'s index (the demo X-Pool model on
/// Shapes train videos) exactly as <c>search-build</c> mixes them (<see cref="SearchBench.Mix"/>: two real segments, a weight
/// in [0.5, 1], 10% noise), coarse vector the normalised mean of the mixed frames.</item>
/// <item>Insert throughput, two ways: <c>--put</c> videos one transaction each (<see cref="PostgresIndexStore.Put"/>, as the
/// indexer writes; with the 12 real JPEG thumbnails of the first source segment), then the rest in transactions of
/// <c>--batch</c> videos without thumbnails (<see cref="PostgresIndexStore.PutMany"/>, a bulk load). The HNSW index is
/// maintained throughout (it exists from the start, as in a live index).</item>
/// <item>Search latency of <see cref="VideoSearcher"/> with the server's HNSW first stage (<c>--candidates</c>) over
/// <c>--queries</c> test captions: total, first stage, reading the candidates, exact X-Pool score; then the exhaustive exact
/// search for <c>--exact-queries</c> of them, and recall@10 of the two-stage ranking against it.</item>
/// </list>
/// </summary>
public static class PgScaleBench
{
    public static int Run(string[] args)
    {
        var o = Args(args);
        string source = Path.GetFullPath(o.GetValueOrDefault("source", "/tmp/vidseek-search-bench"));
        string work = Path.GetFullPath(o.GetValueOrDefault("work", "/tmp/vidseek-pg-scale"));
        string modelDir = Path.GetFullPath(o.GetValueOrDefault("model", "assets/demo-model"));
        int n = int.Parse(o.GetValueOrDefault("n", "100000"));
        int put = Math.Min(n, int.Parse(o.GetValueOrDefault("put", "2000")));
        int batch = int.Parse(o.GetValueOrDefault("batch", "1000"));
        int queryCount = int.Parse(o.GetValueOrDefault("queries", "30"));
        int exactQueries = int.Parse(o.GetValueOrDefault("exact-queries", "3"));
        int candidates = int.Parse(o.GetValueOrDefault("candidates", VideoSearcher.DefaultCandidates.ToString()));
        int seed = int.Parse(o.GetValueOrDefault("seed", "7"));
        const int K = 10;
        if (!File.Exists(Path.Combine(source, "source.vsi")) || !File.Exists(Path.Combine(source, "queries.txt")))
        {
            Console.Error.WriteLine($"{source} has no source.vsi and queries.txt: run vidseek-bench search-source --work {source} first");
            return 1;
        }
        Console.WriteLine($"pg-scale: {n} videos, {Environment.ProcessorCount} cores, load average {Load()} (a shared machine: compare numbers within one run)");

        using var server = o.TryGetValue("url", out var given) ? null : Pglite.Start(Path.Combine(work, "pgdata-" + DateTime.UtcNow.ToString("yyyyMMddHHmmss")));
        string url = (given ?? server!.Url) + "?schema=pgscale_" + Guid.NewGuid().ToString("N")[..8];
        Console.WriteLine(server is null ? $"server: {PostgresIndexStore.Redact(url)}" : $"server: PGlite (tests/pglite) on {server.Url}, data in {server.Data}; started in {server.StartSeconds:F1} s");

        List<IndexedSegment> sources;
        IndexManifest manifest;
        var thumbnails = new List<byte[]>();
        using (var src = IndexStore.Open(Path.Combine(source, "source.vsi")))
        {
            sources = src.Segments(withTokens: false).ToList();
            manifest = src.Manifest with { Root = work, Dataset = null, Model = modelDir };
            for (int f = 0; src.Thumbnail(sources[0].Id, f) is { } jpeg; f++) thumbnails.Add(jpeg);
        }
        if (IndexBuilder.Sha256(Path.Combine(modelDir, "model.safetensors")) != manifest.ModelSha256)
        {
            Console.Error.WriteLine($"{modelDir} is not the model {source}/source.vsi was built with");
            return 1;
        }
        int frames = manifest.Frames, dim = manifest.EmbedDim;
        Console.WriteLine($"source: {sources.Count} real segments ({frames} frames x {dim}), {thumbnails.Count} thumbnails of {thumbnails.Sum(t => t.Length) / Math.Max(1, thumbnails.Count)} bytes on average");
        var rng = new Random(seed);
        (IndexedVideo, IReadOnlyList<SegmentToStore>) Synth(int i, bool withThumbnails)
        {
            var a = sources[rng.Next(sources.Count)];
            var b = sources[rng.Next(sources.Count)];
            var mixed = SearchBench.Mix(a.FrameEmbeddings, b.FrameEmbeddings, frames, dim, rng);
            var coarse = new float[dim];
            for (int f = 0; f < frames; f++) for (int d = 0; d < dim; d++) coarse[d] += mixed[f * dim + d];
            float norm = MathF.Sqrt(coarse.Sum(x => x * x));
            for (int d = 0; d < dim; d++) coarse[d] /= norm;
            var video = new IndexedVideo($"mix/{i:D7}.mp4", 1000 + i, i, i.ToString("x64"), a.End, 8, 32, 64, 64, []);
            return (video, [new SegmentToStore(new IndexedSegment(0, 0, a.End, a.FrameTimes, mixed, coarse), withThumbnails ? thumbnails : [])]);
        }

        using var store = (PostgresIndexStore)IndexStore.OpenOrCreate(url, manifest);
        var clock = Stopwatch.StartNew();
        var putTimes = new List<double>();
        for (int i = 0; i < put; i++)
        {
            var (video, segments) = Synth(i, withThumbnails: true);
            var t = Stopwatch.StartNew();
            store.Put(video, segments);
            putTimes.Add(t.Elapsed.TotalMilliseconds);
        }
        double putSeconds = clock.Elapsed.TotalSeconds;
        putTimes.Sort();
        Console.WriteLine($"insert, one transaction per video (as the indexer; 1 segment, {thumbnails.Count} thumbnails): {put} videos in {putSeconds:F1} s = {put / putSeconds:F0} videos/s; " +
            $"per video p50 {Percentile(putTimes, 0.5):F1} ms, p99 {Percentile(putTimes, 0.99):F1} ms; load average {Load()}");
        clock.Restart();
        int done = put;
        var lastReport = Stopwatch.StartNew();
        while (done < n)
        {
            int count = Math.Min(batch, n - done);
            var videos = Enumerable.Range(done, count).Select(i => Synth(i, withThumbnails: false)).ToList();
            store.PutMany(videos);
            done += count;
            if (lastReport.Elapsed.TotalSeconds > 30 || done == n)
            {
                Console.WriteLine($"  bulk: {done - put} videos in {clock.Elapsed.TotalSeconds:F0} s ({(done - put) / clock.Elapsed.TotalSeconds:F0} videos/s), load average {Load()}");
                lastReport.Restart();
            }
        }
        double bulkSeconds = clock.Elapsed.TotalSeconds;
        if (n > put)
            Console.WriteLine($"insert, bulk ({batch} videos a transaction, no thumbnails, HNSW maintained): {n - put} videos in {bulkSeconds:F1} s = {(n - put) / bulkSeconds:F0} videos/s");
        Console.WriteLine($"index: {store.VideoCount} videos, {store.SegmentCount} segments; database size {DatabaseSize(store)}");

        var queries = File.ReadAllLines(Path.Combine(source, "queries.txt")).Where(l => l.Length > 0).ToList();
        var model = IndexModel.Open(modelDir, frames);
        using var searcher = VideoSearcher.Create(IndexStore.Open(url), model, candidates);
        for (int w = 0; w < 2; w++) searcher.Search(queries[w], K);
        var totals = new List<double>();
        var parts = new List<(double First, double Read, double Score)>();
        for (int i = 0; i < queryCount; i++)
        {
            var t = Stopwatch.StartNew();
            searcher.Search(queries[(i * 7) % queries.Count], K);
            totals.Add(t.Elapsed.TotalMilliseconds);
            parts.Add(searcher.LastTimings);
        }
        totals.Sort();
        Console.WriteLine($"search, HNSW first stage ({candidates} candidates, ef_search {Math.Clamp(candidates, 40, 1000)}) + exact X-Pool on them, {queryCount} queries, top {K}: " +
            $"p50 {Percentile(totals, 0.5):F0} ms, p99 {Percentile(totals, 0.99):F0} ms; median first stage {Median(parts.Select(p => p.First)):F0} ms, " +
            $"read candidates {Median(parts.Select(p => p.Read)):F0} ms, exact score {Median(parts.Select(p => p.Score)):F0} ms; load average {Load()}");

        double recall = 0, exactMs = 0;
        for (int i = 0; i < exactQueries; i++)
        {
            string q = queries[(i * 7) % queries.Count];
            var t = Stopwatch.StartNew();
            var exact = searcher.Search(q, K, exact: true).Select(h => h.Segment.Id).ToHashSet();
            exactMs += t.Elapsed.TotalMilliseconds;
            recall += searcher.Search(q, K).Count(h => exact.Contains(h.Segment.Id)) / (double)K;
        }
        if (exactQueries > 0)
            Console.WriteLine($"search, exhaustive exact (every segment streamed from the server and scored): {exactMs / exactQueries:F0} ms a query over {exactQueries} queries; " +
                $"recall@{K} of the two-stage search against it: {recall / exactQueries:F2}; load average {Load()}");
        return 0;
    }

    private static string DatabaseSize(PostgresIndexStore store)
    {
        try
        {
            var (cs, schema) = PostgresIndexStore.Parse(store.Location);
            using var conn = new Npgsql.NpgsqlConnection(cs);
            conn.Open();
            using var tx = conn.BeginTransaction();
            using var cmd = new Npgsql.NpgsqlCommand($"SELECT pg_size_pretty(SUM(pg_total_relation_size(c.oid))) || ' (HNSW index ' || pg_size_pretty(pg_relation_size('{schema}.segments_coarse_hnsw')) || ')' FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace WHERE s.nspname = '{schema}' AND c.relkind IN ('r', 't')", conn, tx);
            return cmd.ExecuteScalar() as string ?? "?";
        }
        catch (Exception e) { return $"? ({e.Message})"; }
    }

    /// <summary>The PGlite server of tests/pglite (as the tests start it), with its database in a folder.</summary>
    private sealed class Pglite : IDisposable
    {
        private readonly Process process;
        public string Url { get; }
        public string Data { get; }
        public double StartSeconds { get; }

        private Pglite(Process process, string url, string data, double seconds) { this.process = process; Url = url; Data = data; StartSeconds = seconds; }

        public static Pglite Start(string data)
        {
            string dir = Path.GetFullPath(Path.Combine("tests", "pglite"));
            string script = Path.Combine(dir, "node_modules", "@electric-sql", "pglite-socket", "dist", "scripts", "server.js");
            if (!File.Exists(script)) throw new VidSeekException($"{script} is missing: run the benchmark from the repository root after cd tests/pglite && npm ci (or give --url)");
            Directory.CreateDirectory(data);
            var l = new TcpListener(IPAddress.Loopback, 0);
            l.Start();
            int port = ((IPEndPoint)l.LocalEndpoint).Port;
            l.Stop();
            var psi = new ProcessStartInfo("node") { WorkingDirectory = dir, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var a in new[] { script, "-p", port.ToString(), "-d", data, "-e", "@electric-sql/pglite-pgvector:vector", "-m", "8" }) psi.ArgumentList.Add(a);
            var clock = Stopwatch.StartNew();
            var p = Process.Start(psi)!;
            var listening = new TaskCompletionSource();
            p.OutputDataReceived += (_, e) => { if (e.Data?.Contains("listening", StringComparison.OrdinalIgnoreCase) == true) listening.TrySetResult(); };
            p.ErrorDataReceived += (_, e) => { if (e.Data is not null) Console.Error.WriteLine($"pglite: {e.Data}"); };
            p.BeginOutputReadLine();
            p.BeginErrorReadLine();
            if (!listening.Task.Wait(TimeSpan.FromSeconds(300)) || p.HasExited)
            {
                try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
                throw new VidSeekException("the PGlite server did not start");
            }
            return new Pglite(p, $"postgres://postgres@127.0.0.1:{port}/postgres", data, clock.Elapsed.TotalSeconds);
        }

        public void Dispose()
        {
            try { if (!process.HasExited) process.Kill(entireProcessTree: true); process.WaitForExit(10_000); }
            catch (InvalidOperationException) { }
            process.Dispose();
            try { Directory.Delete(Data, recursive: true); } catch (IOException) { }
        }
    }

    private static double Percentile(List<double> sorted, double p) => sorted[Math.Min(sorted.Count - 1, Math.Max(0, (int)Math.Ceiling(p * sorted.Count) - 1))];
    private static double Median(IEnumerable<double> values) { var l = values.Order().ToList(); return l.Count == 0 ? 0 : l[l.Count / 2]; }
    private static string Load() => string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));

    private static Dictionary<string, string> Args(string[] args)
    {
        var o = new Dictionary<string, string>();
        for (int i = 0; i + 1 < args.Length; i += 2)
        {
            if (!args[i].StartsWith("--")) throw new ArgumentException($"expected --name value, got {args[i]}");
            o[args[i][2..]] = args[i + 1];
        }
        return o;
    }
}
