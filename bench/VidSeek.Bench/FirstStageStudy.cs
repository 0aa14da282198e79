using System.Diagnostics;
using System.Text.Json;
using TorchSharp;
using VidSeek.Index;
using static TorchSharp.torch;

namespace VidSeek.Bench;

/// <summary>
/// <c>first-stage-study --index DIR/index.vsi --queries FILE --model DIR [--clusters 1000,4000]</c>: whether a first stage
/// that depends on the text recalls X-Pool's exact top 10 at 10^6 segments with fewer candidates than the text-independent
/// centroids (<see cref="SearchStudy"/>). The text-dependent stage tried is an inverted file (IVF): spherical k-means of
/// the segments' normalised mean frames into C clusters (trained on 200,000 of them, then every segment assigned to its
/// nearest centroid), each cluster represented by its medoid (the member closest to the centroid) and R - 1 random
/// members; a query scores every representative exactly (X-Pool's single-query form), ranks the clusters by their best
/// representative, and takes whole clusters in that order. For every true top-10 segment the candidates needed are the
/// sizes of the clusters up to and including its own. Also printed: the exact scores at ranks 1, 10, 100, 1,000 and 10,000
/// of a few queries (how flat the top of the ranking is), and how often the exact top 10 computed on the sidecar's float16
/// frames equals the float32 reference (<c>truth-xpool-40.json</c> beside the index, from <c>search-query</c>). Every
/// segment's frames are read from the frame sidecar into memory (float16, 2 GiB at 10^6); the exact scores of the 40
/// queries are cached in <c>--work</c> (default /tmp/fss). <c>--centroids true</c> also scores the shipped first stage's
/// stand-in (the best of each segment's 8 vertex centroids against the unit text) by brute force over every segment: the
/// recall it would give without the HNSW graph. Other stand-ins, each scored the same way (docs/PERFORMANCE.md, "stand-ins
/// that did not help"): <c>--augmented</c> (the 37 simplex points, plus tau times each point's attention logit),
/// <c>--fitted</c> (a per-segment least-squares linear fit of its exact scores on probe texts), <c>--centroid-steps</c> /
/// <c>--centroid-k</c> (the centroids computed otherwise); and <c>--expand</c>, the graph's candidates widened by the
/// neighbours of the best of them.
/// </summary>
public static class FirstStageStudy
{
    public static int Run(string[] args)
    {
        var o = SearchBench.Args(args);
        string index = Path.GetFullPath(o["index"]);
        var queries = File.ReadAllLines(o["queries"]).Where(l => l.Length > 0).ToList();
        int r = int.Parse(o.GetValueOrDefault("recall-queries", "40"));
        string work = Path.GetFullPath(o.GetValueOrDefault("work", "/tmp/fss"));
        Directory.CreateDirectory(work);
        var sample = Enumerable.Range(0, r).Select(i => queries[(int)((long)i * queries.Count / r)]).ToList();
        using var store = IndexStore.Open(index);
        string modelDir = o.TryGetValue("model", out var md) ? Path.GetFullPath(md) : store.Manifest.Model;
        using var model = (IndexModel.Dual)IndexModel.Open(modelDir, store.Manifest.Frames);
        var pool = model.Model.Pool!;
        using var single = new Models.XPool.XPoolSingleQuery(pool);
        int total = store.SegmentCount, fr = store.Manifest.Frames, dim = store.Manifest.EmbedDim;
        var clock = Stopwatch.StartNew();
        using var sidecar = FrameSidecar.Open(store) ?? throw new InvalidOperationException($"{FrameSidecar.PathFor(index)} could not be opened");
        if (o.GetValueOrDefault("scan-only", "false") == "true")
        {
            // Only the scan's build and search time (no frames in memory, no recall): for timing runs.
            var queryTexts = sample.Select(q => { using var e = model.EncodeQuery(q); return e.Text.clone(); }).ToArray();
            foreach (int k in o.GetValueOrDefault("scan", "16").Split(',').Select(int.Parse))
            {
                using var scan = XPoolScan.Build(sidecar, pool, k);
                var huge = File.ReadAllLines("/proc/self/smaps_rollup").FirstOrDefault(l => l.StartsWith("AnonHugePages"));
                Console.WriteLine($"  {huge}");
                Console.WriteLine($"scan rank {k}: built in {scan.Seconds:F1} s, {scan.CodeBytes / 1048576.0:F0} MiB of codes, {scan.Clamped} coordinates clamped, variance kept {scan.VarianceKept:F4}; RSS {Environment.WorkingSet >> 20} MiB");
                foreach (int n in o.GetValueOrDefault("scan-n", "2000").Split(',').Select(int.Parse))
                {
                    var ms = new List<double>();
                    for (int rep = 0; rep < 2; rep++)
                        for (int q = 0; q < r; q++) { var t = Stopwatch.StartNew(); scan.Search(queryTexts[q], n); if (rep == 1) ms.Add(t.Elapsed.TotalMilliseconds); }
                    ms.Sort();
                    Console.WriteLine($"  search for {n}: p50 {ms[ms.Count / 2]:F1} ms, p90 {ms[(int)(ms.Count * 0.9)]:F1} ms ({torch.get_num_threads()} threads)");
                }
            }
            return 0;
        }
        // All frames, float16 in memory.
        var all = torch.empty([total, fr, dim], ScalarType.Float16);
        var ids = new long[total];
        var coarse = torch.empty([total, dim]);
        int chunk = 50000;
        for (int s = 0; s < total; s += chunk)
        {
            using var scope = torch.NewDisposeScope();
            var want = Enumerable.Range(s + 1, Math.Min(chunk, total - s)).Select(i => (long)i).ToList();
            var missing = new List<long>();
            var (got, _, frames) = sidecar.Read(want, missing);
            if (missing.Count > 0) throw new InvalidOperationException($"the frame sidecar lacks {missing.Count} of segments {s + 1}..{s + chunk} (the study expects ids 1..N)");
            got.CopyTo(ids, s);
            all[TensorIndex.Slice(s, s + got.Length)] = frames.to(ScalarType.Float16);
            coarse[TensorIndex.Slice(s, s + got.Length)] = nn.functional.normalize(frames.mean([1]), dim: -1);
        }
        Console.WriteLine($"frames read: {clock.Elapsed.TotalSeconds:F0} s");
        string truthFile = Path.Combine(Path.GetDirectoryName(index)!, $"truth-xpool-{r}.json");
        var truthTop = File.Exists(truthFile)
            ? JsonSerializer.Deserialize<JsonElement>(File.ReadAllText(truthFile)).GetProperty("Top").EnumerateArray().Select(a => a.EnumerateArray().Select(x => x.GetInt64()).ToHashSet()).ToList()
            : null;
        var texts = sample.Select(q => { using var e = model.EncodeQuery(q); return e.Text.clone(); }).ToArray();

        // Exact single-query scores of every segment (cached).
        // Keyed by the index's path, generation and the query count (two collections of the same size must not share it).
        string key = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes($"{index}|{store.Generation}|{string.Join("\n", sample)}")))[..12];
        string exactFile = Path.Combine(work, $"exact-{total}-{r}-{key}.bin");
        var exact = new float[r][];
        if (File.Exists(exactFile))
        {
            var bytes = File.ReadAllBytes(exactFile);
            for (int q = 0; q < r; q++) { exact[q] = new float[total]; Buffer.BlockCopy(bytes, q * total * 4, exact[q], 0, total * 4); }
        }
        else
        {
            for (int q = 0; q < r; q++)
            {
                exact[q] = new float[total];
                for (int s = 0; s < total; s += 4096)
                {
                    using var scope = torch.NewDisposeScope();
                    int len = Math.Min(4096, total - s);
                    single.Score(texts[q], all[TensorIndex.Slice(s, s + len)]).Sims.data<float>().ToArray().CopyTo(exact[q], s);
                }
                Console.WriteLine($"exact {q}: {clock.Elapsed.TotalSeconds:F0} s");
            }
            var bytes = new byte[(long)r * total * 4];
            for (int q = 0; q < r; q++) Buffer.BlockCopy(exact[q], 0, bytes, q * total * 4, total * 4);
            File.WriteAllBytes(exactFile, bytes);
        }
        // Our exact top 10 (f16 frames) against the cached truth.
        var top = new List<int[]>();
        double agree = 0;
        for (int q = 0; q < r; q++)
        {
            var e = exact[q];
            var t10 = Enumerable.Range(0, total).OrderByDescending(i => e[i]).Take(10).ToArray();
            top.Add(t10);
            if (truthTop is not null) agree += t10.Count(i => truthTop[q].Contains(ids[i])) / 10.0 / r;
            var sorted = e.OrderByDescending(x => x).ToArray();
            if (q < int.Parse(o.GetValueOrDefault("show", "5"))) Console.WriteLine($"q{q}: s1 {sorted[0]:F4} s10 {sorted[9]:F4} s100 {sorted[99]:F4} s1000 {sorted[999]:F4} s10000 {sorted[9999]:F4}");
        }
        Console.WriteLine(truthTop is null ? $"no {truthFile}: the float16 top 10 not compared" : $"f16 exact top 10 vs truth: {agree:F3}");
        // Over all queries: the median gap between the exact scores at ranks 1 and 10, 10 and 100, 100 and 1,000.
        var gaps = Enumerable.Range(0, r).Select(q => { var e = exact[q].OrderByDescending(x => x).Take(1000).ToArray(); return (e[0] - e[9], e[9] - e[99], e[99] - e[999]); }).ToList();
        double Med(IEnumerable<float> xs) { var a = xs.OrderBy(x => x).ToArray(); return a[a.Length / 2]; }
        Console.WriteLine($"median over {r} queries of the exact score's drop from rank 1 to 10: {Med(gaps.Select(g => g.Item1)):F4}, 10 to 100: {Med(gaps.Select(g => g.Item2)):F4}, 100 to 1,000: {Med(gaps.Select(g => g.Item3)):F4}");

        int[] budgets = [100, 250, 500, 1000, 2000, 4000, 8000, 16000, 32000];
        // A stand-in's score of every segment for each query [R][total], against the reference top 10: recall at each budget,
        // and the candidate count that holds 99% (and all) of the true top-10 segments.
        var reference = truthTop ?? top.Select(t => t.Select(i => ids[i]).ToHashSet()).ToList();
        void ReportRecall(string name, float[][] score)
        {
            var needs = new List<int>();
            var recallAt = new double[budgets.Length];
            for (int q = 0; q < r; q++)
            {
                var order = Enumerable.Range(0, total).OrderByDescending(i => score[q][i]).ToArray();
                var rankOf = new Dictionary<long, int>();
                for (int p = 0; p < total; p++) if (reference[q].Contains(ids[order[p]])) rankOf[ids[order[p]]] = p + 1;
                needs.AddRange(rankOf.Values);
                for (int b = 0; b < budgets.Length; b++) recallAt[b] += rankOf.Values.Count(v => v <= budgets[b]) / 10.0 / r;
            }
            needs.Sort();
            Console.WriteLine($"{name}: recall " + string.Join(" ", budgets.Select((b, k) => $"{b}:{recallAt[k]:F3}"))
                + $" | N for 0.99: {needs[(int)Math.Ceiling(0.99 * needs.Count) - 1]}, for 1: {needs[^1]}");
        }
        if (o.GetValueOrDefault("centroids", "false") == "true")
        {
            // The shipped first stage's stand-in scored by brute force (no graph): each segment's best inner product of its
            // AnnVectors (X-Pool: the 8 vertex centroids) with the unit text; recall against the float32 reference, so the
            // difference from search-query's graph recall at the same N is what the HNSW search loses.
            var queryVectors = torch.tensor(sample.Select(q => { using var e = model.EncodeQuery(q); return model.AnnQuery(e); }).SelectMany(v => v).ToArray(), [r, dim]);
            var standIn = Enumerable.Range(0, r).Select(_ => new float[total]).ToArray();
            for (int s0 = 0; s0 < total; s0 += 4096)
            {
                using var scope = torch.NewDisposeScope();
                int len = Math.Min(4096, total - s0);
                var fx = all[TensorIndex.Slice(s0, s0 + len)].to(ScalarType.Float32);
                Tensor vectors;
                if (o.TryGetValue("centroid-steps", out var stepsArg))
                {
                    // The same 37 points as VertexCentroids, summarised with another number of Lloyd steps (0: the farthest-point seeds, actual points).
                    var vertices = nn.functional.normalize(pool.Vertices(fx), dim: -1);
                    var midpoints = nn.functional.normalize(pool.EdgeMidpoints(fx), dim: -1);
                    var points = torch.cat([vertices.narrow(1, 0, fr), midpoints, vertices.narrow(1, fr, 1)], 1);
                    int kk = int.Parse(o.GetValueOrDefault("centroid-k", "8"));
                    vectors = kk >= points.shape[1] ? points : Models.XPool.TextConditionedPooling.SphericalKMeans(points, kk, int.Parse(stepsArg));
                }
                else vectors = model.AnnVectors(fx);                                                            // [len, K, E]
                var best = vectors.matmul(queryVectors.T).amax([1]).T.contiguous();                          // [R, len]
                var values = best.data<float>().ToArray();
                for (int q = 0; q < r; q++) Array.Copy(values, q * len, standIn[q], s0, len);
            }
            Console.WriteLine($"centroid stand-in scored for every segment: {clock.Elapsed.TotalSeconds:F0} s");
            ReportRecall("centroid stand-in, brute force", standIn);
        }
        if (o.TryGetValue("scan", out var scanArg))
        {
            // The shipped X-Pool first stage (XPoolScan) at each rank: its build, its score of every segment against the
            // reference top 10, and the time of its search for N candidates (median over the queries).
            foreach (int k in scanArg.Split(',').Select(int.Parse))
            {
                using var scan = XPoolScan.Build(sidecar, pool, k);
                var scores = new float[r][];
                for (int q = 0; q < r; q++) scores[q] = scan.ScoreAll(texts[q]);
                Console.WriteLine($"scan rank {k}: built in {scan.Seconds:F1} s, {scan.CodeBytes / 1048576.0:F0} MiB of codes, variance kept {scan.VarianceKept:F4}");
                ReportRecall($"scan rank {k}", scores);
                foreach (int n in o.GetValueOrDefault("scan-n", "1000,2000").Split(',').Select(int.Parse))
                {
                    var ms = new List<double>();
                    for (int q = 0; q < r; q++) { var t = Stopwatch.StartNew(); scan.Search(texts[q], n); ms.Add(t.Elapsed.TotalMilliseconds); }
                    ms.Sort();
                    Console.WriteLine($"  search for {n}: p50 {ms[ms.Count / 2]:F1} ms, p90 {ms[(int)(ms.Count * 0.9)]:F1} ms ({torch.get_num_threads()} threads)");
                }
            }
        }
        if (o.TryGetValue("pca", out var pcaArg))
        {
            // A compressed-frames stand-in: the exact single-query score on frames rebuilt from their first k principal
            // coordinates (around the mean frame), each coordinate optionally quantised to --bits (symmetric, one scale per
            // coordinate). Tells how many candidates a scan of compressed frames would have to pass to an exact second stage.
            int bits = int.Parse(o.GetValueOrDefault("bits", "0"));
            var rngS = new Random(7);
            var pickS = torch.tensor(Enumerable.Range(0, 200_000).Select(_ => rngS.NextInt64(total)).ToArray());
            var sampleFrames = all.index_select(0, pickS).to(ScalarType.Float32).reshape(-1, dim).to(ScalarType.Float64);
            var mu = sampleFrames.mean([0]);
            var centred = sampleFrames - mu;
            var cov = centred.T.matmul(centred) / centred.shape[0];
            var (evals, evecs) = torch.linalg.eigh(cov);
            var order = torch.arange(dim - 1, -1, -1);
            evals = evals.index_select(0, order); evecs = evecs.index_select(1, order);
            double totalVar = evals.sum().item<double>();
            var cumVar = evals.cumsum(0).data<double>().ToArray();
            Console.WriteLine("principal variance kept: " + string.Join(" ", new[] { 4, 8, 16, 24, 32, 48, 64, 96 }.Where(k => k <= dim).Select(k => $"{k}:{cumVar[k - 1] / totalVar:F4}")));
            foreach (int k in pcaArg.Split(',').Select(int.Parse))
            {
                var basis = evecs.narrow(1, 0, k).to(ScalarType.Float32);                                     // [D, k]
                var mean32 = mu.to(ScalarType.Float32);
                Tensor? scale = null;
                if (bits > 0)
                {
                    var coords = (sampleFrames.to(ScalarType.Float32) - mean32).matmul(basis);
                    scale = coords.abs().amax([0]) / ((1 << (bits - 1)) - 1);                                   // [k]
                }
                var standIn = Enumerable.Range(0, r).Select(_ => new float[total]).ToArray();
                double err = 0;
                using (torch.no_grad())
                for (int s0 = 0; s0 < total; s0 += 4096)
                {
                    using var scope = torch.NewDisposeScope();
                    int len = Math.Min(4096, total - s0);
                    var fx = all[TensorIndex.Slice(s0, s0 + len)].to(ScalarType.Float32);
                    var c = (fx - mean32).matmul(basis);                                                          // [len, F, k]
                    if (scale is not null) { int lim = (1 << (bits - 1)) - 1; c = (c / scale).round().clamp(-lim, lim) * scale; }
                    var rebuilt = c.matmul(basis.T) + mean32;
                    if (s0 == 0) err = ((rebuilt - fx).norm(-1) / fx.norm(-1)).mean().item<float>();
                    for (int q = 0; q < r; q++) single.Score(texts[q], rebuilt).Sims.data<float>().ToArray().CopyTo(standIn[q], s0);
                }
                Console.WriteLine($"pca {k}, bits {bits}: relative frame error (first block) {err:F4}; {clock.Elapsed.TotalSeconds:F0} s");
                ReportRecall($"exact score on pca-{k} frames{(bits > 0 ? $" at {bits} bits" : "")}", standIn);
            }
        }
        if (o.TryGetValue("expand", out var expandArg))
        {
            // Neighbourhood expansion: the graph's N1 candidates scored exactly; the best s of them (seeds) bring their M
            // nearest segments by the cosine of the normalised mean frames (brute force here; the mean-pooling graph recalls
            // that ranking exactly), which are scored exactly too; optionally a second round from the new best s. Recall of the
            // exact top 10 (f16 frames) in the union, and how many segments were scored.
            using var annIndex = AnnIndex.Open(store, model, w => Console.WriteLine($"warning: {w}"), save: false);
            var rowOf = new Dictionary<long, int>(total);
            for (int i = 0; i < total; i++) rowOf[ids[i]] = i;
            var queryVectors = sample.Select(q => { using var e = model.EncodeQuery(q); return model.AnnQuery(e); }).ToArray();
            foreach (var cfg in expandArg.Split(';'))
            {
                var parts = cfg.Split(',').Select(int.Parse).ToArray();   // N1, s, M, rounds[, mode: 0 mean-frame neighbours, 1 a second graph search with the seeds' pooled vectors]
                int n1 = parts[0], seeds = parts[1], neigh = parts[2], rounds = parts.Length > 3 ? parts[3] : 1, mode = parts.Length > 4 ? parts[4] : 0;
                double recall = 0, scored = 0, recallGraph = 0;
                var firstMs = new List<double>();
                for (int q = 0; q < r; q++)
                {
                    var t = Stopwatch.StartNew();
                    var cand = annIndex.Search(queryVectors[q], n1).Select(id => rowOf[id]).ToHashSet();
                    firstMs.Add(t.Elapsed.TotalMilliseconds);
                    recallGraph += top[q].Count(cand.Contains) / 10.0 / r;
                    var e = exact[q];
                    var expandedFrom = new HashSet<int>();
                    for (int round = 0; round < rounds; round++)
                    {
                        var best = cand.OrderByDescending(i => e[i]).Where(i => !expandedFrom.Contains(i)).Take(seeds).ToArray();
                        if (best.Length == 0) break;
                        expandedFrom.UnionWith(best);
                        using var scope = torch.NewDisposeScope();
                        if (mode == 1)
                        {
                            // The seeds' X-Pool outputs for this text (their pooled vectors), averaged: a second query into the centroid graph.
                            using var noGrad = torch.no_grad();
                            var seedFrames = all.index_select(0, torch.tensor(best.Select(i => (long)i).ToArray())).to(ScalarType.Float32);
                            var pooled = nn.functional.normalize(pool.forward(texts[q], seedFrames).Pooled.squeeze(1), dim: -1);   // [s, D]
                            var refined = nn.functional.normalize(pooled.mean([0]), dim: -1).data<float>().ToArray();
                            foreach (long id in annIndex.Search(refined, neigh)) cand.Add(rowOf[id]);
                            continue;
                        }
                        var sims = coarse.index_select(0, torch.tensor(best.Select(i => (long)i).ToArray())).matmul(coarse.T);   // [s, total]
                        var (_, nn_) = sims.topk(neigh, 1);
                        foreach (long i in nn_.data<long>().ToArray()) cand.Add((int)i);
                    }
                    recall += top[q].Count(cand.Contains) / 10.0 / r;
                    scored += cand.Count / (double)r;
                }
                Console.WriteLine($"expand N1 {n1}, seeds {seeds}, neighbours {neigh}, rounds {rounds}: recall {recall:F3} (graph alone {recallGraph:F3}), segments scored {scored:F0} a query; graph p50 {firstMs.Order().ElementAt(firstMs.Count / 2):F1} ms");
            }
        }
        if (o.TryGetValue("augmented", out var tauArg))
        {
            // Attention-aware points: every vertex, edge midpoint and the centre p of the attention simplex (weights a_p) stands
            // for <u, c_p> + tau <q, sum_f a_pf k_f - mean_f k_f>, c_p the unit pooled vector at a_p, k_f the frame keys, q the
            // text's scaled query: a MIPS score of [u, tau q] against [c_p, kappa_p]. Max over the points; also the oracle mix
            // sum_f softmax(l)_f <u, c_f> over the vertices with the text's true attention.
            var taus = tauArg.Split(',').Select(x => double.Parse(x, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
            var unit = nn.functional.normalize(torch.cat(texts, 0), dim: -1);                                   // [R, D]
            var qv = pool.Queries(torch.cat(texts, 0)) / Math.Sqrt(dim);  // [R, D] (one head)
            var pairs = Models.XPool.TextConditionedPooling.EdgePairs(fr);
            var att = torch.zeros(fr + pairs.Count + 1, fr);
            for (int f = 0; f < fr; f++) att[f, f] = 1.0;
            for (int p = 0; p < pairs.Count; p++) { att[fr + p, pairs[p].I] = 0.5; att[fr + p, pairs[p].J] = 0.5; }
            att[fr + pairs.Count] = torch.full(fr, 1.0 / fr);
            var standIns = taus.Select(_ => Enumerable.Range(0, r).Select(_ => new float[total]).ToArray()).ToList();
            var oracle = Enumerable.Range(0, r).Select(_ => new float[total]).ToArray();
            var vertOnly = taus.Select(_ => Enumerable.Range(0, r).Select(_ => new float[total]).ToArray()).ToList();
            double logitSpread = 0; int spreadN = 0;
            using (torch.no_grad())
            for (int s0 = 0; s0 < total; s0 += 2048)
            {
                using var scope = torch.NewDisposeScope();
                int len = Math.Min(2048, total - s0);
                var fx = all[TensorIndex.Slice(s0, s0 + len)].to(ScalarType.Float32);
                var c = nn.functional.normalize(pool.PooledAt(fx, att), dim: -1);                                // [len, P, D]
                var keys = pool.Keys(fx);                                                                         // [len, F, D]
                var kap = att.matmul(keys) - keys.mean([1], keepdim: true);                                       // [len, P, D]
                var cu = c.matmul(unit.T);                                                                        // [len, P, R]
                var kq = kap.matmul(qv.T);                                                                        // [len, P, R]
                var logits = keys.matmul(qv.T);                                                                   // [len, F, R]
                if (s0 == 0) logitSpread = logits.std(1).mean().item<float>();
                var soft = logits.softmax(1);
                var mix = (soft * cu.narrow(1, 0, fr)).sum(1).T.contiguous().data<float>().ToArray();             // [R, len]
                for (int q = 0; q < r; q++) Array.Copy(mix, q * len, oracle[q], s0, len);
                for (int k = 0; k < taus.Length; k++)
                {
                    var points = cu + kq * taus[k];                                                               // [len, P, R]
                    var best = points.amax([1]).T.contiguous().data<float>().ToArray();
                    for (int q = 0; q < r; q++) Array.Copy(best, q * len, standIns[k][q], s0, len);
                    var bestV = points.narrow(1, 0, fr).amax([1]).T.contiguous().data<float>().ToArray();
                    for (int q = 0; q < r; q++) Array.Copy(bestV, q * len, vertOnly[k][q], s0, len);
                }
            }
            Console.WriteLine($"augmented points scored: {clock.Elapsed.TotalSeconds:F0} s; std of the logits over a segment's frames (first block, mean): {logitSpread:F3}");
            ReportRecall("oracle vertex mix (true attention)", oracle);
            for (int k = 0; k < taus.Length; k++) { ReportRecall($"37 points, tau {taus[k]}", standIns[k]); ReportRecall($"8 vertices, tau {taus[k]}", vertOnly[k]); }
        }
        if (o.TryGetValue("fitted", out var fittedArg))
        {
            // A fitted linear stand-in: per segment the least-squares (ridge) fit s(u) ~ <w, u> + b of its exact X-Pool scores
            // against J probe texts u (unit), so one inner product of [u, 1] with [w, b] stands in for the exact score.
            int j = int.Parse(fittedArg);
            double ridge = double.Parse(o.GetValueOrDefault("ridge", "0.01"), System.Globalization.CultureInfo.InvariantCulture);
            string probeKind = o.GetValueOrDefault("probes", "train");
            Tensor probes;
            if (probeKind == "train")
            {
                string data = Path.GetFullPath(o["data"]);
                var train = File.ReadAllLines(Path.Combine(data, "MSRVTT_train.9k.csv")).Skip(1).ToHashSet();
                var sentences = JsonSerializer.Deserialize<JsonElement>(File.ReadAllText(Path.Combine(data, "MSRVTT_data.json"))).GetProperty("sentences").EnumerateArray()
                    .Where(x => train.Contains(x.GetProperty("video_id").GetString()!)).Select(x => x.GetProperty("caption").GetString()!).Distinct().ToList();
                var rngP = new Random(5);
                var chosen = sentences.OrderBy(_ => rngP.Next()).Take(j).ToList();
                probes = torch.cat(chosen.Select(q => { using var e = model.EncodeQuery(q); return e.Text.clone(); }).ToArray(), 0);
                Console.WriteLine($"probes: {probes.shape[0]} of {sentences.Count} distinct training captions");
            }
            else
            {
                var rngP = new Random(5);
                var pick = torch.tensor(Enumerable.Range(0, j).Select(_ => (long)rngP.NextInt64(total)).ToArray());
                probes = coarse.index_select(0, pick);
                Console.WriteLine($"probes: the normalised mean frames of {j} random segments");
            }
            int jn = (int)probes.shape[0];
            var unitProbes = nn.functional.normalize(probes, dim: -1);
            var x = torch.cat([unitProbes, torch.ones(jn, 1)], 1).to(ScalarType.Float64);                 // [J, D+1]
            var gram = x.T.matmul(x) + ridge * torch.eye(dim + 1, dtype: ScalarType.Float64);
            var m = x.matmul(torch.linalg.inv(gram)).to(ScalarType.Float32);                               // [J, D+1]: W = S M
            using var factored = new Models.XPool.XPoolFactored(pool);
            using var probeTexts = factored.PrepareTexts(probes);
            var fitted = torch.empty([total, dim + 1]);
            double sse = 0;
            for (int s0 = 0; s0 < total; s0 += 4096)
            {
                using var scope = torch.NewDisposeScope();
                int len = Math.Min(4096, total - s0);
                using var videos = factored.PrepareVideos(all[TensorIndex.Slice(s0, s0 + len)].to(ScalarType.Float32));
                var (sims, _) = factored.Score(probeTexts, videos, 0, jn, 0, len);                       // [J, len]
                var wv = sims.T.matmul(m);                                                                // [len, D+1]
                fitted[TensorIndex.Slice(s0, s0 + len)] = wv;
                sse += (wv.matmul(x.to(ScalarType.Float32).T) - sims.T).square().sum().item<float>();
            }
            Console.WriteLine($"fitted {total} segments on {jn} probes (ridge {ridge}): {clock.Elapsed.TotalSeconds:F0} s; rms residual on the probes {Math.Sqrt(sse / total / jn):F4}");
            var qx = torch.cat([nn.functional.normalize(torch.cat(texts, 0), dim: -1), torch.ones(r, 1)], 1);  // [R, D+1]
            var standIn = Enumerable.Range(0, r).Select(_ => new float[total]).ToArray();
            double qsse = 0;
            for (int s0 = 0; s0 < total; s0 += 65536)
            {
                using var scope = torch.NewDisposeScope();
                int len = Math.Min(65536, total - s0);
                var values = fitted[TensorIndex.Slice(s0, s0 + len)].matmul(qx.T).T.contiguous().data<float>().ToArray();
                for (int q = 0; q < r; q++) { Array.Copy(values, q * len, standIn[q], s0, len); for (int i = 0; i < len; i++) { double d = values[q * len + i] - exact[q][s0 + i]; qsse += d * d; } }
            }
            Console.WriteLine($"rms error of the fitted stand-in on the {r} queries: {Math.Sqrt(qsse / total / r):F4}");
            ReportRecall($"fitted stand-in ({probeKind}, J {jn}), brute force", standIn);
        }
        foreach (int c in o.GetValueOrDefault("clusters", "1000,4000").Split(',', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse))
        {
            // Spherical k-means of the coarse vectors (trained on a sample, then every segment assigned).
            var cent = KMeans(coarse, c, 200_000, 10);
            var assign = new int[total];
            var cosToCent = new float[total];
            for (int s = 0; s < total; s += 65536)
            {
                using var scope = torch.NewDisposeScope();
                int len = Math.Min(65536, total - s);
                var (v, a) = coarse[TensorIndex.Slice(s, s + len)].matmul(cent.T).max(1);
                a.to(ScalarType.Int32).data<int>().ToArray().CopyTo(assign, s);
                v.data<float>().ToArray().CopyTo(cosToCent, s);
            }
            var members = Enumerable.Range(0, c).Select(_ => new List<int>()).ToArray();
            for (int i = 0; i < total; i++) members[assign[i]].Add(i);
            var sizes = members.Select(m => m.Count).OrderDescending().ToArray();
            Console.WriteLine($"C = {c}: sizes max {sizes[0]} median {sizes[c / 2]} min {sizes[^1]} ({clock.Elapsed.TotalSeconds:F0} s)");
            var rng = new Random(1);
            foreach (int reps in new[] { 1, 4, 16 })
            {
                // Representatives: the medoid (closest to the centroid) and reps - 1 random members.
                var repIdx = members.Select(m => m.Count == 0 ? [] : new[] { m.MaxBy(i => cosToCent[i]) }.Concat(Enumerable.Range(0, reps - 1).Select(_ => m[rng.Next(m.Count)])).ToArray()).ToArray();
                var recall = new double[budgets.Length];
                double need99 = 0;
                var needs = new List<long>();
                for (int q = 0; q < r; q++)
                {
                    var e = exact[q];
                    var order = Enumerable.Range(0, c).OrderByDescending(k => repIdx[k].Length == 0 ? float.MinValue : repIdx[k].Max(i => e[i])).ToArray();
                    var cum = new long[c];
                    var posOf = new int[c];
                    long acc = 0;
                    for (int p = 0; p < c; p++) { acc += members[order[p]].Count; cum[p] = acc; posOf[order[p]] = p; }
                    foreach (int i in top[q]) needs.Add(cum[posOf[assign[i]]]);
                    for (int b = 0; b < budgets.Length; b++) recall[b] += top[q].Count(i => cum[posOf[assign[i]]] <= budgets[b]) / 10.0 / r;
                }
                needs.Sort();
                Console.WriteLine($"  IVF C={c} reps={reps}: recall " + string.Join(" ", budgets.Select((b, k) => $"{b}:{recall[k]:F3}"))
                    + $" | N for 0.99: {needs[(int)Math.Ceiling(0.99 * needs.Count) - 1]}, for 1: {needs[^1]}");
            }
        }
        return 0;
    }

    private static Tensor KMeans(Tensor points, int c, int sampleSize, int steps)
    {
        var rng = new Random(3);
        long n = points.shape[0];
        var pick = Enumerable.Range(0, Math.Min(sampleSize, (int)n)).Select(_ => (long)rng.NextInt64(n)).ToArray();
        using var sample = points.index_select(0, torch.tensor(pick));
        var cent = sample.index_select(0, torch.tensor(Enumerable.Range(0, c).Select(i => (long)i).ToArray())).clone();
        for (int step = 0; step < steps; step++)
        {
            using var scope = torch.NewDisposeScope();
            var a = sample.matmul(cent.T).argmax(1);
            var sums = torch.zeros_like(cent).index_add(0, a, sample, 1);
            var counts = torch.bincount(a, minlength: c);
            var empty = counts.eq(0);
            var next = nn.functional.normalize(sums, dim: -1);
            next = torch.where(empty.unsqueeze(1), cent, next);
            cent.Dispose();
            cent = next.DetachFromDisposeScope();
        }
        return cent;
    }
}
