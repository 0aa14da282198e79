using System.Diagnostics;
using System.Text.Json;
using TorchSharp;
using VidSeek.Index;
using static TorchSharp.torch;

namespace VidSeek.Bench;

/// <summary>
/// Which first-stage vectors recall X-Pool's exact top 10 best (issue 10, section 2), and how many candidates N they need as
/// the collection grows: every segment of an index is scored exhaustively (brute force, no HNSW) by several text-independent
/// stand-ins for X-Pool's score, and each stand-in's top N is compared with the exact X-Pool top 10 of the same queries.
/// A segment's stand-in score is the max over its (unit) vectors of the inner product with the unit text embedding q, unless
/// the row says otherwise. Stand-ins:
/// <list type="bullet">
/// <item>mean of the frames, raw frames, the uniform point, the vertices (<see cref="Models.XPool.TextConditionedPooling.Vertices"/>),
/// vertices + uniform (what ships, F + 1 vectors);</item>
/// <item>vertices + uniform scored by the sum of the two best inner products instead of the max;</item>
/// <item>vertices + uniform + edge midpoints (attention 1/2 on two frames): all F(F-1)/2 of them, or p chosen per segment
/// without a text: the p pairs whose attention keys are closest (a text's logits for them are then close, so its attention is
/// split between them), the p midpoints least covered by the vertices, or the F - 1 temporally adjacent pairs;</item>
/// <item>per-segment spherical k-means (<see cref="Models.XPool.TextConditionedPooling.SphericalKMeans"/>) of the vertices +
/// uniform, alone, with the adjacent midpoints, or with all midpoints (the last is
/// <see cref="Models.XPool.TextConditionedPooling.VertexCentroids"/>), down to k centroids.</item>
/// </list>
/// Then text-dependent second filters, which re-rank the first stage's top M (vertices + uniform) with a cheaper score than the
/// exact one and keep N for the exact stage: the exact score on float16 or int8 frames, the attention-weighted mean of the
/// vertex cosines, and the exact pooling with the attention cut to the text's two best frames.
/// For every row: recall@10 at each N, and the smallest N with recall@10 >= 0.99 and = 1 (from the rank of every true top-10
/// segment in the stand-in's order, pooled over the queries).
/// The exact scores of a collection are cached in <c>--work</c> (keyed by the store's generation and the queries): the streamed
/// exact pass is the slow part at 10^5.
/// </summary>
public static class SearchStudy
{
    private const int K = 10;

    public static int Run(string[] args)
    {
        var o = SearchBench.Args(args);
        string index = Path.GetFullPath(o["index"]);
        var queries = File.ReadAllLines(o["queries"]).Where(l => l.Length > 0).ToList();
        int recallQueries = int.Parse(o.GetValueOrDefault("recall-queries", "40"));
        var counts = o.GetValueOrDefault("candidates", "10,20,50,100,200,500,1000,2000").Split(',').Select(int.Parse).ToArray();
        var prefilters = o.GetValueOrDefault("prefilter", "5000,10000,20000").Split(',', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToArray();
        // Second filters to measure (each of f16, int8 costs another exact pass; top2 pools every pair): f16,int8,attention,top2 or none.
        var filterSet = o.GetValueOrDefault("filters", "f16,int8,attention,top2").Split(',', StringSplitOptions.RemoveEmptyEntries).ToHashSet();
        string[] allFilters = ["f16", "int8", "attention", "top2"];
        if (filterSet.Except(allFilters.Append("none")).FirstOrDefault() is { } unknown)
            throw new VidSeekException($"--filters: unknown filter '{unknown}' (f16, int8, attention, top2 or none)");
        var used = allFilters.Where(filterSet.Contains).ToArray();
        bool filters = used.Length > 0;
        string work = Path.GetFullPath(o.GetValueOrDefault("work", "/tmp/search-study"));
        string? outFile = o.GetValueOrDefault("out");
        if (o.TryGetValue("threads", out var threads)) torch.set_num_threads(int.Parse(threads));
        Directory.CreateDirectory(work);
        var sample = Enumerable.Range(0, recallQueries).Select(i => queries[(int)((long)i * queries.Count / recallQueries)]).ToList();

        using var store = IndexStore.Open(index);
        // --model: the index's model from another folder (the bench collections record the folder they were built from, which
        // may be gone); it must be the same weights.
        string modelDir = o.TryGetValue("model", out var md) ? Path.GetFullPath(md) : store.Manifest.Model;
        string sha = IndexBuilder.Sha256(Path.Combine(modelDir, "model.safetensors"));
        if (sha != store.Manifest.ModelSha256)
            throw new VidSeekException($"{modelDir}: model.safetensors is not the index's model (sha256 {sha[..12]}, the index has {store.Manifest.ModelSha256[..12]})");
        using var model = (IndexModel.Dual)IndexModel.Open(modelDir, store.Manifest.Frames);
        var pool = model.Model.Pool ?? throw new VidSeekException("the study is for an X-Pool index");
        var m = store.Manifest;
        int fr = m.Frames, total = store.SegmentCount, r = sample.Count;
        Console.WriteLine($"search-study: {index}, {total} segments of {fr} frames x {m.EmbedDim}, {r} queries; load: {Load()}");

        // All edge midpoints (attention 1/2 on frames i < j), in TextConditionedPooling.EdgeMidpoints' order.
        var pairs = Models.XPool.TextConditionedPooling.EdgePairs(fr);
        using var pairIndex = torch.tensor(pairs.Select(p => (long)(p.I * fr + p.J)).ToArray());
        using var adjacentIndex = torch.tensor(Enumerable.Range(0, pairs.Count).Where(p => pairs[p].J == pairs[p].I + 1).Select(p => (long)p).ToArray());
        using var adjacent = torch.tensor(pairs.Select(p => p.J == p.I + 1).ToArray(), [1, pairs.Count]);

        var reps = new List<Rep>
        {
            new("mean of the frames", 1), new("raw frames", fr), new("uniform attention", 1), new("vertices", fr),
            new("**vertices + uniform (shipped)**", fr + 1), new("vertices + uniform, sum of the two best", fr + 1),
            new("vertices + uniform + all edge midpoints", fr + 1 + pairs.Count),
            new($"vertices + uniform + the {fr - 1} temporally adjacent midpoints", 2 * fr),
        };
        int[] ps = [2, 4, 8];
        foreach (int p in ps) reps.Add(new($"vertices + uniform + {p} midpoints of the closest keys", fr + 1 + p));
        foreach (int p in ps) reps.Add(new($"vertices + uniform + {p} midpoints least covered by the vertices", fr + 1 + p));
        // k-means rows (the batched k-means is most of a pass's cost: at 10^5 on a busy machine, pass fewer).
        int[] Ks(string name, string fallback) => o.GetValueOrDefault(name, fallback).Split(',', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToArray();
        int[] ks = Ks("kmeans", "2,3,4");
        foreach (int k in ks) reps.Add(new($"k-means of the vertices + uniform, k = {k}", k));
        int[] ksAdjacent = Ks("kmeans-adjacent", "4,6,8"), ksAll = Ks("kmeans-all", "4,6,8,12");
        foreach (int k in ksAdjacent) reps.Add(new($"k-means of the vertices + uniform + adjacent midpoints, k = {k}", k));
        foreach (int k in ksAll) reps.Add(new($"k-means of the vertices + uniform + all edge midpoints, k = {k}", k));
        var filterNames = new List<string>();
        var filterTitles = new Dictionary<string, string>
        {
            ["f16"] = "exact score on float16 frames", ["int8"] = "exact score on int8 frames (one scale a frame)",
            ["attention"] = "attention-weighted mean of the vertex cosines", ["top2"] = "exact pooling, attention cut to the text's 2 best frames",
        };
        filterNames.AddRange(used.Select(f => filterTitles[f]));
        foreach (var rep in reps) rep.Scores = Enumerable.Range(0, r).Select(_ => new float[total]).ToArray();
        var filterScores = filterNames.Select(_ => Enumerable.Range(0, r).Select(_ => new float[total]).ToArray()).ToArray();

        float[][]? exact = ReadExact(work, store, sample);
        bool haveExact = exact is not null;
        exact ??= Enumerable.Range(0, r).Select(_ => new float[total]).ToArray();
        var clock = Stopwatch.StartNew();
        using (var texts = torch.cat(sample.Select(q => { using var e = model.EncodeQuery(q); return e.Text.clone(); }).ToArray(), 0)) // [R, E]
        {
            var t = nn.functional.normalize(texts, dim: -1);
            int pos = 0;
            foreach (var block in store.Segments(withTokens: false).Chunk(VideoSearcher.ExactBlock))
            {
                using var scope = torch.NewDisposeScope();
                using var _ = torch.no_grad();
                int b = block.Length;
                var flat = new float[b * fr * m.EmbedDim];
                for (int i = 0; i < b; i++) block[i].FrameEmbeddings.CopyTo(flat, i * fr * m.EmbedDim);
                var frames = torch.tensor(flat, [b, fr, m.EmbedDim]);                              // [B, F, E]
                if (!haveExact) Scatter(model.Model.SimilarityMatrix(texts, frames), exact, pos, b); // [R * B]
                Tensor Cos(Tensor vecs) => torch.einsum("re,bke->rbk", t, nn.functional.normalize(vecs, dim: -1)); // [R, B, K]
                var vu = nn.functional.normalize(pool.Vertices(frames), dim: -1);                 // [B, F + 1, E]
                var cosVu = Cos(vu);                                                              // [R, B, F + 1]
                var midpoints = nn.functional.normalize(pool.EdgeMidpoints(frames), dim: -1);     // [B, P, E]
                var cosMid = Cos(midpoints);                                                      // [R, B, P]
                var best = cosVu.amax([2]);
                Tensor MaxWith(Tensor mask) => torch.maximum(best, cosMid.masked_fill(mask.logical_not().unsqueeze(0), -2f).amax([2])); // mask [B or 1, P]
                var keys = pool.Keys(frames);                                                     // [B, F, D]
                var keyDist = torch.cdist(keys, keys).view(b, fr * fr).index_select(1, pairIndex);  // [B, P]: |k_i - k_j|
                var covered = torch.einsum("bpe,bke->bpk", midpoints, vu).amax([2]);             // [B, P]: the closest vertex
                var scores = new List<Tensor>
                {
                    Cos(frames.mean([1], keepdim: true)).amax([2]), Cos(frames).amax([2]), cosVu.narrow(2, fr, 1).amax([2]),
                    cosVu.narrow(2, 0, fr).amax([2]), best, cosVu.topk(2, 2).values.sum(2), torch.maximum(best, cosMid.amax([2])),
                    MaxWith(adjacent),
                };
                foreach (int p in ps) scores.Add(MaxWith(Smallest(keyDist, p)));
                foreach (int p in ps) scores.Add(MaxWith(Smallest(covered, p)));
                Tensor KMeans(Tensor points, int k) => Models.XPool.TextConditionedPooling.SphericalKMeans(points, k);
                foreach (int k in ks) scores.Add(torch.einsum("re,bke->rbk", t, KMeans(vu, k)).amax([2]));
                // k-means over more points (the uniform point last: it seeds the first centroid); the last rows are
                // TextConditionedPooling.VertexCentroids(frames, k), from the points computed here once for every k.
                var withAdjacent = torch.cat([vu.narrow(1, 0, fr), midpoints.index_select(1, adjacentIndex), vu.narrow(1, fr, 1)], 1);
                foreach (int k in ksAdjacent) scores.Add(torch.einsum("re,bke->rbk", t, KMeans(withAdjacent, k)).amax([2]));
                var withAll = torch.cat([vu.narrow(1, 0, fr), midpoints, vu.narrow(1, fr, 1)], 1);
                foreach (int k in ksAll) scores.Add(torch.einsum("re,bke->rbk", t, KMeans(withAll, k)).amax([2]));
                for (int k = 0; k < reps.Count; k++) Scatter(scores[k].contiguous().data<float>().ToArray(), reps[k].Scores!, pos, b);
                if (filters)
                {
                    var filtered = new List<float[]>();
                    if (filterSet.Contains("f16")) filtered.Add(model.Model.SimilarityMatrix(texts, frames.to(ScalarType.Float16).to(ScalarType.Float32)));
                    if (filterSet.Contains("int8")) filtered.Add(model.Model.SimilarityMatrix(texts, Int8RoundTrip(frames)));
                    var attention = filterSet.Contains("attention") || filterSet.Contains("top2") ? pool.Attention(texts, frames).mean([2]) : null; // [B, R, F] (mean over heads)
                    if (filterSet.Contains("attention"))
                        filtered.Add(torch.einsum("brf,rbf->rb", attention!, cosVu.narrow(2, 0, fr)).contiguous().data<float>().ToArray());
                    if (filterSet.Contains("top2"))
                    {
                        var top2 = attention!.topk(2, 2);
                        var cut = torch.zeros_like(attention).scatter_(2, top2.indexes, top2.values);
                        cut = cut / cut.sum(2, keepdim: true);                                    // [B, R, F]
                        var pooled = pool.PooledAt(frames, cut);                                  // [B, R, E]
                        filtered.Add(torch.einsum("re,bre->rb", t, nn.functional.normalize(pooled, dim: -1)).contiguous().data<float>().ToArray());
                    }
                    for (int k = 0; k < filtered.Count; k++) Scatter(filtered[k], filterScores[k], pos, b);
                }
                model.Model.DropCache();
                pos += b;
                if ((pos / b) % 10 == 0) Console.WriteLine($"  {pos} segments, {clock.Elapsed.TotalSeconds:F0} s; load: {Load()}");
            }
        }
        double seconds = clock.Elapsed.TotalSeconds;
        Console.WriteLine($"one streamed pass in {seconds:F1} s ({(haveExact ? "exact scores read from the cache" : "with the exact scores")}); load: {Load()}");
        if (!haveExact) WriteExact(work, store, sample, exact);

        var truth = exact.Select(s => TopK(s, K)).ToArray();
        CheckAgainstBench(index, store, sample, truth);
        Console.WriteLine();
        Console.WriteLine($"| first-stage vectors | vectors a segment | {string.Join(" | ", counts.Select(n => $"N = {n}"))} | N for 0.99 | N for 1 |");
        Console.WriteLine($"| --- | ---: |{string.Concat(counts.Select(_ => " ---: |"))} ---: | ---: |");
        var rows = new List<object>();
        foreach (var rep in reps)
        {
            var ranks = Enumerable.Range(0, r).SelectMany(q => truth[q].Select(i => RankOf(rep.Scores![q], i))).ToArray();
            rows.Add(Row(rep.Name, rep.Vectors.ToString(), ranks, counts, null));
        }
        if (filters)
        {
            var shipped = reps[4].Scores!;
            foreach (int pre in prefilters.Where(p => p < total))
            {
                Console.WriteLine();
                Console.WriteLine($"Second filter on the first stage's top M = {pre} (vertices + uniform), keeping N for the exact score:");
                Console.WriteLine();
                Console.WriteLine($"| second filter (M = {pre}) | | {string.Join(" | ", counts.Select(n => $"N = {n}"))} | N for 0.99 | N for 1 |");
                Console.WriteLine($"| --- | --- |{string.Concat(counts.Select(_ => " ---: |"))} ---: | ---: |");
                var firsts = Enumerable.Range(0, r).Select(q => TopK(shipped[q], pre)).ToArray();
                for (int k = 0; k < filterNames.Count; k++)
                {
                    var ranks = Enumerable.Range(0, r).SelectMany(q =>
                    {
                        var inFirst = firsts[q].ToHashSet();
                        return truth[q].Select(i => inFirst.Contains(i) ? RankAmong(filterScores[k][q], firsts[q], i) : int.MaxValue);
                    }).ToArray();
                    rows.Add(Row(filterNames[k], $"M = {pre}", ranks, counts, pre));
                }
            }
        }
        if (outFile is not null)
            File.WriteAllText(outFile, JsonSerializer.Serialize(new { index, segments = total, queries = r, seconds, load = Load(), rows },
                new JsonSerializerOptions { WriteIndented = true }));
        return 0;
    }

    private sealed class Rep(string name, int vectors)
    {
        public string Name { get; } = name;
        public int Vectors { get; } = vectors;
        public float[][]? Scores { get; set; }
    }

    /// <summary>Prints one table row from the ranks of every true top-10 segment (pooled over the queries); returns it for the JSON.</summary>
    private static object Row(string name, string vectors, int[] ranks, int[] counts, int? prefilter)
    {
        var sorted = ranks.Order().ToArray();
        var recalls = counts.Select(n => sorted.Count(x => x < n) / (double)sorted.Length).ToArray();
        int need = (99 * sorted.Length + 99) / 100;                                               // ceil(0.99 * pairs)
        string n99 = sorted[need - 1] == int.MaxValue ? "> M" : (sorted[need - 1] + 1).ToString();
        string n100 = sorted[^1] == int.MaxValue ? "> M" : (sorted[^1] + 1).ToString();
        Console.WriteLine($"| {name} | {vectors} | {string.Join(" | ", recalls.Select(x => x.ToString("F3")))} | {n99} | {n100} |");
        return new { name, vectors, prefilter, candidates = counts, recall = recalls, n_for_099 = n99, n_for_1 = n100 };
    }

    /// <summary>Position of segment i in the order of <paramref name="scores"/> (best first, ties by index).</summary>
    private static int RankOf(float[] scores, int i)
    {
        float s = scores[i];
        int rank = 0;
        for (int j = 0; j < scores.Length; j++) if (scores[j] > s || (scores[j] == s && j < i)) rank++;
        return rank;
    }

    /// <summary>Position of segment i among <paramref name="subset"/> in the order of <paramref name="scores"/>.</summary>
    private static int RankAmong(float[] scores, int[] subset, int i)
    {
        float s = scores[i];
        int rank = 0;
        foreach (int j in subset) if (scores[j] > s || (scores[j] == s && j < i)) rank++;
        return rank;
    }

    /// <summary>A <c>[B, P]</c> mask of the p smallest values of each row.</summary>
    private static Tensor Smallest(Tensor values, int p) =>
        torch.zeros_like(values, dtype: ScalarType.Bool).scatter_(1, values.topk(p, 1, largest: false).indexes, torch.ones(values.shape[0], p, dtype: ScalarType.Bool));

    /// <summary>Frames quantised to int8 with one scale a frame (max |x| -> 127) and back.</summary>
    private static Tensor Int8RoundTrip(Tensor frames)
    {
        var scale = frames.abs().amax([2], keepdim: true).clamp_min(1e-12) / 127;
        return (frames / scale).round().clamp(-127, 127) * scale;
    }

    private static void Scatter(float[] block, float[][] into, int pos, int b)
    {
        for (int q = 0; q < into.Length; q++) Array.Copy(block, q * b, into[q], pos, b);
    }

    private static string ExactFile(string work, IIndexStore store, List<string> sample)
    {
        string key = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(
            $"{store.Manifest.Root}\n{store.Generation}\n{store.SegmentCount}\n{store.Manifest.ModelSha256}\n{string.Join("\n", sample)}")))[..16];
        return Path.Combine(work, $"exact-{store.SegmentCount}-{sample.Count}-{key}.bin");
    }

    private static float[][]? ReadExact(string work, IIndexStore store, List<string> sample)
    {
        string file = ExactFile(work, store, sample);
        if (!File.Exists(file)) return null;
        var bytes = File.ReadAllBytes(file);
        int total = store.SegmentCount;
        if (bytes.Length != (long)sample.Count * total * 4) return null;
        var result = new float[sample.Count][];
        for (int q = 0; q < sample.Count; q++)
        {
            result[q] = new float[total];
            Buffer.BlockCopy(bytes, q * total * 4, result[q], 0, total * 4);
        }
        Console.WriteLine($"exact scores read from {file}");
        return result;
    }

    private static void WriteExact(string work, IIndexStore store, List<string> sample, float[][] exact)
    {
        string file = ExactFile(work, store, sample);
        int total = store.SegmentCount;
        var bytes = new byte[(long)sample.Count * total * 4];
        for (int q = 0; q < sample.Count; q++) Buffer.BlockCopy(exact[q], 0, bytes, q * total * 4, total * 4);
        File.WriteAllBytes(file + ".tmp", bytes);
        File.Move(file + ".tmp", file, overwrite: true);
        Console.WriteLine($"exact scores cached in {file}");
    }

    /// <summary>Compares this pass's exact top 10 with search-query's cached reference beside the index, when there is one for the same queries.</summary>
    private static void CheckAgainstBench(string index, IIndexStore store, List<string> sample, int[][] truth)
    {
        string file = Path.Combine(Path.GetDirectoryName(index)!, $"truth-xpool-{sample.Count}.json");
        if (!File.Exists(file)) return;
        using var doc = JsonDocument.Parse(File.ReadAllText(file));
        var root = doc.RootElement;
        if (root.GetProperty("Generation").GetInt64() != store.Generation
            || !root.GetProperty("Queries").EnumerateArray().Select(e => e.GetString()).SequenceEqual(sample)) return;
        var ids = store.Segments(withTokens: false).Select(s => s.Id).ToArray();                 // position -> segment id
        var top = root.GetProperty("Top").EnumerateArray().Select(a => a.EnumerateArray().Select(e => e.GetInt64()).ToHashSet()).ToArray();
        int same = Enumerable.Range(0, sample.Count).Count(q => top[q].SetEquals(truth[q].Select(i => ids[i])));
        Console.WriteLine($"exact top 10 equal to search-query's reference ({file}) for {same} of {sample.Count} queries");
    }

    /// <summary>Indices of the k largest values, best first, ties by index.</summary>
    internal static int[] TopK(float[] scores, int k)
    {
        var idx = Enumerable.Range(0, scores.Length).ToArray();
        Array.Sort(idx, (a, b) => scores[b].CompareTo(scores[a]) is var c && c != 0 ? c : a.CompareTo(b));
        return idx.Take(k).ToArray();
    }

    private static string Load() => File.ReadAllText("/proc/loadavg").Trim();
}
