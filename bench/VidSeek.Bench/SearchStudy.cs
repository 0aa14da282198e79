using System.Diagnostics;
using TorchSharp;
using VidSeek.Index;
using static TorchSharp.torch;

namespace VidSeek.Bench;

/// <summary>
/// Which first-stage vectors recall X-Pool's exact top 10 best (issue 10, section 2): every segment of an index is scored
/// exhaustively (brute force, no HNSW) by several stand-ins for X-Pool's score, and each stand-in's top N is compared with
/// the exact X-Pool top 10 of the same queries, for several N. Stand-ins (q = the unit text embedding; a segment's score is
/// the max over its vectors of the inner product with q):
/// <list type="bullet">
/// <item>mean: the normalised mean of the frames (one vector);</item>
/// <item>frames: the normalised raw frames (F vectors);</item>
/// <item>vertices: X-Pool's pooled vector with the attention one-hot on each frame, normalised (F vectors,
/// <see cref="Models.XPool.TextConditionedPooling.Vertices"/>);</item>
/// <item>uniform: the pooled vector with uniform attention (one vector);</item>
/// <item>vertices + uniform (F + 1), and vertices + uniform + frames (2F + 1).</item>
/// </list>
/// </summary>
public static class SearchStudy
{
    public static int Run(string[] args)
    {
        var o = SearchBench.Args(args);
        string index = Path.GetFullPath(o["index"]);
        var queries = File.ReadAllLines(o["queries"]).Where(l => l.Length > 0).ToList();
        int recallQueries = int.Parse(o.GetValueOrDefault("recall-queries", "40"));
        var counts = o.GetValueOrDefault("candidates", "10,20,50,100,200,500,1000").Split(',').Select(int.Parse).ToArray();
        const int K = 10;
        var sample = Enumerable.Range(0, recallQueries).Select(i => queries[(int)((long)i * queries.Count / recallQueries)]).ToList();

        using var store = IndexStore.Open(index);
        using var model = (IndexModel.Dual)IndexModel.Open(store.Manifest.Model, store.Manifest.Frames);
        var pool = model.Model.Pool ?? throw new ArgumentException("the study is for an X-Pool index");
        int fr0 = store.Manifest.Frames;
        string[] names = ["mean", "frames", "uniform", "vertices", "vertices + uniform", "vertices + uniform + frames (max)",
            "vertices + uniform + edge midpoints", "vertices + uniform + frames (sum of the two maxima)"];
        int[] vectors = [1, fr0, 1, fr0, fr0 + 1, 2 * fr0 + 1, fr0 + 1 + fr0 * (fr0 - 1) / 2, 2 * fr0 + 1];
        // Edge midpoints: attention 1/2 on each of two frames (F(F-1)/2 points): do the points between vertices add recall?
        var pairs = new List<float[]>();
        for (int i = 0; i < fr0; i++)
            for (int j = i + 1; j < fr0; j++) { var w = new float[fr0]; w[i] = w[j] = 0.5f; pairs.Add(w); }
        using var mid = torch.tensor(pairs.SelectMany(x => x).ToArray(), [pairs.Count, fr0]);
        int total = store.SegmentCount, r = sample.Count;
        var exact = new float[r][];
        var reps = names.Select(_ => Enumerable.Range(0, r).Select(_ => new float[total]).ToArray()).ToArray();
        for (int q = 0; q < r; q++) exact[q] = new float[total];
        var clock = Stopwatch.StartNew();
        using (var texts = torch.cat(sample.Select(q => { using var e = model.EncodeQuery(q); return e.Text.clone(); }).ToArray(), 0)) // [R, E]
        {
            var m = store.Manifest;
            var t = nn.functional.normalize(texts, dim: -1);
            int pos = 0;
            foreach (var block in store.Segments(withTokens: false).Chunk(VideoSearcher.ExactBlock))
            {
                using var scope = torch.NewDisposeScope();
                using var _ = torch.no_grad();
                var flat = new float[block.Length * m.Frames * m.EmbedDim];
                for (int i = 0; i < block.Length; i++) block[i].FrameEmbeddings.CopyTo(flat, i * m.Frames * m.EmbedDim);
                var frames = torch.tensor(flat, [block.Length, m.Frames, m.EmbedDim]);          // [B, F, E]
                var sims = model.Model.SimilarityMatrix(texts, frames);                          // [R * B]
                Tensor Max(Tensor vecs) => torch.einsum("re,bke->rbk", t, nn.functional.normalize(vecs, dim: -1)).amax([2]); // [R, B]
                var vert = pool.Vertices(frames);                                                // [B, F + 1, E]
                var fr = Max(frames);
                var vu = Max(vert);
                var mids = Max(pool.PooledAt(frames, mid));
                var scores = new[]
                {
                    Max(frames.mean([1], keepdim: true)), fr, Max(vert.narrow(1, m.Frames, 1)), Max(vert.narrow(1, 0, m.Frames)), vu, torch.maximum(vu, fr),
                    torch.maximum(vu, mids), vu + fr,
                }.Select(s => s.contiguous().data<float>().ToArray()).ToArray();
                for (int q = 0; q < r; q++)
                {
                    Array.Copy(sims, q * block.Length, exact[q], pos, block.Length);
                    for (int k = 0; k < names.Length; k++) Array.Copy(scores[k], q * block.Length, reps[k][q], pos, block.Length);
                }
                pos += block.Length;
            }
        }
        Console.WriteLine($"search-study: {index}, {total} segments, {r} queries, one streamed pass in {clock.Elapsed.TotalSeconds:F1} s; load: {File.ReadAllText("/proc/loadavg").Trim()}");
        var truth = exact.Select(s => TopK(s, K).ToHashSet()).ToList();
        Console.WriteLine();
        Console.WriteLine($"| first-stage vectors | vectors a segment | {string.Join(" | ", counts.Select(n => $"N = {n}"))} |");
        Console.WriteLine($"| --- | ---: |{string.Concat(counts.Select(_ => " ---: |"))}");
        for (int k = 0; k < names.Length; k++)
        {
            var recalls = counts.Select(n => Enumerable.Range(0, r).Average(q => TopK(reps[k][q], n).Count(truth[q].Contains) / (double)K));
            Console.WriteLine($"| {names[k]} | {vectors[k]} | {string.Join(" | ", recalls.Select(x => x.ToString("F3")))} |");
        }
        // Two lists merged: the best N/2 by vertices + uniform and the best N/2 by frames (then more of each until N distinct).
        var union = counts.Select(n => Enumerable.Range(0, r).Average(q =>
        {
            var a = TopK(reps[4][q], n); var b = TopK(reps[1][q], n);
            var set = new HashSet<int>();
            for (int i = 0; set.Count < n && i < n; i++) { set.Add(a[i]); if (set.Count < n) set.Add(b[i]); }
            return set.Count(truth[q].Contains) / (double)K;
        }));
        Console.WriteLine($"| union of the vertices + uniform and the frames lists (N/2 each) | {2 * fr0 + 1} | {string.Join(" | ", union.Select(x => x.ToString("F3")))} |");
        return 0;
    }

    /// <summary>Indices of the k largest values, best first, ties by index.</summary>
    internal static int[] TopK(float[] scores, int k) =>
        Enumerable.Range(0, scores.Length).OrderByDescending(i => scores[i]).ThenBy(i => i).Take(k).ToArray();
}
