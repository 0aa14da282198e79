using System.Diagnostics;
using System.Text.Json;
using TorchSharp;
using VidSeek.Data.Loaders;
using VidSeek.Data.Shapes;
using VidSeek.Index;
using VidSeek.Models.DualEncoder;
using static TorchSharp.torch;

namespace VidSeek.Bench;

/// <summary>
/// Search at scale (issue 10, section 2), in three steps, each its own process:
/// <list type="number">
/// <item><c>search-source --work DIR</c>: the Shapes corpus (<c>vidseek synth --seed 1 --videos 800</c>), its train split
/// indexed with the shipped X-Pool demo model (real embeddings of real videos), and the test split's captions as queries.</item>
/// <item><c>search-build --source DIR --n N --out DIR2</c>: an index of N segments made from the source segments by mixing
/// and perturbing them (see <see cref="Mix"/>), then its ANN index; times and sizes.</item>
/// <item><c>search-query --index DIR2/index.vsi --queries DIR/queries.txt --pooling xpool|meanp</c>: in a fresh process,
/// the search process's resident memory, p50/p99 latency of two-stage search, and recall@10 against the exhaustive exact
/// ranking (computed in one streamed pass for a sample of queries), for several candidate counts; also which first-stage
/// representation (per-segment mean vs per-frame max) recalls the exact ranking better, measured exhaustively.</item>
/// </list>
/// </summary>
public static class SearchBench
{
    public static int Source(string[] args)
    {
        var o = Args(args);
        string work = Path.GetFullPath(o.GetValueOrDefault("work", "/tmp/vidseek-search-bench"));
        string model = Path.GetFullPath(o.GetValueOrDefault("model", "assets/demo-model"));
        string data = Path.Combine(work, "data"), index = Path.Combine(work, "source.vsi");
        var clock = Stopwatch.StartNew();
        if (!File.Exists(Path.Combine(data, "MSRVTT_data.json")) || !File.Exists(Path.Combine(data, "shapes.json")))
            ShapesGenerator.Generate(new ShapesOptions { OutputDir = data, Seed = 1, Videos = 800, Force = true });
        Console.WriteLine($"corpus: {data} ({clock.Elapsed.TotalSeconds:F0} s)");
        var (train, _) = DatasetLoaders.Load("msrvtt", data, "train");
        var (test, _) = DatasetLoaders.Load("msrvtt", data, "test");
        using var indexModel = IndexModel.Open(model);
        var (videos, root) = IndexBuilder.FromSplit(train);
        int max = int.Parse(o.GetValueOrDefault("max-videos", "300"));
        videos = videos.Take(max).ToList(); // a few hundred real segments are enough to mix from
        using (var store = IndexStore.OpenOrCreate(index, indexModel.Manifest(model, null, root)))
        {
            var report = IndexBuilder.Update(store, indexModel, videos);
            Console.WriteLine($"source index: {store.SegmentCount} segments of the train split in {index} ({report.Added} encoded; {clock.Elapsed.TotalSeconds:F0} s)");
        }
        var queries = test.Captions.Select(c => c.Text).Distinct().ToList();
        File.WriteAllLines(Path.Combine(work, "queries.txt"), queries);
        Console.WriteLine($"queries: {queries.Count} distinct test captions in {Path.Combine(work, "queries.txt")}");
        return 0;
    }

    /// <summary>
    /// Segment i of the synthetic collection: two source segments A and B drawn uniformly (seeded), a weight
    /// lambda ~ U(0.5, 1), and per frame f: <c>lambda * A[f] + (1 - lambda) * B[f] + 0.1 * rms(A[f]) * g</c> with g a standard
    /// normal vector; frame times from A. So every segment is near the trained model's manifold (mostly one real video, a
    /// little of another, a little noise), and many are near one another, as in a large real collection.
    /// </summary>
    internal static float[] Mix(float[] a, float[] b, int frames, int dim, Random rng)
    {
        float lambda = 0.5f + 0.5f * (float)rng.NextDouble();
        var result = new float[a.Length];
        for (int f = 0; f < frames; f++)
        {
            double ss = 0;
            for (int d = 0; d < dim; d++) ss += a[f * dim + d] * a[f * dim + d];
            float sigma = 0.1f * (float)Math.Sqrt(ss / dim);
            for (int d = 0; d < dim; d++)
                result[f * dim + d] = lambda * a[f * dim + d] + (1 - lambda) * b[f * dim + d] + sigma * Gauss(rng);
        }
        return result;
    }

    public static int Build(string[] args)
    {
        var o = Args(args);
        string source = Path.GetFullPath(o.GetValueOrDefault("source", "/tmp/vidseek-search-bench"));
        int n = int.Parse(o.GetValueOrDefault("n", "10000"));
        string outDir = Path.GetFullPath(o.GetValueOrDefault("out", Path.Combine(source, $"n{n}")));
        int seed = int.Parse(o.GetValueOrDefault("seed", "7"));
        Directory.CreateDirectory(outDir);
        string index = Path.Combine(outDir, "index.vsi");
        foreach (var f in Directory.GetFiles(outDir, "index.vsi*")) File.Delete(f);

        List<IndexedSegment> sources;
        IndexManifest manifest;
        using (var src = IndexStore.Open(Path.Combine(source, "source.vsi")))
        {
            sources = src.Segments(withTokens: false).ToList();
            manifest = src.Manifest with { Root = outDir, Dataset = null };
        }
        int frames = manifest.Frames, dim = manifest.EmbedDim;
        Console.WriteLine($"search-build: {n} segments mixed from {sources.Count} source segments ({frames} frames x {dim}), seed {seed}; uptime: {Uptime()}");
        var rng = new Random(seed);
        var clock = Stopwatch.StartNew();
        using (var store = SqliteIndexStore.OpenOrCreate(index, manifest))
        {
            const int batch = 5000;
            for (int start = 0; start < n; start += batch)
            {
                var videos = new List<(IndexedVideo, IReadOnlyList<SegmentToStore>)>();
                for (int i = start; i < Math.Min(n, start + batch); i++)
                {
                    var a = sources[rng.Next(sources.Count)];
                    var b = sources[rng.Next(sources.Count)];
                    var mixed = Mix(a.FrameEmbeddings, b.FrameEmbeddings, frames, dim, rng);
                    var coarse = new float[dim];
                    for (int f = 0; f < frames; f++) for (int d = 0; d < dim; d++) coarse[d] += mixed[f * dim + d];
                    float norm = MathF.Sqrt(coarse.Sum(x => x * x));
                    for (int d = 0; d < dim; d++) coarse[d] /= norm;
                    var video = new IndexedVideo($"mix/{i:D7}.mp4", 0, 0, "", a.End, 0, 0, 0, 0, []);
                    videos.Add((video, [new SegmentToStore(new IndexedSegment(0, 0, a.End, a.FrameTimes, mixed, coarse), [])]));
                }
                store.PutMany(videos);
            }
        }
        double storeSeconds = clock.Elapsed.TotalSeconds;
        Console.WriteLine($"store written: {storeSeconds:F1} s, {MiB(new FileInfo(index).Length)} MiB");
        clock.Restart();
        using (var store = IndexStore.Open(index))
        using (var model = IndexModel.Open(manifest.Model, frames))
        using (var ann = AnnIndex.Open(store, model))
        {
            double annSeconds = clock.Elapsed.TotalSeconds;
            long annBytes = Directory.GetFiles(outDir, "index.vsi.ann*").Sum(f => new FileInfo(f).Length);
            Console.WriteLine($"ANN built: {ann.Count} vectors of {ann.Dimensions}, {annSeconds:F1} s, {MiB(annBytes)} MiB on disk");
            var result = new { n, seed, sources = sources.Count, frames, dim, store_seconds = storeSeconds, store_mib = MiB(new FileInfo(index).Length), ann_seconds = annSeconds, ann_mib = MiB(annBytes), uptime = Uptime() };
            File.WriteAllText(Path.Combine(outDir, "build.json"), JsonSerializer.Serialize(result, new JsonSerializerOptions { WriteIndented = true }));
        }
        return 0;
    }

    public static int Query(string[] args)
    {
        var o = Args(args);
        string index = Path.GetFullPath(o["index"]);
        string pooling = o.GetValueOrDefault("pooling", "xpool");
        var queries = File.ReadAllLines(o["queries"]).Where(l => l.Length > 0).ToList();
        int latencyQueries = int.Parse(o.GetValueOrDefault("latency-queries", "200"));
        int recallQueries = int.Parse(o.GetValueOrDefault("recall-queries", "20"));
        var candidateCounts = o.GetValueOrDefault("candidates", "100,200,500,1000,2000").Split(',').Select(int.Parse).ToArray();
        int latencyCandidates = int.Parse(o.GetValueOrDefault("latency-candidates", VideoSearcher.DefaultCandidates.ToString()));
        string? outFile = o.GetValueOrDefault("out");
        const int K = 10;

        Console.WriteLine($"search-query: {index}, pooling {pooling}, {queries.Count} queries; {Environment.ProcessorCount} cores, shared machine, uptime: {Uptime()}");
        var clock = Stopwatch.StartNew();
        var store = IndexStore.Open(index);
        IndexModel model = IndexModel.Open(store.Manifest.Model, store.Manifest.Frames);
        if (pooling == "meanp")
        {
            // The demo model's own backbone with mean pooling: the same frame embeddings, scored by the cosine with their mean.
            var xpool = (IndexModel.Dual)model;
            var ckpt = new Models.DualEncoder.RetrievalCheckpoint(
                new DualEncoderModel(xpool.Model.Config with { Pooling = VideoPooling.MeanP }, xpool.Model.Clip), xpool.Checkpoint.Texts, store.Manifest.Model);
            model = new IndexModel.Dual(ckpt);
        }
        using var searcher = VideoSearcher.Create(store, model, latencyCandidates);
        double openSeconds = clock.Elapsed.TotalSeconds;
        Console.WriteLine($"opened in {openSeconds:F1} s ({searcher.Ann?.OpenedAs}); {searcher.Ann?.Count} segments; RSS {RssMiB("VmRSS")} MiB");

        // Latency: queries cycled, each timed end to end (text encoding, first stage, reading candidates, exact score, hit detail).
        for (int w = 0; w < 3; w++) searcher.Search(queries[w % queries.Count], K);
        var times = new List<double>();
        var cpu = new List<double>();
        var parts = new List<(double, double, double)>();
        var self = Process.GetCurrentProcess();
        for (int i = 0; i < latencyQueries; i++)
        {
            var t = Stopwatch.StartNew();
            self.Refresh();
            var cpu0 = self.TotalProcessorTime;
            searcher.Search(queries[i % queries.Count], K);
            times.Add(t.Elapsed.TotalMilliseconds);
            self.Refresh();
            cpu.Add((self.TotalProcessorTime - cpu0).TotalMilliseconds);
            parts.Add(searcher.LastTimings);
        }
        times.Sort();
        cpu.Sort();
        double p50 = Percentile(times, 0.50), p99 = Percentile(times, 0.99);
        long rss = RssMiB("VmRSS"), hwm = RssMiB("VmHWM");
        Console.WriteLine($"latency at {latencyCandidates} candidates over {latencyQueries} queries: p50 {p50:F1} ms, p99 {p99:F1} ms " +
            $"(median first stage {Median(parts.Select(p => p.Item1)):F1} ms, read {Median(parts.Select(p => p.Item2)):F1} ms, score {Median(parts.Select(p => p.Item3)):F1} ms); " +
            $"RSS {rss} MiB, peak {hwm} MiB; CPU time a query (all threads; what a quiet machine's wall time would be near): p50 {Percentile(cpu, 0.5):F1} ms, p99 {Percentile(cpu, 0.99):F1} ms; uptime: {Uptime()}");

        // Exhaustive reference for a sample of queries, one streamed pass: the exact score, the per-segment first-stage score
        // (mean vector) and the per-frame one (best frame's cosine), for all sampled queries at once.
        var sample = Enumerable.Range(0, recallQueries).Select(i => queries[(int)((long)i * queries.Count / recallQueries)]).ToList();
        var dual = (IndexModel.Dual)model;
        int total = store.SegmentCount, r = sample.Count;
        var exactScores = new float[r][];
        var coarseScores = new float[r][];
        var frameScores = new float[r][];
        for (int q = 0; q < r; q++) { exactScores[q] = new float[total]; coarseScores[q] = new float[total]; frameScores[q] = new float[total]; }
        var ids = new long[total];
        clock.Restart();
        using (var texts = torch.cat(sample.Select(q => { using var e = model.EncodeQuery(q); return e.Text.clone(); }).ToArray(), 0)) // [R, E]
        {
            var m = store.Manifest;
            int pos = 0;
            foreach (var block in store.Segments(withTokens: false).Chunk(VideoSearcher.ExactBlock))
            {
                using var scope = torch.NewDisposeScope();
                using var _ = torch.no_grad();
                var flat = new float[block.Length * m.Frames * m.EmbedDim];
                for (int i = 0; i < block.Length; i++) block[i].FrameEmbeddings.CopyTo(flat, i * m.Frames * m.EmbedDim);
                var frames = torch.tensor(flat, [block.Length, m.Frames, m.EmbedDim]);
                var exact = dual.Model.SimilarityMatrix(texts, frames);                               // [R * B]
                var t = nn.functional.normalize(texts, dim: -1);
                var coarse = t.matmul(model.AnnVectors(frames).T).contiguous().data<float>().ToArray(); // [R, B]
                var perFrame = torch.einsum("re,bfe->rbf", t, nn.functional.normalize(frames, dim: -1)).amax([2]).contiguous().data<float>().ToArray();
                for (int q = 0; q < r; q++)
                {
                    Array.Copy(exact, q * block.Length, exactScores[q], pos, block.Length);
                    Array.Copy(coarse, q * block.Length, coarseScores[q], pos, block.Length);
                    Array.Copy(perFrame, q * block.Length, frameScores[q], pos, block.Length);
                }
                for (int i = 0; i < block.Length; i++) ids[pos + i] = block[i].Id;
                pos += block.Length;
            }
        }
        double exhaustiveSeconds = clock.Elapsed.TotalSeconds;
        Console.WriteLine($"exhaustive exact scores for {r} queries x {total} segments in one streamed pass: {exhaustiveSeconds:F1} s ({exhaustiveSeconds / r:F2} s a query)");
        var truth = exactScores.Select(s => TopK(s, K).Select(i => ids[i]).ToHashSet()).ToList();

        // Check the reference against the searcher's own exhaustive search (--exact) on two queries.
        clock.Restart();
        bool agree = Enumerable.Range(0, Math.Min(2, r)).All(q => searcher.Search(sample[q], K, exact: true).Select(h => h.Segment.Id).ToHashSet().SetEquals(truth[q]));
        double exactSearchSeconds = clock.Elapsed.TotalSeconds / Math.Min(2, r);
        Console.WriteLine($"search --exact agrees with the reference on 2 queries: {agree} ({exactSearchSeconds:F2} s a query, streamed)");

        Console.WriteLine();
        Console.WriteLine("| candidates N | recall@10, brute-force mean vector | recall@10, brute-force best frame | recall@10, ANN (HNSW) + exact | p50 ms | p99 ms |");
        Console.WriteLine("| ---: | ---: | ---: | ---: | ---: | ---: |");
        var rows = new List<object>();
        foreach (int n in candidateCounts)
        {
            double Recall(float[][] first) => Enumerable.Range(0, r).Average(q => TopK(first[q], n).Select(i => ids[i]).Count(truth[q].Contains) / (double)K);
            double coarseRecall = Recall(coarseScores), frameRecall = Recall(frameScores);
            var lat = new List<double>();
            double annRecall = 0;
            for (int q = 0; q < r; q++)
            {
                var t = Stopwatch.StartNew();
                var hits = searcher.Search(sample[q], K, candidates: n);
                lat.Add(t.Elapsed.TotalMilliseconds);
                annRecall += hits.Count(h => truth[q].Contains(h.Segment.Id)) / (double)K / r;
            }
            lat.Sort();
            Console.WriteLine($"| {n} | {coarseRecall:F3} | {frameRecall:F3} | {annRecall:F3} | {Percentile(lat, 0.5):F1} | {Percentile(lat, 0.99):F1} |");
            rows.Add(new { candidates = n, recall_mean_vector = coarseRecall, recall_best_frame = frameRecall, recall_ann = annRecall, p50_ms = Percentile(lat, 0.5), p99_ms = Percentile(lat, 0.99) });
        }
        if (outFile is not null)
        {
            var result = new
            {
                index, pooling, segments = total, open_seconds = openSeconds, latency_candidates = latencyCandidates, latency_queries = latencyQueries,
                p50_ms = p50, p99_ms = p99, cpu_p50_ms = Percentile(cpu, 0.5), cpu_p99_ms = Percentile(cpu, 0.99), rss_mib = rss, peak_rss_mib = hwm, recall_queries = r, exhaustive_seconds_per_query = exhaustiveSeconds / r,
                exact_search_seconds_per_query = exactSearchSeconds, exact_agrees = agree, rows, uptime = Uptime(),
            };
            File.WriteAllText(outFile, JsonSerializer.Serialize(result, new JsonSerializerOptions { WriteIndented = true }));
        }
        return 0;
    }

    /// <summary>Indices of the k largest values, best first, ties by index.</summary>
    private static int[] TopK(float[] scores, int k) =>
        Enumerable.Range(0, scores.Length).OrderByDescending(i => scores[i]).ThenBy(i => i).Take(k).ToArray();

    private static double Percentile(List<double> sorted, double p) => sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(p * sorted.Count) - 1)];
    private static double Median(IEnumerable<double> values) { var l = values.Order().ToList(); return l.Count == 0 ? 0 : l[l.Count / 2]; }

    private static float Gauss(Random rng) => (float)(Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble()));

    private static long MiB(long bytes) => bytes >> 20;

    private static long RssMiB(string field) =>
        File.ReadLines("/proc/self/status").Where(l => l.StartsWith(field + ":")).Select(l => long.Parse(l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) / 1024).FirstOrDefault();

    private static string Uptime() => File.ReadAllText("/proc/loadavg").Trim();

    private static Dictionary<string, string> Args(string[] args)
    {
        var d = new Dictionary<string, string>();
        for (int i = 0; i + 1 < args.Length; i += 2)
        {
            if (!args[i].StartsWith("--")) throw new ArgumentException($"expected --name value, got {args[i]}");
            d[args[i][2..]] = args[i + 1];
        }
        return d;
    }
}
