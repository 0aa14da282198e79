using System.Diagnostics;
using System.Runtime.Intrinsics;
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
/// <item><c>search-source --work DIR</c>: the Shapes corpus (<c>vidseek synth --seed 1 --videos 800</c>; <c>--corpus-videos</c>),
/// the first <c>--max-videos</c> (300) of its train split indexed with the shipped X-Pool demo model (real embeddings of real
/// videos), and the test split's captions as queries.</item>
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
        // --corpus-videos: the Shapes corpus's size, all splits (70% train); more videos give more distinct sources to mix
        // from (the diverse collection: --corpus-videos 14290 --max-videos 10000, about 100 near-copies a source at 10^6).
        int corpusVideos = int.Parse(o.GetValueOrDefault("corpus-videos", "800"));
        var clock = Stopwatch.StartNew();
        string settings = Path.Combine(data, "shapes.json");
        if (!File.Exists(Path.Combine(data, "MSRVTT_data.json")) || !File.Exists(settings))
            ShapesGenerator.Generate(new ShapesOptions { OutputDir = data, Seed = 1, Videos = corpusVideos, Force = true });
        else
        {
            // A corpus generated before is reused only if it is the size asked for (regenerating would replace the sources).
            int had = JsonDocument.Parse(File.ReadAllText(settings)).RootElement.GetProperty("videos").GetInt32();
            if (had != corpusVideos)
                throw new ArgumentException($"{settings}: the corpus there has {had} videos, not --corpus-videos {corpusVideos}; use another --work");
        }
        Console.WriteLine($"corpus: {data}, {corpusVideos} videos ({clock.Elapsed.TotalSeconds:F0} s); load: {Uptime()}");
        var (train, _) = DatasetLoaders.Load("msrvtt", data, "train");
        var (test, _) = DatasetLoaders.Load("msrvtt", data, "test");
        using var indexModel = IndexModel.Open(model);
        var (videos, root) = IndexBuilder.FromSplit(train);
        int max = int.Parse(o.GetValueOrDefault("max-videos", "300"));
        videos = videos.Take(max).ToList(); // a few hundred real segments are enough to mix from (at 10^6, each about 3,300 times)
        if (videos.Count < max) Console.WriteLine($"note: the train split has only {videos.Count} videos (--max-videos {max})");
        using (var store = IndexStore.OpenOrCreate(index, indexModel.Manifest(model, null, root)))
        {
            var report = IndexBuilder.Update(store, indexModel, videos);
            Console.WriteLine($"source index: {store.SegmentCount} segments of the train split in {index} ({report.Added} encoded; {clock.Elapsed.TotalSeconds:F0} s in all); load: {Uptime()}");
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
        var poolings = o.GetValueOrDefault("poolings", "xpool,meanp").Split(',', StringSplitOptions.RemoveEmptyEntries);
        bool storeOnly = o.GetValueOrDefault("store-only", "false") == "true";
        bool buildFrames = o.GetValueOrDefault("frames", "true") == "true"; // --frames false: keep the frame sidecar (e.g. to rebuild one ANN while another process queries)
        string? modelDir = o.TryGetValue("model", out var md) ? Path.GetFullPath(md) : null; // where the index's model is now, if it moved
        var options = new AnnOptions
        {
            Connectivity = ulong.Parse(o.GetValueOrDefault("connectivity", new AnnOptions().Connectivity.ToString())),
            ExpansionAdd = ulong.Parse(o.GetValueOrDefault("expansion-add", new AnnOptions().ExpansionAdd.ToString())),
            Threads = int.Parse(o.GetValueOrDefault("ann-threads", Environment.ProcessorCount.ToString())),
        };
        var storage = o.GetValueOrDefault("frames-storage", "f16") switch
        {
            "f16" => FrameStorage.Float16,
            "f32" => FrameStorage.Float32,
            var other => throw new ArgumentException($"--frames-storage f16|f32, got {other}"),
        };
        Directory.CreateDirectory(outDir);
        string index = Path.Combine(outDir, "index.vsi");
        string buildJson = Path.Combine(outDir, "build.json");
        var info = File.Exists(buildJson) ? JsonSerializer.Deserialize<Dictionary<string, JsonElement>>(File.ReadAllText(buildJson))! : [];
        // --reuse-store true keeps an index.vsi written before (same n and seed) and builds only the ANN files.
        bool reuse = o.GetValueOrDefault("reuse-store", "false") == "true" && File.Exists(index) && info.TryGetValue("store_seconds", out _)
            && info["n"].GetInt32() == n && info["seed"].GetInt32() == seed;
        if (!reuse)
        {
            foreach (var f in Directory.GetFiles(outDir, "index.vsi*")) File.Delete(f);
            info = [];
            WriteStore(source, index, outDir, n, seed, info);
            File.WriteAllText(buildJson, JsonSerializer.Serialize(info, new JsonSerializerOptions { WriteIndented = true }));
        }
        else Console.WriteLine($"store reused: {index}");
        if (storeOnly) return 0;
        // The frame sidecar the second stage reads its candidates from (one for every pooling: the frames are the index's),
        // built first: it takes seconds, and with it and the first pooling's ANN a pooling can be queried while the next builds.
        if (buildFrames)
        {
            string header = FrameSidecar.PathFor(index);
            foreach (var f in Directory.GetFiles(outDir, Path.GetFileName(header) + "*")) File.Delete(f);
            var clock = Stopwatch.StartNew();
            using var store = IndexStore.Open(index);
            using var frames = FrameSidecar.Open(store, w => Console.Error.WriteLine($"warning: {w}"), storage)
                ?? throw new InvalidOperationException($"{header} could not be written");
            double seconds = clock.Elapsed.TotalSeconds;
            long bytes = Directory.GetFiles(outDir, Path.GetFileName(header) + "*").Sum(f => new FileInfo(f).Length);
            Console.WriteLine($"frame sidecar built: {frames.Count} segments x [{frames.Frames}, {frames.Dim}] {frames.Storage}, {seconds:F1} s, {MiB(bytes)} MiB on disk; load: {Uptime()}");
            info["frames_seconds"] = JsonSerializer.SerializeToElement(seconds);
            info["frames_mib"] = JsonSerializer.SerializeToElement(MiB(bytes));
            info["frames_storage"] = JsonSerializer.SerializeToElement(frames.Storage.ToString());
            info["frames_load"] = JsonSerializer.SerializeToElement(Uptime());
            File.WriteAllText(buildJson, JsonSerializer.Serialize(info, new JsonSerializerOptions { WriteIndented = true }));
        }
        foreach (string pooling in poolings)
        {
            string header = AnnHeader(index, pooling);
            foreach (var f in Directory.GetFiles(outDir, Path.GetFileName(header) + "*")) File.Delete(f);
            var clock = Stopwatch.StartNew();
            using var store = IndexStore.Open(index);
            using var model = OpenModel(store, pooling, modelDir);
            using var ann = AnnIndex.Open(store, model, header: header, options: options);
            double annSeconds = clock.Elapsed.TotalSeconds;
            long annBytes = Directory.GetFiles(outDir, Path.GetFileName(header) + "*").Sum(f => new FileInfo(f).Length);
            Console.WriteLine($"ANN ({pooling}, {model.AnnKind}) built: {ann.Count} segments x {ann.PerSegment} vectors of {ann.Dimensions} " +
                $"(M = {options.Connectivity}, ef_construction = {options.ExpansionAdd}, {Math.Clamp(options.Threads, 1, Environment.ProcessorCount)} threads), {annSeconds:F1} s, {MiB(annBytes)} MiB on disk; load: {Uptime()}");
            info[$"ann_{pooling}_seconds"] = JsonSerializer.SerializeToElement(annSeconds);
            info[$"ann_{pooling}_mib"] = JsonSerializer.SerializeToElement(MiB(annBytes));
            info[$"ann_{pooling}_vectors"] = JsonSerializer.SerializeToElement((long)ann.Count * ann.PerSegment);
            info[$"ann_{pooling}_options"] = JsonSerializer.SerializeToElement($"M={options.Connectivity},ef_construction={options.ExpansionAdd},threads={Math.Clamp(options.Threads, 1, Environment.ProcessorCount)}");
            info[$"ann_{pooling}_load"] = JsonSerializer.SerializeToElement(Uptime());
            File.WriteAllText(buildJson, JsonSerializer.Serialize(info, new JsonSerializerOptions { WriteIndented = true }));
        }
        return 0;
    }

    /// <summary>The ANN header of a pooling: the index's own model (X-Pool) uses the default file; mean pooling over the same frames its own.</summary>
    private static string AnnHeader(string index, string pooling) => pooling == "xpool" ? AnnIndex.PathFor(index) : index + $".{pooling}.ann";

    /// <summary>The index's model (the X-Pool demo model), or its backbone with mean pooling: the same frame embeddings, scored by the cosine with their mean.</summary>
    /// <param name="modelDir">The model's folder where it is not where the index was built (<c>--model</c>); its weights must be the same.</param>
    private static IndexModel OpenModel(IIndexStore store, string pooling, string? modelDir)
    {
        string folder = modelDir ?? store.Manifest.Model;
        string sha = IndexBuilder.Sha256(Path.Combine(folder, "model.safetensors"));
        if (sha != store.Manifest.ModelSha256)
            throw new ArgumentException($"{folder} does not hold the weights {store.Location} was built with (sha256 {sha[..12]}, expected {store.Manifest.ModelSha256[..12]})");
        var model = IndexModel.Open(folder, store.Manifest.Frames);
        if (pooling == "xpool") return model;
        if (pooling != "meanp") throw new ArgumentException($"--pooling xpool|meanp, got {pooling}");
        var xpool = (IndexModel.Dual)model;
        var ckpt = new Models.DualEncoder.RetrievalCheckpoint(
            new DualEncoderModel(xpool.Model.Config with { Pooling = VideoPooling.MeanP }, xpool.Model.Clip), xpool.Checkpoint.Texts, store.Manifest.Model);
        return new IndexModel.Dual(ckpt);
    }

    /// <summary>Writes the synthetic SQLite index of n segments (<see cref="Mix"/>), in transactions of 5,000 videos.</summary>
    private static void WriteStore(string source, string index, string outDir, int n, int seed, Dictionary<string, JsonElement> info)
    {
        List<IndexedSegment> sources;
        IndexManifest manifest;
        using (var src = IndexStore.Open(Path.Combine(source, "source.vsi")))
        {
            sources = src.Segments(withTokens: false).ToList();
            manifest = src.Manifest with { Root = outDir, Dataset = null };
        }
        int frames = manifest.Frames, dim = manifest.EmbedDim;
        Console.WriteLine($"search-build: {n} segments mixed from {sources.Count} source segments ({frames} frames x {dim}), seed {seed}; load: {Uptime()}");
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
                if ((start / batch) % 20 == 19) Console.WriteLine($"  {start + batch} segments, {clock.Elapsed.TotalSeconds:F0} s");
            }
        }
        double storeSeconds = clock.Elapsed.TotalSeconds;
        Console.WriteLine($"store written: {storeSeconds:F1} s, {MiB(new FileInfo(index).Length)} MiB; load: {Uptime()}");
        info["n"] = JsonSerializer.SerializeToElement(n);
        info["seed"] = JsonSerializer.SerializeToElement(seed);
        info["sources"] = JsonSerializer.SerializeToElement(sources.Count);
        info["store_seconds"] = JsonSerializer.SerializeToElement(storeSeconds);
        info["store_mib"] = JsonSerializer.SerializeToElement(MiB(new FileInfo(index).Length));
        info["store_load"] = JsonSerializer.SerializeToElement(Uptime());
    }

    private static void ScanAlone(XPoolScan scan, IndexModel model, List<string> queries, int n, int repeats)
    {
        var texts = queries.Take(10).Select(q => { using var e = model.EncodeQuery(q); return e.Text.clone(); }).ToList();
        int threads = torch.get_num_threads();
        foreach (int t in new[] { threads, 1 }.Distinct())
        {
            torch.set_num_threads(t);
            var ms = new List<double>();
            for (int r = 0; r < repeats; r++)
                foreach (var text in texts) { var c = Stopwatch.StartNew(); scan.Search(text, n); ms.Add(c.Elapsed.TotalMilliseconds); }
            ms.Sort();
            var bytes = new byte[scan.CodeBytes];
            new Random(1).NextBytes(bytes);
            var read = new List<double>();
            for (int r = 0; r < Math.Max(3, repeats); r++) { var c = Stopwatch.StartNew(); SumBytes(bytes, t); read.Add(c.Elapsed.TotalMilliseconds); }
            read.Sort();
            Console.WriteLine($"scan alone, {t} thread(s), {n} best of {scan.Count} segments: fastest {ms[0]:F1} ms, median {Median(ms):F1} ms " +
                $"({1e6 * Median(ms) / scan.Count:F1} ns a segment); reading {MiB(scan.CodeBytes)} MiB of bytes: fastest {read[0]:F1} ms, median {Median(read):F1} ms");
        }
        torch.set_num_threads(threads);
        foreach (var text in texts) text.Dispose();
    }

    /// <summary>The sum of every byte, on <paramref name="threads"/> threads: a pass over memory as fast as .NET reads it.</summary>
    private static long SumBytes(byte[] bytes, int threads)
    {
        long total = 0;
        int per = (bytes.Length / threads) & ~63;
        Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, part =>
        {
            var span = bytes.AsSpan(part * per, part == threads - 1 ? bytes.Length - part * per : per);
            var acc = Vector512<ulong>.Zero;
            for (int i = 0; i + 64 <= span.Length; i += 64)                 // every 64-byte line loaded; the low bytes summed
                acc += Vector512.WidenLower(Vector512.WidenLower(Vector512.WidenLower(Vector512.Create<byte>(span[i..]))));
            Interlocked.Add(ref total, (long)Vector512.Sum(acc));
        });
        return total;
    }

    public static int Query(string[] args)
    {
        var o = Args(args);
        string index = Path.GetFullPath(o["index"]);
        string pooling = o.GetValueOrDefault("pooling", "xpool");
        string? modelDir = o.TryGetValue("model", out var md) ? Path.GetFullPath(md) : null; // where the index's model is now, if it moved
        string queriesFile = Path.GetFullPath(o["queries"]);
        var queries = File.ReadAllLines(queriesFile).Where(l => l.Length > 0).ToList();
        int latencyQueries = int.Parse(o.GetValueOrDefault("latency-queries", "200"));
        int recallQueries = int.Parse(o.GetValueOrDefault("recall-queries", "50"));
        var candidateCounts = o.GetValueOrDefault("candidates", "100,200,500,1000").Split(',').Select(int.Parse).ToArray();
        int latencyCandidates = int.Parse(o.GetValueOrDefault("latency-candidates", VideoSearcher.DefaultCandidates.ToString()));
        int e2e = Math.Min(recallQueries, int.Parse(o.GetValueOrDefault("e2e-queries", "10")));
        string? outFile = o.GetValueOrDefault("out");
        // libtorch's intra-op threads (default: one per core); on a loaded machine one thread avoids waiting on busy cores.
        if (o.TryGetValue("threads", out var threads)) torch.set_num_threads(int.Parse(threads));
        const int K = 10;

        Console.WriteLine($"search-query: {index}, pooling {pooling}, {queries.Count} queries; {Environment.ProcessorCount} cores, {torch.get_num_threads()} torch threads, load: {Uptime()}");
        string dir = Path.GetDirectoryName(index)!, header = AnnHeader(index, pooling);
        var sample = Enumerable.Range(0, recallQueries).Select(i => queries[(int)((long)i * queries.Count / recallQueries)]).ToList();
        // --truth-only true: only the exhaustive exact reference of the recall sample (cached beside the index), so that a later
        // run measures only the queries; it needs the SQLite index and the model, not the ANN or frame files.
        if (o.GetValueOrDefault("truth-only", "false") == "true")
        {
            using var truthStore = IndexStore.Open(index);
            using var truthModel = OpenModel(truthStore, pooling, modelDir);
            Truth(truthStore, truthModel, pooling, sample, dir, K, out _);
            Console.WriteLine($"search process: peak RSS {RssMiB("VmHWM")} MiB");
            return 0;
        }
        string buildJson = Path.Combine(dir, "build.json");
        if (File.Exists(buildJson))
        {
            var b = JsonSerializer.Deserialize<Dictionary<string, JsonElement>>(File.ReadAllText(buildJson))!;
            Console.WriteLine($"build (search-build, {buildJson}): store written in {b.GetValueOrDefault("store_seconds")} s (load {b.GetValueOrDefault("store_load")}), " +
                $"ANN ({pooling}) built in {b.GetValueOrDefault($"ann_{pooling}_seconds")} s ({b.GetValueOrDefault($"ann_{pooling}_options")}, load {b.GetValueOrDefault($"ann_{pooling}_load")}), " +
                $"frame sidecar ({b.GetValueOrDefault("frames_storage")}) in {b.GetValueOrDefault("frames_seconds")} s (load {b.GetValueOrDefault("frames_load")})");
        }
        long storeBytes = new FileInfo(index).Length;
        var clock = Stopwatch.StartNew();
        var store = IndexStore.Open(index);
        var model = OpenModel(store, pooling, modelDir);
        // --first-stage graph: X-Pool's nearest-neighbour graph over the centroids instead of the scan (for comparison).
        var stage = o.GetValueOrDefault("first-stage", "scan") == "graph" ? XPoolFirstStage.Graph : XPoolFirstStage.Scan;
        using var searcher = VideoSearcher.Create(store, model, latencyCandidates, annHeader: header, xpoolFirstStage: stage);
        double openSeconds = clock.Elapsed.TotalSeconds;
        // The searcher's first stage alone: the candidate ids for a query.
        long[] FirstStageIds(IndexModel.EncodedQuery encoded, int n) =>
            searcher.Scan is { } scan ? scan.Search(encoded.Text, n) : searcher.Ann is { } ann ? ann.Search(model.AnnQuery(encoded), n) : [];
        long annBytes = Directory.GetFiles(dir, Path.GetFileName(header) + "*").Sum(f => new FileInfo(f).Length);
        long framesBytes = Directory.GetFiles(dir, Path.GetFileName(FrameSidecar.PathFor(index)) + "*").Sum(f => new FileInfo(f).Length);
        string firstStageInfo = searcher.Scan is { } xs
            ? $"X-Pool scan {xs.OpenedAs} in {xs.Seconds:F1} s: {xs.Count} segments, rank {xs.Rank}, {MiB(xs.CodeBytes)} MiB of codes, variance kept {xs.VarianceKept:F4}"
            : $"{searcher.Ann?.OpenedAs}: {searcher.Ann?.Count} segments x {searcher.Ann?.PerSegment} vectors";
        Console.WriteLine($"opened in {openSeconds:F1} s (first stage {firstStageInfo}; " +
            $"frame sidecar {searcher.FrameSidecar?.OpenedAs ?? "not used"}: {searcher.FrameSidecar?.Count} segments, {searcher.FrameSidecar?.Storage}); " +
            $"disk: SQLite {MiB(storeBytes)} MiB + ANN {MiB(annBytes)} MiB + frames {MiB(framesBytes)} MiB; RSS {RssMiB("VmRSS")} MiB, {HugePagesMiB()} MiB of it in huge pages");

        // --scan-repeats N: X-Pool's scan alone (no text encoding, no second stage), N passes over 10 queries' texts, on every
        // torch thread and on one, beside a plain read of as many bytes as its codes (what memory alone would cost).
        if (o.TryGetValue("scan-repeats", out var scanRepeats) && searcher.Scan is { } timedScan)
            ScanAlone(timedScan, model, queries, latencyCandidates, int.Parse(scanRepeats));

        // --extend-from N: what catching up with a grown index costs. The scan of the first N segments (as if the index held only
        // those), then XPoolScan.Extend to all of them, against building the whole scan again.
        if (o.TryGetValue("extend-from", out var extendFrom) && searcher.FrameSidecar is { } frameFile && VideoSearcher.ScannedPool(model) is { } scanPool)
        {
            var all = frameFile.Ids;
            Tensor Read(long[] chunk) => frameFile.Read(chunk).Frames;
            var first = all.Take(int.Parse(extendFrom)).ToList();
            using var partial = XPoolScan.Build(first, Read, frameFile.Frames, frameFile.Generation, scanPool);
            var timer = Stopwatch.StartNew();
            using var extended = partial.Extend(all, Read, frameFile.Generation, scanPool);
            double extendSeconds = timer.Elapsed.TotalSeconds;
            timer.Restart();
            using var whole = XPoolScan.Build(frameFile, scanPool);
            Console.WriteLine($"extend: the scan of {first.Count} segments built in {partial.Seconds:F2} s, extended to {all.Count} in {extendSeconds:F2} s " +
                $"({(extended is null ? "refused: fitted afresh instead" : "extended")}); the whole scan built in {timer.Elapsed.TotalSeconds:F2} s");
        }

        // --prefault true: what serve does at start (AnnIndex.Prefault), before the latency queries.
        if (o.GetValueOrDefault("prefault", "false") == "true" && searcher.Ann is { } toFault)
        {
            clock.Restart();
            long resident = toFault.Prefault();
            Console.WriteLine($"prefault (as serve): {MiB(resident)} MiB of the first stage's mapped graph made resident in {clock.Elapsed.TotalSeconds:F2} s; RSS {RssMiB("VmRSS")} MiB");
        }

        // Latency: queries cycled, each timed end to end (text encoding, first stage, reading candidates, exact score, hit detail).
        // --warmup N: untimed searches first (3 by default; the JIT's tiering and the first page touches settle over the first seconds).
        int warmup = int.Parse(o.GetValueOrDefault("warmup", "3"));
        for (int w = 0; w < warmup; w++) searcher.Search(queries[w % queries.Count], K);
        var times = new List<double>();
        var cpu = new List<double>();
        var parts = new List<(double, double, double)>();
        var stages = new List<VideoSearcher.SecondStageTimings>();
        var asked = new List<double>();
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
            if (searcher.LastStages is { } st) stages.Add(st);
            asked.Add(searcher.Ann?.LastVectorsAsked ?? 0);
        }
        times.Sort();
        cpu.Sort();
        double p50 = Percentile(times, 0.50), p99 = Percentile(times, 0.99);
        long rss = RssMiB("VmRSS"), hwm = RssMiB("VmHWM"); // peak resident of this search process so far (before the recall pass below)
        Console.WriteLine($"latency ({pooling}, k = {K}, {latencyCandidates} candidates, {latencyQueries} queries): p50 {p50:F1} ms, p99 {p99:F1} ms " +
            $"(median first stage {Median(parts.Select(p => p.Item1)):F1} ms asking USearch for {Median(asked):F0} vectors, read {Median(parts.Select(p => p.Item2)):F1} ms, score {Median(parts.Select(p => p.Item3)):F1} ms); " +
            $"CPU time a query (all threads): p50 {Percentile(cpu, 0.5):F1} ms, p99 {Percentile(cpu, 0.99):F1} ms; load: {Uptime()}");
        string stageLine = stages.Count == 0 ? "second stage: not the candidate path (index no larger than the candidates)" :
            $"second stage (median, {stages.Count} queries; candidates from {(stages.All(x => x.FromSidecar) ? "the frame sidecar" : "SQLite rows")}): " +
            $"read {Median(stages.Select(x => x.ReadCandidates)):F2} ms + single-query score {Median(stages.Select(x => x.ScoreCandidates)):F2} ms for {stages[0].Candidates} candidates, " +
            $"then the shortlist of {VideoSearcher.Shortlist(K)}: read {Median(stages.Select(x => x.ReadShortlist)):F2} ms + exact score {Median(stages.Select(x => x.ScoreShortlist)):F2} ms";
        Console.WriteLine(stageLine);
        // VmRSS counts the pages of the memory-mapped ANN and frame files this process has touched (page cache, shared and
        // reclaimable) beside its own memory: the two parts, to read the peak against a memory budget.
        long rssAnon = RssMiB("RssAnon"), rssFile = RssMiB("RssFile");
        Console.WriteLine($"search process: RSS {rss} MiB (anonymous {rssAnon} MiB, file-backed mapped pages {rssFile} MiB), peak RSS {hwm} MiB");

        // The same latency queries with the candidates read from SQLite rows instead of the sidecar (same run, after the RSS
        // reading above; its own store and model): what the sidecar saves.
        // --compare-rows false / --exact-check false skip the two slow comparisons (at 10^6 each is minutes of SQLite reads).
        bool compareRows = o.GetValueOrDefault("compare-rows", "true") == "true", exactCheck = o.GetValueOrDefault("exact-check", "true") == "true";
        double rowsP50 = double.NaN;
        var rowStages = new List<VideoSearcher.SecondStageTimings>();
        if (searcher.FrameSidecar is not null && compareRows)
        {
            var rowsStore = IndexStore.Open(index);
            using var rowsSearcher = VideoSearcher.Create(rowsStore, OpenModel(rowsStore, pooling, modelDir), latencyCandidates, annHeader: header, frameSidecar: false);
            for (int w = 0; w < 3; w++) rowsSearcher.Search(queries[w % queries.Count], K);
            var rowTimes = new List<double>();
            for (int i = 0; i < latencyQueries; i++)
            {
                var t = Stopwatch.StartNew();
                rowsSearcher.Search(queries[i % queries.Count], K);
                rowTimes.Add(t.Elapsed.TotalMilliseconds);
                if (rowsSearcher.LastStages is { } st) rowStages.Add(st);
            }
            rowTimes.Sort();
            rowsP50 = Percentile(rowTimes, 0.5);
            Console.WriteLine($"the same queries with candidates read from SQLite rows: p50 {rowsP50:F1} ms, p99 {Percentile(rowTimes, 0.99):F1} ms " +
                $"(median read {Median(rowStages.Select(x => x.ReadCandidates)):F2} ms, score {Median(rowStages.Select(x => x.ScoreCandidates)):F2} ms); load: {Uptime()}");
        }

        // The exhaustive exact top 10 of a sample of queries: one streamed pass over the whole index for all of them, cached
        // beside the index (keyed by the store's generation, the pooling and the sampled queries).
        var truth = Truth(store, model, pooling, sample, dir, K, out double exhaustiveSeconds);
        int r = sample.Count;

        // Check the reference against the searcher's own exhaustive search (--exact) on one query.
        clock.Restart();
        bool? agree = exactCheck ? searcher.Search(sample[0], K, exact: true).Select(h => h.Segment.Id).ToHashSet().SetEquals(truth[0]) : null;
        double exactSearchSeconds = clock.Elapsed.TotalSeconds;
        Console.WriteLine(exactCheck ? $"search --exact agrees with the reference on the first query: {agree} ({exactSearchSeconds:F1} s, streamed)"
            : "search --exact: not checked (--exact-check false)");

        // Float16 frames: the single-query scores of each sampled query's candidates (latency N) from the sidecar against the
        // same scores from the index's float32 rows, and whether the float32 top 10 among them is inside the float16 shortlist.
        double maxDiff = double.NaN, shortlistRecall = double.NaN;
        if (searcher.FrameSidecar is { } sidecar && (searcher.Ann is not null || searcher.Scan is not null))
        {
            (maxDiff, shortlistRecall) = (0, 0);
            foreach (var q in sample)
            {
                using var encoded = model.EncodeQuery(q);
                var ids = FirstStageIds(encoded, latencyCandidates);
                using var scope = torch.NewDisposeScope();
                var (sideIds, _, sideFrames) = sidecar.Read(ids);
                var a = model.CandidateScores(encoded, sideFrames);
                var b = RowScores(store, model, encoded, sideIds);
                for (int i = 0; i < a.Length; i++) maxDiff = Math.Max(maxDiff, Math.Abs(a[i] - b[i]));
                var shortlist = TopK(a, VideoSearcher.Shortlist(K)).Select(i => sideIds[i]).ToHashSet();
                shortlistRecall += TopK(b, K).Count(i => shortlist.Contains(sideIds[i])) / (double)K / sample.Count;
            }
            Console.WriteLine($"{sidecar.Storage} sidecar ({sample.Count} queries x {latencyCandidates} candidates): max |score - score from the float32 rows| {maxDiff:E2}; " +
                $"share of the float32 top {K} inside the sidecar's shortlist of {VideoSearcher.Shortlist(K)}: {shortlistRecall:F3}");
        }

        // The second stage's parts on one query's candidates, each the fastest of 10 repeats (robust to a busy machine): reading
        // them from the sidecar or from SQLite rows, and scoring them with the single-query form or eval's factored form.
        if (searcher.FrameSidecar is { } side && (searcher.Ann is not null || searcher.Scan is not null))
        {
            using var encoded = model.EncodeQuery(sample[0]);
            var ids = FirstStageIds(encoded, latencyCandidates);
            double Fastest(Action a) { var best = double.MaxValue; for (int i = 0; i < 10; i++) { var t = Stopwatch.StartNew(); a(); best = Math.Min(best, t.Elapsed.TotalMilliseconds); } return best; }
            double readSidecar = Fastest(() => { using var scope = torch.NewDisposeScope(); side.Read(ids); });
            double readRows = Fastest(() => store.Segments(ids, withTokens: false));
            using var frames = side.Read(ids).Frames;
            double single = Fastest(() => model.CandidateScores(encoded, frames));
            // A fresh tensor each time: the model caches the factored form's per-video data by the frames tensor, which a
            // search's candidates never reuse.
            double factored = Fastest(() => { using var copy = frames.clone(); model.BlockScores(encoded, copy); });
            int shortlist = Math.Min(ids.Length, VideoSearcher.Shortlist(K));
            double factoredShortlist = Fastest(() => { using var copy = frames.narrow(0, 0, shortlist).clone(); model.BlockScores(encoded, copy); });
            Console.WriteLine($"second stage on {ids.Length} candidates, fastest of 10: read from the sidecar {readSidecar:F2} ms ({1000 * readSidecar / ids.Length:F2} us a segment), " +
                $"from SQLite rows {readRows:F2} ms ({1000 * readRows / ids.Length:F2} us); score, single-query form {single:F2} ms ({1000 * single / ids.Length:F2} us), " +
                $"eval's factored form {factored:F2} ms ({1000 * factored / ids.Length:F2} us), and on a shortlist of {shortlist} {factoredShortlist:F2} ms");
        }

        // Recall@10 of the two-stage search is the share of the exact top 10 among the first stage's N candidates (the second
        // stage scores exactly, so a true top-10 segment among the candidates stays in the top 10): measured for all sampled
        // queries from the first stage alone, and end to end (searcher.Search) on the first --e2e-queries of them as a check.
        Console.WriteLine();
        // What a miss costs: the exact scores of the true top 10 of the end-to-end queries (from the index's float32 rows), to
        // compare with the scores of the 10 the search returned (the mean gap over the 10 ranks, and the largest at rank 10).
        var truthScores = sample.Take(e2e).Select((q, i) =>
        {
            using var encoded = model.EncodeQuery(q);
            return RowScores(store, model, encoded, truth[i].ToArray()).OrderDescending().ToArray();
        }).ToList();
        Console.WriteLine($"| candidates N | recall@10 ({pooling}, {r} queries) | end-to-end recall@10 ({e2e} queries) | end-to-end p50 ms | p99 ms | first stage p50 ms | score gap, mean over ranks 1-10 | largest gap at rank 10 |");
        Console.WriteLine("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        var rows = new List<object>();
        foreach (int n in candidateCounts)
        {
            var lat = new List<double>();
            var first = new List<double>();
            double recall = 0, recallE2e = 0, gapMean = 0, gapMax = 0;
            using var encodedQueries = new DisposableList(sample.Select(model.EncodeQuery));
            for (int q = 0; q < r; q++)
            {
                var t = Stopwatch.StartNew();
                var ids = FirstStageIds(encodedQueries[q], n);
                first.Add(t.Elapsed.TotalMilliseconds);
                recall += ids.Count(truth[q].Contains) / (double)K / r;
            }
            for (int q = 0; q < e2e; q++)
            {
                var t = Stopwatch.StartNew();
                var hits = searcher.Search(sample[q], K, candidates: n);
                lat.Add(t.Elapsed.TotalMilliseconds);
                recallE2e += hits.Count(h => truth[q].Contains(h.Segment.Id)) / (double)K / e2e;
                var got = hits.Select(h => h.Score).OrderDescending().ToArray();
                var want = truthScores[q];
                int m = Math.Min(got.Length, want.Length);
                if (m > 0)
                {
                    gapMean += Enumerable.Range(0, m).Average(i => want[i] - got[i]) / e2e;
                    gapMax = Math.Max(gapMax, want[m - 1] - got[m - 1]);
                }
            }
            lat.Sort();
            double lat50 = lat.Count > 0 ? Percentile(lat, 0.5) : double.NaN, lat99 = lat.Count > 0 ? Percentile(lat, 0.99) : double.NaN;
            Console.WriteLine($"| {n} | {recall:F3} | {recallE2e:F3} | {lat50:F1} | {lat99:F1} | {Median(first):F1} | {gapMean:F5} | {gapMax:F5} |");
            rows.Add(new { candidates = n, recall, recall_e2e = recallE2e, e2e_queries = e2e, p50_ms = lat50, p99_ms = lat99, first_stage_ms = Median(first), score_gap_mean = gapMean, score_gap_rank10_max = gapMax });
        }
        if (outFile is not null)
        {
            var result = new
            {
                index, pooling, segments = store.SegmentCount, open_seconds = openSeconds, store_mib = MiB(storeBytes), ann_mib = MiB(annBytes),
                frames_mib = MiB(framesBytes), frames_storage = searcher.FrameSidecar?.Storage.ToString(), second_stage = stageLine, rows_p50_ms = rowsP50,
                f16_max_score_diff = maxDiff, f16_shortlist_recall = shortlistRecall,
                latency_candidates = latencyCandidates, latency_queries = latencyQueries, p50_ms = p50, p99_ms = p99, cpu_p50_ms = Percentile(cpu, 0.5),
                cpu_p99_ms = Percentile(cpu, 0.99), rss_mib = rss, rss_anon_mib = rssAnon, rss_file_mib = rssFile, peak_rss_mib = hwm, recall_queries = r, exhaustive_seconds = exhaustiveSeconds,
                exact_search_seconds = exactSearchSeconds, exact_agrees = agree, rows, load = Uptime(),
            };
            File.WriteAllText(outFile, JsonSerializer.Serialize(result, new JsonSerializerOptions { WriteIndented = true, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals }));
        }
        return 0;
    }

    /// <summary>
    /// <c>search-read --index DIR/index.vsi [--candidates 8000] [--rounds 20]</c>: the cost of reading the candidates' rows
    /// from the frame sidecar (<see cref="FrameSidecar.Read"/>, one pread a row) for N random segment ids (median of the
    /// rounds, and the process's minor page faults during each read), three ways: the same ids every round; fresh ids each
    /// round; fresh ids after writing a 64 MiB buffer (the CPU caches evicted, as the loop's other stages do). When the
    /// sidecar was a memory mapping, fresh ids in a fresh process cost several times the same read repeated (the first touch
    /// of each mapped page); this shows whether a read depends on what the process read before.
    /// </summary>
    public static int Read(string[] args)
    {
        var o = Args(args);
        string index = Path.GetFullPath(o["index"]);
        int n = int.Parse(o.GetValueOrDefault("candidates", "8000"));
        int rounds = int.Parse(o.GetValueOrDefault("rounds", "20"));
        using var store = IndexStore.Open(index);
        using var sidecar = FrameSidecar.Open(store, w => Console.Error.WriteLine($"warning: {w}"))
            ?? throw new InvalidOperationException($"{FrameSidecar.PathFor(index)} could not be opened");
        var ids = store.SegmentIds();
        var rng = new Random(1);
        long[] Pick() { var set = new HashSet<long>(); while (set.Count < Math.Min(n, ids.Length)) set.Add(ids[rng.Next(ids.Length)]); return [.. set]; }
        var evict = new byte[64 << 20];
        if (o.TryGetValue("threads", out var threads)) torch.set_num_threads(int.Parse(threads));
        Console.WriteLine($"search-read: {index}, {sidecar.Count} segments ({sidecar.Storage}), {n} random ids a read, {rounds} rounds, {torch.get_num_threads()} torch threads; load: {Uptime()}");
        {
            // The read's last step alone: libtorch's float16 -> float32 conversion of N rows (a parallel region on its threads).
            var times = new List<double>();
            for (int r = 0; r < rounds; r++)
            {
                using var scope = torch.NewDisposeScope();
                var raw = torch.zeros([n, sidecar.Frames, sidecar.Dim], ScalarType.Float16);
                var t = Stopwatch.StartNew();
                raw.to(ScalarType.Float32);
                times.Add(t.Elapsed.TotalMilliseconds);
            }
            Console.WriteLine($"float16 -> float32 conversion only: median {Median(times):F2} ms, fastest {times.Min():F2} ms, slowest {times.Max():F2} ms");
        }
        foreach (string mode in new[] { "same ids", "fresh ids", "fresh ids, caches evicted" })
        {
            var same = Pick();
            var times = new List<double>();
            var faults = new List<double>();
            for (int r = 0; r < rounds; r++)
            {
                var sel = mode == "same ids" ? same : Pick();
                if (mode.EndsWith("evicted")) for (int i = 0; i < evict.Length; i += 64) evict[i]++;
                long f0 = MinorFaults();
                var t = Stopwatch.StartNew();
                using (var scope = torch.NewDisposeScope()) sidecar.Read(sel);
                times.Add(t.Elapsed.TotalMilliseconds);
                faults.Add(MinorFaults() - f0);
            }
            double ms = Median(times);
            Console.WriteLine($"{mode}: median {ms:F2} ms ({1000 * ms / n:F2} us a segment), fastest {times.Min():F2} ms, slowest {times.Max():F2} ms; " +
                $"minor page faults a read: median {Median(faults):F0}, first {faults[0]:F0}, last {faults[^1]:F0}");
        }
        return 0;
    }

    /// <summary>This process's minor page faults so far (/proc/self/stat, field 10).</summary>
    private static long MinorFaults()
    {
        string stat = File.ReadAllText("/proc/self/stat");
        return long.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[7]);
    }

    /// <summary>
    /// The exhaustive exact top k segment ids of each sampled query (the model's own score over every segment, streamed in blocks,
    /// all queries at once), read from <c>truth-POOLING-R.json</c> beside the index when it was computed for the same store
    /// generation and queries, else computed and written there.
    /// </summary>
    private static List<HashSet<long>> Truth(IIndexStore store, IndexModel model, string pooling, List<string> sample, string dir, int k, out double seconds)
    {
        string file = Path.Combine(dir, $"truth-{pooling}-{sample.Count}.json");
        long generation = store.Generation;
        if (File.Exists(file))
        {
            var cached = JsonSerializer.Deserialize<TruthFile>(File.ReadAllText(file));
            if (cached is not null && cached.Generation == generation && cached.Queries.SequenceEqual(sample) && cached.K == k)
            {
                seconds = cached.Seconds;
                Console.WriteLine($"exhaustive exact reference read from {file} (computed in {seconds:F1} s for {sample.Count} queries)");
                return cached.Top.Select(t => t.ToHashSet()).ToList();
            }
        }
        var dual = (IndexModel.Dual)model;
        var clock = Stopwatch.StartNew();
        // The top `keep` of each query (k of them are the reference), so that the score spread at the top can be printed:
        // how flat the exact ranking is there (near-copies of one source score alike).
        int keep = Math.Max(k, 100);
        var best = sample.Select(_ => new List<(float Score, long Position, long Id)>()).ToList();
        using (var texts = torch.cat(sample.Select(q => { using var e = model.EncodeQuery(q); return e.Text.clone(); }).ToArray(), 0)) // [R, E]
        {
            var m = store.Manifest;
            long pos = 0;
            foreach (var block in store.Segments(withTokens: false).Chunk(VideoSearcher.ExactBlock))
            {
                float[] exact;
                using (var scope = torch.NewDisposeScope())
                using (torch.no_grad())
                {
                    var flat = new float[block.Length * m.Frames * m.EmbedDim];
                    for (int i = 0; i < block.Length; i++) block[i].FrameEmbeddings.CopyTo(flat, i * m.Frames * m.EmbedDim);
                    exact = dual.Model.SimilarityMatrix(texts, torch.tensor(flat, [block.Length, m.Frames, m.EmbedDim])); // [R * B]
                    dual.Model.DropCache();
                }
                for (int q = 0; q < sample.Count; q++)
                {
                    for (int i = 0; i < block.Length; i++) best[q].Add((exact[q * block.Length + i], pos + i, block[i].Id));
                    best[q] = best[q].OrderByDescending(b => b.Score).ThenBy(b => b.Position).Take(keep).ToList();
                }
                pos += block.Length;
            }
        }
        seconds = clock.Elapsed.TotalSeconds;
        Console.WriteLine($"exhaustive exact scores for {sample.Count} queries x {store.SegmentCount} segments in one streamed pass: {seconds:F1} s; cached in {file}");
        double RankMedian(int rank) => Median(best.Where(b => b.Count >= rank).Select(b => (double)b[rank - 1].Score));
        double GapMedian(int rank) => Median(best.Where(b => b.Count >= rank).Select(b => (double)(b[0].Score - b[rank - 1].Score)));
        Console.WriteLine($"exact score at rank 1 / 10 / 100, median over the queries: {RankMedian(1):F4} / {RankMedian(k):F4} / {RankMedian(keep):F4}; " +
            $"rank 1 minus rank 10: median {GapMedian(k):F4}, rank 1 minus rank 100: median {GapMedian(keep):F4}; " +
            $"first query: {string.Join(" ", best[0].Take(k).Select(b => b.Score.ToString("F4")))}");
        var top = best.Select(b => b.Take(k).Select(x => x.Id).ToArray()).ToArray();
        File.WriteAllText(file + ".tmp", JsonSerializer.Serialize(new TruthFile(generation, k, sample.ToArray(), top, seconds)));
        File.Move(file + ".tmp", file, overwrite: true);
        return top.Select(t => t.ToHashSet()).ToList();
    }

    private sealed class DisposableList(IEnumerable<IndexModel.EncodedQuery> items) : IDisposable
    {
        private readonly List<IndexModel.EncodedQuery> list = items.ToList();
        public IndexModel.EncodedQuery this[int i] => list[i];
        public void Dispose() { foreach (var e in list) e.Dispose(); }
    }

    private sealed record TruthFile(long Generation, int K, string[] Queries, long[][] Top, double Seconds);

    /// <summary>Indices of the k largest values, best first, ties by index.</summary>
    private static int[] TopK(float[] scores, int k) =>
        Enumerable.Range(0, scores.Length).OrderByDescending(i => scores[i]).ThenBy(i => i).Take(k).ToArray();

    private static double Percentile(List<double> sorted, double p) => sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(p * sorted.Count) - 1)];
    private static double Median(IEnumerable<double> values) { var l = values.Order().ToList(); return l.Count == 0 ? 0 : l[l.Count / 2]; }

    private static float Gauss(Random rng) => (float)(Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble()));

    /// <summary>The single-query scores of segments <paramref name="ids"/> from the index's own float32 rows (not the sidecar), in the order given.</summary>
    private static float[] RowScores(IIndexStore store, IndexModel model, IndexModel.EncodedQuery encoded, long[] ids)
    {
        using var scope = torch.NewDisposeScope();
        var rows = store.Segments(ids, withTokens: false).ToDictionary(x => x.Id);
        var flat = ids.SelectMany(id => rows[id].FrameEmbeddings).ToArray();
        return model.CandidateScores(encoded, torch.tensor(flat, [ids.Length, store.Manifest.Frames, store.Manifest.EmbedDim]));
    }

    private static long MiB(long bytes) => bytes >> 20;

    private static long RssMiB(string field) =>
        File.ReadLines("/proc/self/status").Where(l => l.StartsWith(field + ":")).Select(l => long.Parse(l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) / 1024).FirstOrDefault();

    /// <summary>This process's anonymous memory in transparent huge pages (the scan's codes ask for them).</summary>
    private static long HugePagesMiB() =>
        File.ReadLines("/proc/self/smaps_rollup").Where(l => l.StartsWith("AnonHugePages:")).Select(l => long.Parse(l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) / 1024).FirstOrDefault();

    private static string Uptime() => File.ReadAllText("/proc/loadavg").Trim();

    /// <summary>The search benches' <c>--name value</c> pairs.</summary>
    internal static Dictionary<string, string> Args(string[] args)
    {
        var d = new Dictionary<string, string>();
        // A lone --help (or a trailing --name without its value) must not fall through to the defaults: search-build would
        // then rewrite the default folder (the shared n10000 collection) as a side effect of asking for help.
        if (args.Any(a => a is "-h" or "--help") || args.Length % 2 == 1)
            throw new ArgumentException("options are --name value pairs; see the Usage text (vidseek-bench --help) for each benchmark's options");
        for (int i = 0; i + 1 < args.Length; i += 2)
        {
            if (!args[i].StartsWith("--")) throw new ArgumentException($"expected --name value, got {args[i]}");
            d[args[i][2..]] = args[i + 1];
        }
        return d;
    }
}
