using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using TorchSharp;
using VidSeek.Models.XPool;
using VidSeek.Tensors;
using static TorchSharp.torch;

namespace VidSeek.Index;

/// <summary>
/// X-Pool's first stage on an embedded index: every segment scored by X-Pool's own formula on compressed frames, and the
/// best N passed to the exact second stage. Why not a nearest-neighbour graph: X-Pool's score is not an inner product of
/// a text vector with a video vector (the text chooses the attention over frames), so any text-independent stand-in
/// ranks the top of X-Pool's ranking poorly (docs/PERFORMANCE.md: the 8 centroids of <see cref="AnnIndex"/> need about
/// 13,500 candidates at 10^6 segments to hold 99% of the true top 10), while the formula itself is cheap once the frames
/// are small.
/// </summary>
/// <remarks>
/// <para>Compression: the frames' <c>layer_norm1</c> outputs (what X-Pool's attention and values see) are projected on their
/// first k principal directions (fitted on a sample of the collection's frames), <c>x_f ~ m + U c_f</c>, and each coordinate
/// is stored as an 8-bit integer (one scale per coordinate, from the largest magnitude in a sample): F·k bytes a
/// segment, 128 MB for 10^6 segments of 8 frames at k = 16. <see cref="XPoolReduced"/> turns X-Pool's score of such frames
/// into a softmax over F logits and three quadratic forms of a (H·k + 1)-vector.</para>
/// <para>Layout and kernel: segments in groups of 16, each group's coordinates stored <c>[F, k, 16]</c> so that one
/// <see cref="Vector512{T}"/> holds one coordinate of 16 segments and the kernel scores 16 segments per pass with no
/// horizontal sums; the groups are split over the threads, each keeping its own best N. Written by hand because no library
/// here scores a text-conditioned softmax pooling over a compressed collection (a vector database's scans compute inner
/// products or distances only).</para>
/// <para>Held in memory and built when the searcher opens (from the frame sidecar, <see cref="FrameSidecar"/>, read in id
/// order) and again when the index changed: it is derived data, like the sidecar, never the source of truth.</para>
/// </remarks>
public sealed class XPoolScan : IDisposable
{
    /// <summary>Lanes of the kernel: segments scored per pass.</summary>
    public const int Lanes = 16;

    /// <summary>Principal directions kept per frame by default: at 10^6 Shapes segments it holds 99% of X-Pool's exact top 10
    /// within the first ~1,000 scan results (docs/PERFORMANCE.md, "X-Pool's first stage: a scan of compressed frames").</summary>
    public const int DefaultRank = 16;

    /// <summary>Groups a thread takes at a time (1,024 segments, 128 KiB of codes at k = 16).</summary>
    private const int ChunkGroups = 64;

    /// <summary>Segments sampled (evenly over the collection) to fit the principal directions and the 8-bit scales.</summary>
    public const int FitSample = 8192;

    /// <summary>A coordinate's 8-bit range, as a multiple of its largest magnitude in the fitting sample.</summary>
    public const float ScaleMargin = 1.25f;

    private readonly XPoolReduced reduced;
    private readonly long[] ids;          // per lane (groups · Lanes); -1 for the padding of the last group
    private readonly Tensor codes;        // int8 [groups · F · k · Lanes]: [groups, F, k, Lanes], in huge pages (see Build)
    private readonly float[] scale;       // [k]: coordinate = code · scale
    private readonly (float[] Mean, float[] Basis) subspace;   // m [D] and U [D, k] row-major, float32: what Save keeps
    private readonly int frames, rank, heads, width, groups;
    // The forms with the scales folded in, upper triangle only (off-diagonal entries doubled): [width, width] row-major.
    private readonly float[] s2, se, sn, linE, linN, linB;
    // zh = [scale · z'_1, ..., scale · z'_H, 1] where z' is the attention-weighted sum of the stored codes: what multiplies each
    // entry of zh (and, its first H·k entries, each of a text's logit weights) to work on codes instead of coordinates.
    private readonly float[] folded;

    /// <summary>Segments it holds.</summary>
    public int Count { get; }
    /// <summary>The index generation it was built from.</summary>
    public long Generation { get; }
    /// <summary>Coordinates kept per frame (k).</summary>
    public int Rank => rank;
    /// <summary>Bytes of the compressed frames (the rest is per-segment ids, 8 bytes each).</summary>
    public long CodeBytes => codes.NumberOfElements;
    /// <summary>The share of the sampled frames' variance (after <c>layer_norm1</c>) that the kept directions hold.</summary>
    public double VarianceKept { get; }
    /// <summary>Coordinates beyond their 8-bit range (clamped) when it was built.</summary>
    public long Clamped { get; private init; }
    /// <summary>Seconds the build or the load (<see cref="OpenedAs"/>) took.</summary>
    public double Seconds { get; private set; }

    private XPoolScan(XPoolReduced reduced, long[] ids, Tensor codes, float[] scale, int frames, int count, long generation, double varianceKept, double seconds,
        (float[] Mean, float[] Basis) subspace)
    {
        this.subspace = subspace;
        this.reduced = reduced;
        this.ids = ids;
        this.codes = codes;
        this.scale = scale;
        this.frames = frames;
        rank = reduced.Rank;
        heads = reduced.Heads;
        width = reduced.Width;
        groups = ids.Length / Lanes;
        Count = count;
        Generation = generation;
        VarianceKept = varianceKept;
        Seconds = seconds;
        folded = new float[width];
        for (int h = 0; h < heads; h++) for (int j = 0; j < rank; j++) folded[h * rank + j] = scale[j];
        folded[width - 1] = 1;
        s2 = Upper(reduced.S2, folded);
        se = Upper(reduced.SE, folded);
        sn = Upper(reduced.SN, folded);
        linE = Scaled(reduced.LinE, folded);
        linN = Scaled(reduced.LinN, folded);
        linB = Scaled(reduced.LinB, folded);
    }

    private float[] Upper(float[] form, float[] folded)
    {
        var upper = new float[width * width];
        for (int i = 0; i < width; i++)
            for (int j = i; j < width; j++)
                upper[i * width + j] = (i == j ? 1 : 2) * form[i * width + j] * folded[i] * folded[j];
        return upper;
    }

    private static float[] Scaled(float[] v, float[] folded) => v.Select((x, i) => x * folded[i]).ToArray();

    /// <summary>
    /// Builds the scan of every segment the frame sidecar holds, in id order: the principal directions from
    /// <see cref="FitSample"/> segments spread over the collection, then every segment's coordinates.
    /// </summary>
    /// <param name="progress">Called with the segments done so far and the total.</param>
    public static XPoolScan Build(FrameSidecar sidecar, TextConditionedPooling pool, int? rank = null, Action<long, long>? progress = null)
    {
        var all = sidecar.Ids;
        return Build(all, chunk => sidecar.Read(chunk).Frames, sidecar.Frames, sidecar.Generation, pool, rank, progress);
    }

    /// <summary>The same from any source of frames: <paramref name="read"/> gives the float32 frames <c>[n, F, D]</c> of ids
    /// (ascending, all present).</summary>
    public static XPoolScan Build(IReadOnlyList<long> segmentIds, Func<long[], Tensor> read, int framesPerSegment, long generation, TextConditionedPooling pool,
        int? rank = null, Action<long, long>? progress = null)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        using var _ = torch.no_grad();
        using var single = new XPoolSingleQuery(pool);
        int n = segmentIds.Count;
        if (n == 0) throw new ArgumentException("no segments to scan", nameof(segmentIds));
        // From segments spread evenly over the collection: the principal directions of LN1(frames) (float64), then one scale
        // per coordinate, ScaleMargin times the largest magnitude in that sample (the rare larger value is clamped).
        float[] meanValues, basisValues;
        double kept;
        int k;
        float[] scale;
        using (var scope = torch.NewDisposeScope())
        {
            var normed = single.LayerNorm1(read(FitPick(segmentIds)));                               // [s, F, D]
            long dim = normed.shape[2];
            k = rank ?? (int)Math.Min(DefaultRank, dim);
            if (k < 1 || k > dim) throw new ArgumentOutOfRangeException(nameof(rank), rank, $"between 1 and the embedding width {dim}");
            var x = normed.reshape(-1, dim).to(ScalarType.Float64);                                     // [s·F, D]
            var m = x.mean([0]);
            var centred = x - m;
            var (values, vectors) = torch.linalg.eigh(centred.T.matmul(centred));                     // ascending
            var order = torch.tensor(Enumerable.Range(0, k).Select(i => dim - 1 - i).ToArray());                  // the k largest
            kept = values.index_select(0, order).sum().item<double>() / Math.Max(1e-300, values.sum().item<double>());
            meanValues = m.to(ScalarType.Float32).data<float>().ToArray();
            basisValues = vectors.index_select(1, order).to(ScalarType.Float32).contiguous().data<float>().ToArray();
            var sampleCoords = (normed - torch.tensor(meanValues)).matmul(torch.tensor(basisValues, [dim, k])).reshape(-1, k);
            var largest = sampleCoords.abs().amax([0]).data<float>().ToArray();
            scale = largest.Select(l => l > 0 ? ScaleMargin * l / sbyte.MaxValue : 1).ToArray();
        }
        var (codes, ids, clamped, _) = Encode(segmentIds, 0, null, read, framesPerSegment, single, (meanValues, basisValues), scale, progress);
        return new XPoolScan(Reduced(pool, (meanValues, basisValues)), ids, codes, scale, framesPerSegment, n, generation, kept, clock.Elapsed.TotalSeconds,
            (meanValues, basisValues)) { Clamped = clamped, FittedCount = n };
    }

    /// <summary>X-Pool's reduced form for the subspace <c>m + U c</c> (<paramref name="subspace"/>: m <c>[D]</c>, U <c>[D, k]</c> row-major).</summary>
    private static XPoolReduced Reduced(TextConditionedPooling pool, (float[] Mean, float[] Basis) subspace)
    {
        using var mean = torch.tensor(subspace.Mean);
        using var basis = torch.tensor(subspace.Basis, [subspace.Mean.Length, subspace.Basis.Length / subspace.Mean.Length]);
        return new XPoolReduced(pool, mean, basis);
    }

    /// <summary>
    /// The codes of <paramref name="segmentIds"/> (every segment's coordinates, quantised block by block as they are computed: no
    /// float copy of the collection), in a new codes tensor whose first <paramref name="from"/> segments (a multiple of
    /// <see cref="Lanes"/>) are copied from <paramref name="kept"/> instead. The codes are in huge pages where the kernel allows:
    /// every query streams the whole array, and with 4 KiB pages that stream pays a TLB miss and restarts the hardware
    /// prefetcher at every page boundary.
    /// </summary>
    /// <returns>Also the share of the encoded frames' variance (about the subspace's origin) that the directions hold.</returns>
    private static (Tensor Codes, long[] Ids, long Clamped, double VarianceKept) Encode(IReadOnlyList<long> segmentIds, int from, Tensor? kept,
        Func<long[], Tensor> read, int f, XPoolSingleQuery single, (float[] Mean, float[] Basis) subspace, float[] scale, Action<long, long>? progress)
    {
        int n = segmentIds.Count, k = scale.Length, groups = (n + Lanes - 1) / Lanes;
        var codes = HugePages.Empty([(long)groups * Lanes * f * k], ScalarType.Int8);                 // [groups, F, k, Lanes]
        long clamped = 0;
        double energy = 0, keptEnergy = 0;
        try
        {
            if (from > 0) Codes(kept!).Slice(0, from * f * k).CopyTo(Codes(codes));
            using var mean = torch.tensor(subspace.Mean);
            using var basis = torch.tensor(subspace.Basis, [subspace.Mean.Length, k]);
            using var scaleTensor = torch.tensor(scale);
            using var lowest = (-sbyte.MaxValue).ToScalar();
            using var highest = sbyte.MaxValue.ToScalar();
            const int block = 4096;                                                                        // a multiple of Lanes
            for (int s0 = from; s0 < n; s0 += block)
            {
                using var scope = torch.NewDisposeScope();
                int len = Math.Min(block, n - s0), padded = (len + Lanes - 1) / Lanes * Lanes;
                var chunk = new long[len];
                for (int i = 0; i < len; i++) chunk[i] = segmentIds[s0 + i];
                var centred = single.LayerNorm1(read(chunk)) - mean;                                       // [len, F, D]
                var projected = centred.matmul(basis);                                                     // [len, F, k]
                energy += centred.square().sum().item<float>();
                keptEnergy += projected.square().sum().item<float>();
                var c = projected / scaleTensor;                                                           // in steps
                clamped += c.abs().gt(highest).sum().item<long>();
                var q = c.round().clamp(lowest, highest).to(ScalarType.Int8);
                if (padded > len) q = torch.cat([q, torch.zeros([padded - len, f, k], ScalarType.Int8)], 0);
                var lanes = q.view(padded / Lanes, Lanes, f, k).permute(0, 2, 3, 1).contiguous();          // [groups, F, k, Lanes]
                MemoryMarshal.Cast<byte, sbyte>(lanes.bytes).CopyTo(Codes(codes).Slice(s0 * f * k, padded * f * k));
                progress?.Invoke(s0 + len, n);
            }
        }
        catch { codes.Dispose(); throw; }
        var ids = new long[groups * Lanes];
        Array.Fill(ids, -1);
        for (int i = 0; i < n; i++) ids[i] = segmentIds[i];
        return (codes, ids, clamped, energy > 0 ? keptEnergy / energy : 1);
    }

    /// <summary>Segments may grow to this multiple of those the directions were fitted on (<see cref="FittedCount"/>) by
    /// <see cref="Extend"/> before the scan is fitted afresh.</summary>
    public const double GrowthBeforeRefit = 1.25;

    /// <summary><see cref="Extend"/> fits afresh instead where the directions hold less of the new segments' variance than
    /// <see cref="VarianceKept"/> less this: new content they do not hold would rank less like X-Pool, unnoticed.</summary>
    public const double VarianceDropBeforeRefit = 0.05;

    /// <summary>Segments the principal directions and scales were fitted on (the collection when it was last built whole).</summary>
    public int FittedCount { get; private init; }

    /// <summary>
    /// This scan caught up with an index that only grew since: the segments of <paramref name="segmentIds"/> past this scan's own
    /// (which must be its first ids, in order) projected on the same directions and scales, the old codes copied. Null where
    /// that is not the case (segments were removed or replaced), where the collection grew past <see cref="GrowthBeforeRefit"/>
    /// times <see cref="FittedCount"/>, or where the directions hold less of the new frames' variance than of the old
    /// (<see cref="VarianceDropBeforeRefit"/>): then it is built afresh.
    /// </summary>
    public XPoolScan? Extend(IReadOnlyList<long> segmentIds, Func<long[], Tensor> read, long generation, TextConditionedPooling pool)
    {
        int n = segmentIds.Count;
        if (n < Count || n > GrowthBeforeRefit * FittedCount) return null;
        for (int i = 0; i < Count; i++) if (segmentIds[i] != ids[i]) return null;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        using var _ = torch.no_grad();
        using var single = new XPoolSingleQuery(pool);
        int from = Count / Lanes * Lanes;                                      // the last partial group is encoded again, whole
        var (newCodes, newIds, clamped, keptNew) = Encode(segmentIds, from, codes, read, frames, single, subspace, scale, null);
        if (keptNew < VarianceKept - VarianceDropBeforeRefit) { newCodes.Dispose(); return null; }
        return new XPoolScan(Reduced(pool, subspace), newIds, newCodes, scale, frames, n, generation, VarianceKept, clock.Elapsed.TotalSeconds, subspace)
            { Clamped = Clamped + clamped, FittedCount = FittedCount, OpenedAs = "extended" };
    }

    /// <summary>The ids of the fitting sample: <see cref="FitSample"/> spread evenly over the collection.</summary>
    private static long[] FitPick(IReadOnlyList<long> segmentIds)
    {
        int n = segmentIds.Count, s = Math.Min(FitSample, n);
        return Enumerable.Range(0, s).Select(i => segmentIds[(int)((long)i * n / s)]).ToArray();
    }

    /// <summary>
    /// The <paramref name="n"/> segments whose compressed frames score best for the text (raw text embedding <c>[D]</c> or
    /// <c>[1, D]</c>), best first.
    /// </summary>
    public long[] Search(Tensor text, int n) => Search(reduced.Prepare(text), n);

    /// <summary>The scores of every segment, in id order (for tests and studies).</summary>
    public float[] ScoreAll(Tensor text)
    {
        var query = reduced.Prepare(text);
        var scores = new float[groups * Lanes];
        var (logit, tau) = Folded(query);
        var scratch = new Vector512<float>[ScratchLength];
        var all = Codes(codes);
        for (int g = 0; g < groups; g++) ScoreGroup(g, logit, tau, query, scores.AsSpan(g * Lanes, Lanes), scratch, all);
        return scores[..Count];
    }

    /// <summary>The same scores by the float64 reference form (<see cref="XPoolReduced.Score"/>) on the stored (8-bit) coordinates: what
    /// the kernel must equal to float32 rounding.</summary>
    public float[] ReferenceScores(Tensor text)
    {
        using var scope = torch.NewDisposeScope();
        var coords = new float[(long)Count * frames * rank];
        var all = Codes(codes);
        for (int i = 0; i < Count; i++)
            for (int fr = 0; fr < frames; fr++)
                for (int j = 0; j < rank; j++)
                    coords[((long)i * frames + fr) * rank + j] = all[((i / Lanes * frames + fr) * rank + j) * Lanes + i % Lanes] * scale[j];
        return reduced.Score(reduced.Prepare(text), torch.tensor(coords, [Count, frames, rank])).data<float>().ToArray();
    }

    /// <summary>A text's logit weights and <c>tau</c> with the codes' scales folded in.</summary>
    private (float[] Logit, float[] Tau) Folded(XPoolReduced.Query query) => (Scaled(query.Logit, folded), Scaled(query.Tau, folded));

    private long[] Search(XPoolReduced.Query query, int n)
    {
        if (n < 1 || Count == 0) return [];
        var (logit, tau) = Folded(query);
        // Threads take chunks of groups from a shared counter rather than one fixed share each: a thread that starts late or
        // shares its core with other work then does less of the scan instead of holding the query up.
        int parts = Math.Max(1, Math.Min(torch.get_num_threads(), groups));
        var best = new PriorityQueue<int, float>[parts];                                               // min-heaps of lane positions
        int next = 0;
        Parallel.For(0, parts, new ParallelOptions { MaxDegreeOfParallelism = parts }, part => best[part] = ScanChunks(ref next, n, logit, tau, query));
        var merged = new List<(float Score, int At)>();
        foreach (var heap in best)
            while (heap.TryDequeue(out int at, out float s)) merged.Add((s, at));
        return merged.OrderByDescending(x => x.Score).ThenBy(x => x.At).Take(n).Select(x => ids[x.At]).ToArray();
    }

    private int ScratchLength => frames * rank + width + frames;

    /// <summary>One thread's share of a search: chunks of groups taken from <paramref name="next"/> until none is left, scored,
    /// and the best <paramref name="n"/> of them kept (a min-heap of lane positions by score).</summary>
    /// <remarks>AggressiveOptimization here and on the kernel: fully optimised code from the first call. Under tiered
    /// compilation a method starts unoptimised (each vector operation a call) and is promoted only after a quiet spell without
    /// other new methods, which a server answering varied requests may not have for a long time: measured in search-query's
    /// latency loop, the first stage at 10^4 segments took about 10 ms instead of 1.</remarks>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private PriorityQueue<int, float> ScanChunks(ref int next, int n, float[] logit, float[] tau, XPoolReduced.Query query)
    {
        var heap = new PriorityQueue<int, float>(n + 1);
        Span<float> scores = stackalloc float[Lanes];
        var scratch = new Vector512<float>[ScratchLength];
        var all = Codes(codes);
        float floor = float.NegativeInfinity;
        for (int g0; (g0 = Interlocked.Add(ref next, ChunkGroups) - ChunkGroups) < groups;)
            for (int g = g0, g1 = Math.Min(groups, g0 + ChunkGroups); g < g1; g++)
            {
                ScoreGroup(g, logit, tau, query, scores, scratch, all);
                // Most groups hold no segment above the floor once the heap is full: one vector comparison skips them.
                if (heap.Count == n && !Vector512.GreaterThanAny(Vector512.Create<float>(scores), Vector512.Create(floor))) continue;
                for (int lane = 0; lane < Lanes; lane++)
                {
                    int at = g * Lanes + lane;
                    float s = scores[lane];
                    if (at >= Count || !(s > floor || heap.Count < n)) continue;
                    heap.Enqueue(at, s);
                    if (heap.Count > n) heap.Dequeue();
                    if (heap.Count == n) heap.TryPeek(out _, out floor);
                }
            }
        return heap;
    }

    /// <summary>X-Pool's score (<see cref="XPoolReduced"/>) of the 16 segments of group <paramref name="g"/>, one per lane.</summary>
    /// <param name="scratch">At least <see cref="ScratchLength"/> vectors, reused from group to group (one per thread).</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void ScoreGroup(int g, float[] logit, float[] tau, XPoolReduced.Query query, Span<float> into, Vector512<float>[] scratch, Span<sbyte> codes)
    {
        // Refs rather than indexers in the loops: no bounds checks where every index is in range by construction. The sums run
        // in four interleaved partial sums (coordinates j, j+1, j+2, j+3): four independent chains of multiply-adds rather than
        // one, whose latency (4 cycles each) would otherwise set the pace.
        int fk = frames * rank, quads = rank & ~3;
        ref var c = ref MemoryMarshal.GetArrayDataReference(scratch);                                  // [F, k] vectors
        ref var zh = ref Unsafe.Add(ref c, fk);                                                        // [width]
        ref var weight = ref Unsafe.Add(ref zh, width);                                                // [F]
        ref sbyte code = ref codes[g * fk * Lanes];
        ref float logitRef = ref MemoryMarshal.GetArrayDataReference(logit);
        for (int h = 0; h < heads; h++)
        {
            // Attention logits over the frames (the first head also widens the codes into c), then the softmax (shifted by
            // the largest logit).
            var top = Vector512.Create(float.NegativeInfinity);
            ref float w = ref Unsafe.Add(ref logitRef, h * rank);
            for (int f = 0; f < frames; f++)
            {
                ref var cf = ref Unsafe.Add(ref c, f * rank);
                ref sbyte codeF = ref Unsafe.Add(ref code, f * rank * Lanes);
                Vector512<float> l0 = default, l1 = default, l2 = default, l3 = default;
                int j = 0;
                for (; j < quads; j += 4)
                {
                    if (h == 0)
                    {
                        Unsafe.Add(ref cf, j) = Widen(ref codeF, j);
                        Unsafe.Add(ref cf, j + 1) = Widen(ref codeF, j + 1);
                        Unsafe.Add(ref cf, j + 2) = Widen(ref codeF, j + 2);
                        Unsafe.Add(ref cf, j + 3) = Widen(ref codeF, j + 3);
                    }
                    l0 = Vector512.FusedMultiplyAdd(Unsafe.Add(ref cf, j), Vector512.Create(Unsafe.Add(ref w, j)), l0);
                    l1 = Vector512.FusedMultiplyAdd(Unsafe.Add(ref cf, j + 1), Vector512.Create(Unsafe.Add(ref w, j + 1)), l1);
                    l2 = Vector512.FusedMultiplyAdd(Unsafe.Add(ref cf, j + 2), Vector512.Create(Unsafe.Add(ref w, j + 2)), l2);
                    l3 = Vector512.FusedMultiplyAdd(Unsafe.Add(ref cf, j + 3), Vector512.Create(Unsafe.Add(ref w, j + 3)), l3);
                }
                for (; j < rank; j++)
                {
                    if (h == 0) Unsafe.Add(ref cf, j) = Widen(ref codeF, j);
                    l0 = Vector512.FusedMultiplyAdd(Unsafe.Add(ref cf, j), Vector512.Create(Unsafe.Add(ref w, j)), l0);
                }
                var l = (l0 + l1) + (l2 + l3);
                Unsafe.Add(ref weight, f) = l;
                top = Vector512.Max(top, l);
            }
            var total = Vector512<float>.Zero;
            for (int f = 0; f < frames; f++)
            {
                var e = ExpOfNonPositive(Unsafe.Add(ref weight, f) - top);
                Unsafe.Add(ref weight, f) = e;
                total += e;
            }
            var inverse = Vector512<float>.One / total;
            // The pooled coordinates z_j = sum_f a_f c_fj, four coordinates at a time (four independent chains over the frames).
            ref var zHead = ref Unsafe.Add(ref zh, h * rank);
            int k = 0;
            for (; k < quads; k += 4)
            {
                Vector512<float> z0 = default, z1 = default, z2 = default, z3 = default;
                for (int f = 0; f < frames; f++)
                {
                    var a = Unsafe.Add(ref weight, f);
                    ref var cf = ref Unsafe.Add(ref c, f * rank + k);
                    z0 = Vector512.FusedMultiplyAdd(a, cf, z0);
                    z1 = Vector512.FusedMultiplyAdd(a, Unsafe.Add(ref cf, 1), z1);
                    z2 = Vector512.FusedMultiplyAdd(a, Unsafe.Add(ref cf, 2), z2);
                    z3 = Vector512.FusedMultiplyAdd(a, Unsafe.Add(ref cf, 3), z3);
                }
                Unsafe.Add(ref zHead, k) = z0 * inverse;
                Unsafe.Add(ref zHead, k + 1) = z1 * inverse;
                Unsafe.Add(ref zHead, k + 2) = z2 * inverse;
                Unsafe.Add(ref zHead, k + 3) = z3 * inverse;
            }
            for (; k < rank; k++)
            {
                var z = Vector512<float>.Zero;
                for (int f = 0; f < frames; f++) z = Vector512.FusedMultiplyAdd(Unsafe.Add(ref weight, f), Unsafe.Add(ref c, f * rank + k), z);
                Unsafe.Add(ref zHead, k) = z * inverse;
            }
        }
        Unsafe.Add(ref zh, width - 1) = Vector512<float>.One;
        // The three forms row by row (zh_i times the row's sum over j >= i): short independent chains the core overlaps.
        ref float s2r = ref MemoryMarshal.GetArrayDataReference(s2), ser = ref MemoryMarshal.GetArrayDataReference(se), snr = ref MemoryMarshal.GetArrayDataReference(sn);
        Vector512<float> q2 = default, qe = default, qn = default, le = default, ln = default, lb = default, lt = default;
        for (int i = 0; i < width; i++)
        {
            var zi = Unsafe.Add(ref zh, i);
            int row = i * width;
            Vector512<float> a2 = default, ae = default, an = default;
            for (int j = i; j < width; j++)
            {
                var zj = Unsafe.Add(ref zh, j);
                a2 = Vector512.FusedMultiplyAdd(zj, Vector512.Create(Unsafe.Add(ref s2r, row + j)), a2);
                ae = Vector512.FusedMultiplyAdd(zj, Vector512.Create(Unsafe.Add(ref ser, row + j)), ae);
                an = Vector512.FusedMultiplyAdd(zj, Vector512.Create(Unsafe.Add(ref snr, row + j)), an);
            }
            q2 = Vector512.FusedMultiplyAdd(zi, a2, q2);
            qe = Vector512.FusedMultiplyAdd(zi, ae, qe);
            qn = Vector512.FusedMultiplyAdd(zi, an, qn);
            le = Vector512.FusedMultiplyAdd(zi, Vector512.Create(linE[i]), le);
            ln = Vector512.FusedMultiplyAdd(zi, Vector512.Create(linN[i]), ln);
            lb = Vector512.FusedMultiplyAdd(zi, Vector512.Create(linB[i]), lb);
            lt = Vector512.FusedMultiplyAdd(zi, Vector512.Create(tau[i]), lt);
        }
        var two = Vector512.Create(2f);
        var inv2 = Vector512<float>.One / Vector512.Sqrt(q2);                                         // 1 / sigma2
        var inv2sq = inv2 * inv2;
        var inv3 = Vector512<float>.One / Vector512.Sqrt(qe * inv2sq + two * le * inv2 + Vector512.Create(reduced.ConstE)); // 1 / sigma3
        var numerator = (lt * inv2 + Vector512.Create(query.TauConst)) * inv3 + Vector512.Create(query.B3Text);
        var gb = lb * inv2 + Vector512.Create(reduced.ConstB);
        var gg = qn * inv2sq + two * ln * inv2 + Vector512.Create(reduced.ConstN);
        var norm = Vector512.Sqrt(gg * inv3 * inv3 + two * gb * inv3 + Vector512.Create(reduced.B3Squared));
        (numerator / norm).CopyTo(into);
    }

    /// <summary>The codes tensor's storage as signed bytes.</summary>
    private static Span<sbyte> Codes(Tensor codes) => MemoryMarshal.Cast<byte, sbyte>(codes.bytes);

    /// <summary>Coordinate <paramref name="j"/> of 16 segments (16 codes from <paramref name="codes"/>, 16 apart) as 16 floats
    /// (one instruction pair with AVX-512).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Widen(ref sbyte codes, int j) => Widen(Vector128.LoadUnsafe(ref Unsafe.Add(ref codes, j * Lanes)));

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static Vector512<float> Widen(Vector128<sbyte> packed)
    {
        if (Avx512F.IsSupported) return Avx512F.ConvertToVector512Single(Avx512F.ConvertToVector512Int32(packed));
        var (lo, hi) = Vector128.Widen(packed);
        var (a, b) = Vector128.Widen(lo);
        var (c, d) = Vector128.Widen(hi);
        return Vector512.Create(Vector256.Create(Vector128.ConvertToSingle(a), Vector128.ConvertToSingle(b)), Vector256.Create(Vector128.ConvertToSingle(c), Vector128.ConvertToSingle(d)));
    }

    /// <summary>
    /// e^x for x &lt;= 0 (the softmax's logits less their largest), to about 2 units in the last place; 0 below -87 (where
    /// float's e^x stops being a normal number). Cephes' <c>expf</c>: x = n ln 2 + r with |r| &lt;= ln 2 / 2, a degree-7
    /// polynomial for e^r, and 2^n put in the exponent bits. Why not <see cref="Vector512.Exp(Vector512{float})"/>: .NET
    /// computes it in double precision, in a call that is not inlined. With this and the four-way sums of the kernel, the scan
    /// of 10^6 segments took about a fifth less time (docs/PERFORMANCE.md, <c>search-query --scan-repeats</c>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> ExpOfNonPositive(Vector512<float> x)
    {
        x = Vector512.Max(x, Vector512.Create(-87.3f));
        var n = Vector512.Round(x * Vector512.Create(1.44269504f));                              // x / ln 2, to the nearest integer
        var r = Vector512.FusedMultiplyAdd(n, Vector512.Create(-0.693359375f), x);               // x - n ln 2, ln 2 in two parts
        r = Vector512.FusedMultiplyAdd(n, Vector512.Create(2.12194440e-4f), r);
        var p = Vector512.FusedMultiplyAdd(Vector512.Create(1.9875691500e-4f), r, Vector512.Create(1.3981999507e-3f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(8.3334519073e-3f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(4.1665795894e-2f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.6666665459e-1f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(5.0000001201e-1f));
        var er = Vector512.FusedMultiplyAdd(p, r * r, r) + Vector512<float>.One;                  // e^r
        var twoN = Vector512.ShiftLeft(Vector512.ConvertToInt32(n) + Vector512.Create(127), 23).AsSingle(); // 2^n, n >= -126
        return er * twoN;
    }

    /// <summary>What opening it did: "loaded" (from its file), "built" (from the frame sidecar) or "extended" (an earlier scan
    /// with the segments added since, <see cref="Extend"/>).</summary>
    public string OpenedAs { get; private set; } = "built";

    /// <summary>Where the scan of the index at <paramref name="indexLocation"/> is kept: <c>INDEX.vsi.xpoolscan</c>.</summary>
    public static string PathFor(string indexLocation) => indexLocation + ".xpoolscan";

    /// <summary>Test hook: called with "body-written" (everything handed to the stream but its checksum, in <c>PATH.tmp</c>) and
    /// "written" (the whole file in <c>PATH.tmp</c>, not yet renamed) while <see cref="Save"/> runs.</summary>
    public static Action<string>? FaultPoint { get; set; }

    private const string Magic = "VIDSEEK-XPOOLSCAN";
    private const int FormatVersion = 2;                 // 2: the segments the directions were fitted on

    /// <summary>
    /// The scan of <paramref name="store"/>'s segments: loaded from its file (<see cref="PathFor"/>) when that file was written
    /// for the store's current generation and model; where the index only grew since (the file's, or
    /// <paramref name="previous"/>, this process's scan of an earlier generation), that scan extended by the new segments
    /// (<see cref="Extend"/>); else built from <paramref name="sidecar"/>. A scan it extended or built is saved for the next
    /// open. Derived data, like the sidecar: a damaged file or one of another format is rebuilt after a warning, a stale one
    /// (the index changed since) silently; where it cannot be saved (a read-only folder, a full disk) it is used from memory
    /// after a warning and built again on the next open. Saved beside and renamed over, so a killed save leaves the old file.
    /// </summary>
    public static XPoolScan Open(IIndexStore store, FrameSidecar sidecar, TextConditionedPooling pool, Action<string>? warn = null, XPoolScan? previous = null)
    {
        string path = PathFor(store.Location);
        string sha = store.Manifest.ModelSha256;
        XPoolScan? stale = null;                                            // a scan of an earlier generation, to extend
        try
        {
            if (previous is null && File.Exists(path))
            {
                try
                {
                    var loaded = ChecksummedFile.ReadOrWarn(path, p => Load(p, pool, sha), store.Location, warn);
                    if (loaded is not null && loaded.Generation == store.Generation && loaded.Count == store.SegmentCount) return loaded;
                    stale = loaded;
                }
                catch (StaleScanException) { }                              // another model's: rebuilt below
                catch (UnauthorizedAccessException e) { warn?.Invoke($"{path} cannot be read ({e.Message}); rebuilding it from {store.Location}"); }
            }
            var scan = (previous ?? stale)?.Extend(sidecar.Ids, ids => sidecar.Read(ids).Frames, sidecar.Generation, pool) ?? Build(sidecar, pool);
            if (scan.Generation != store.Generation) return scan;           // the index moved on while it was made: not worth saving
            try { scan.Save(path, sha); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                warn?.Invoke($"{path}: could not save X-Pool's first stage ({e.Message}); it is built again on each open");
            }
            return scan;
        }
        finally { stale?.Dispose(); }
    }

    /// <summary>
    /// Writes the scan to <paramref name="path"/>: to <c>PATH.tmp</c> first (opened exclusively, so a second process saving at
    /// the same moment gets an <see cref="IOException"/> instead of interleaving; one killed while writing leaves a file the next
    /// save overwrites), then renamed over it.
    /// </summary>
    public void Save(string path, string modelSha256)
    {
        string tmp = path + ".tmp";
        bool written = false;                          // the temporary file is this process's (not another's that holds it)
        try
        {
            ChecksummedStream.Write(tmp, w =>
            {
                written = true;
                w.Write(Magic);
                w.Write(FormatVersion);
                w.Write(modelSha256);
                w.Write(Generation);
                w.Write(Count);
                w.Write(frames);
                w.Write(rank);
                w.Write(heads);
                w.Write(subspace.Mean.Length);
                w.Write(VarianceKept);
                w.Write(Clamped);
                w.Write(FittedCount);
                w.Write(MemoryMarshal.AsBytes(subspace.Mean.AsSpan()));
                w.Write(MemoryMarshal.AsBytes(subspace.Basis.AsSpan()));
                w.Write(MemoryMarshal.AsBytes(scale.AsSpan()));
                w.Write(MemoryMarshal.AsBytes(ids.AsSpan(0, Count)));
                w.Write(MemoryMarshal.AsBytes(Codes(codes)));
                FaultPoint?.Invoke("body-written");
            });
            FaultPoint?.Invoke("written");
            File.Move(tmp, path, overwrite: true);
        }
        catch
        {
            if (written) try { File.Delete(tmp); } catch (IOException) { }
            throw;
        }
    }

    /// <summary>The scan file was written for another model (not damage: rebuilt without a warning).</summary>
    private sealed class StaleScanException() : Exception("stale");

    /// <summary>A scan file <see cref="Save"/> wrote, checked whole (its hash) before it is used; its <see cref="Generation"/> is
    /// the one it was saved for, which the caller compares with the index's.</summary>
    private static XPoolScan Load(string path, TextConditionedPooling pool, string modelSha256)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        Tensor? codes = null;
        try
        {
            var header = ChecksummedStream.Read(path, r =>
            {
                if (r.ReadString() != Magic) throw new InvalidDataException("not a VidSeek X-Pool scan");
                int version = r.ReadInt32();
                if (version != FormatVersion) throw new OtherFormatException($"format version {version}, this version reads {FormatVersion}");
                string sha = r.ReadString();
                long savedGeneration = r.ReadInt64();
                int n = r.ReadInt32(), f = r.ReadInt32(), k = r.ReadInt32(), h = r.ReadInt32(), dim = r.ReadInt32();
                if (sha != modelSha256) throw new StaleScanException();
                long body = r.BaseStream.Length;   // every size is checked against the body before anything is allocated
                if (n < 1 || f < 1 || h != pool.NumHeads || dim < 1 || k < 1 || k > dim || (long)n * f * k > body || (long)dim * k * 4 > body || (long)n * 8 > body)
                    throw new InvalidDataException("bad dimensions");
                double kept = r.ReadDouble();
                long clamped = r.ReadInt64();
                int fitted = r.ReadInt32();
                if (fitted < 1 || fitted > n) throw new InvalidDataException($"fitted on {fitted} of {n} segments");
                var mean = Floats(r, dim);
                var basis = Floats(r, dim * k);
                var scale = Floats(r, k);
                int groups = (n + Lanes - 1) / Lanes;
                var ids = new long[groups * Lanes];
                Array.Fill(ids, -1);
                r.BaseStream.ReadExactly(MemoryMarshal.AsBytes(ids.AsSpan(0, n)));
                codes = HugePages.Empty([(long)groups * Lanes * f * k], ScalarType.Int8);
                r.BaseStream.ReadExactly(MemoryMarshal.AsBytes(Codes(codes)));
                return (n, f, k, kept, clamped, fitted, savedGeneration, mean, basis, scale, ids);
            });
            var scan = new XPoolScan(Reduced(pool, (header.mean, header.basis)), header.ids, codes!, header.scale, header.f, header.n, header.savedGeneration, header.kept, 0, (header.mean, header.basis))
                { Clamped = header.clamped, FittedCount = header.fitted, OpenedAs = "loaded", Seconds = clock.Elapsed.TotalSeconds };
            codes = null;
            return scan;
        }
        finally { codes?.Dispose(); }
    }

    private static float[] Floats(BinaryReader r, int count)
    {
        var values = new float[count];
        r.BaseStream.ReadExactly(MemoryMarshal.AsBytes(values.AsSpan()));
        return values;
    }

    public void Dispose()
    {
        reduced.Dispose();
        codes.Dispose();
    }
}
