using System.IO.Hashing;
using System.Text;
using Cloud.Unum.USearch;
using TorchSharp;
using static TorchSharp.torch;

namespace VidSeek.Index;

/// <summary>How the first stage's HNSW graph is built (USearch).</summary>
public sealed record AnnOptions
{
    /// <summary>How vectors are stored: half precision keeps the inner products to about 1e-3, at half the memory of float32.</summary>
    public ScalarKind Quantization { get; init; } = ScalarKind.Float16;
    /// <summary>HNSW M: neighbours per node.</summary>
    public ulong Connectivity { get; init; } = 16;
    /// <summary>HNSW ef_construction.</summary>
    public ulong ExpansionAdd { get; init; } = 128;
    /// <summary>Segments read per block while building.</summary>
    public int Block { get; init; } = 1024;
    /// <summary>Threads that add vectors at once while building (at most the core count); 1 adds them one after another.</summary>
    public int Threads { get; init; } = 1;
}

/// <summary>
/// The first stage of search on a large index: an approximate nearest-neighbour index (USearch HNSW, inner product, float16)
/// over K vectors per segment (<see cref="IndexModel.AnnVectors"/>: X-Pool's 8 centroids of its pooling's vertices and edge midpoints, one vector for mean
/// pooling and VLT), scored by the best of a segment's K. It lives beside the SQLite index and is never the source of truth:
/// it can always be rebuilt from the store, and is checked against it whenever it is opened.
/// </summary>
/// <remarks>
/// Keys: vector j of segment s is USearch key <c>s·K + j</c>; a search asks for more vectors than segments and keeps each
/// segment's first (best) hit. Explicit keys rather than USearch's multi-key mode (several vectors under one key): every
/// vector stays addressable on its own (the spot check on open compares each of them), removal is K plain removes, and the
/// C binding's multi-key lookups (which vector of a key <c>get</c> returns, in which order) are not needed.
/// Files: <c>INDEX.vsi.ann</c>, a small header (format, kind of vectors and K, model hash, dimensions, the store's generation
/// when it was written, the sorted segment ids, the name, length and XxHash3 of the data file, and a checksum of itself), and
/// the data file it names, <c>INDEX.vsi.ann-GEN-RANDOM.usearch</c> (USearch's own format). An update writes a new data file
/// under a new name, then a new header beside the old one, then renames the header over it (the commit point), then
/// deletes the old data file. A process killed at any moment leaves the old header naming the old, intact data file (stale:
/// caught up on the next open) or the new header naming the new, complete one.
/// On open: a header or data file that does not parse or check out is rebuilt with a warning; one written for another model
/// or index (a spot check of stored vectors against the store's segments fails) is rebuilt; one of an older generation is
/// brought up to date by the difference of the id sets (segment ids are never reused, and a segment is never changed in
/// place: a replaced video gets new ids). Nothing stale is ever searched.
/// </remarks>
public sealed class AnnIndex : IDisposable
{
    private const string Magic = "VIDSEEK-ANN";
    /// <summary>2: K vectors per segment (keys s·K + j) and their kind in the header; 1 (one mean vector, key s) is rebuilt.</summary>
    private const int FormatVersion = 2;

    /// <summary>
    /// The fewest vectors a search of K &gt; 1 vectors a segment asks USearch for, i.e. the smallest HNSW beam (USearch's beam
    /// is the larger of its expansion_search, 64 by default and not stored in the file, and the count asked for). A segment's
    /// K vectors lie close together, so a beam of 64 holds the vectors of only a few segments, and a text query, far from
    /// every segment vector (cosine 0.3-0.5 against 0.8-0.98 between a segment's own vectors), then stops in the wrong part
    /// of the graph: with X-Pool's 8 centroids a segment, a search for 20 segments (40 vectors, beam 64) missed the
    /// brute-force best segment on a 250-segment index, found with a beam of 128 (AnnIndexTests' first-stage test).
    /// </summary>
    private const long MinVectorsAsked = 256;

    /// <summary>Test hook: called with "data-written" (new data file complete, header not yet written) and "header-written" (new header beside, not yet renamed).</summary>
    public static Action<string>? FaultPoint { get; set; }

    private USearchIndex index;
    private long[] keys; // sorted ascending
    private readonly object gate = new();

    /// <summary>The header file, <c>INDEX.vsi.ann</c>.</summary>
    public string HeaderPath { get; }
    /// <summary>The store's generation this ANN index is in step with.</summary>
    public long Generation { get; private set; }
    /// <summary>Segments in the index.</summary>
    public int Count => keys.Length;
    public int Dimensions { get; }
    /// <summary>K: vectors per segment.</summary>
    public int PerSegment { get; }
    /// <summary><see cref="IndexModel.AnnKind"/> of the vectors.</summary>
    public string Kind { get; }
    /// <summary>How many vectors the last <see cref="Search"/> asked USearch for (it asks again for more when too few distinct segments came back).</summary>
    public int LastVectorsAsked { get; private set; }
    /// <summary>What opening it did: "fresh", "updated (+A -R)" or "built" (with the reason).</summary>
    public string OpenedAs { get; private set; } = "";

    private string? viewPath; // the data file while the index is a memory-mapped view of it

    /// <summary>
    /// Makes the memory-mapped data file's pages resident in this process now (Linux <c>madvise(MADV_POPULATE_READ)</c> on
    /// the mapping, found in <c>/proc/self/maps</c>), so that the first queries of a long-lived process (<c>serve</c>) do not
    /// pay a page fault on every graph node they visit: at 10^6 segments those faults doubled the first stage's time inside a
    /// latency loop (docs/PERFORMANCE.md). Skipped where the file is larger than half the available memory (it would only
    /// evict itself), where the index is not a view (it was updated or built in memory), and off Linux. Returns the bytes
    /// made resident (0 when skipped); a refusal from the kernel is not an error, only a missed speed-up.
    /// </summary>
    public long Prefault()
    {
        if (viewPath is null || !OperatingSystem.IsLinux()) return 0;
        try
        {
            var ranges = new List<(ulong Start, ulong End)>();
            foreach (var line in File.ReadLines("/proc/self/maps"))
            {
                // "start-end perms offset dev inode path"
                if (!line.EndsWith(viewPath, StringComparison.Ordinal)) continue;
                var span = line.AsSpan(0, line.IndexOf(' '));
                int dash = span.IndexOf('-');
                ranges.Add((ulong.Parse(span[..dash], System.Globalization.NumberStyles.HexNumber), ulong.Parse(span[(dash + 1)..], System.Globalization.NumberStyles.HexNumber)));
            }
            long bytes = ranges.Sum(r => (long)(r.End - r.Start));
            if (bytes == 0 || bytes > AvailableMemory() / 2) return 0;
            return ranges.Where(r => MemoryAdvice.Advise((long)r.Start, (long)(r.End - r.Start), MemoryAdvice.PopulateRead)).Sum(r => (long)(r.End - r.Start));
        }
        // /proc unreadable: only a missed speed-up.
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return 0; }
    }

    /// <summary>MemAvailable from /proc/meminfo in bytes (long.MaxValue where it cannot be read).</summary>
    private static long AvailableMemory()
    {
        foreach (var line in File.ReadLines("/proc/meminfo"))
            if (line.StartsWith("MemAvailable:", StringComparison.Ordinal)
                && long.TryParse(line["MemAvailable:".Length..].Trim().Split(' ')[0], out long kib)) return kib * 1024;
        return long.MaxValue;
    }

    private AnnIndex(string headerPath, USearchIndex index, long[] keys, long generation, int dimensions, string kind, int perSegment)
    {
        HeaderPath = headerPath;
        this.index = index;
        this.keys = keys;
        Generation = generation;
        Dimensions = dimensions;
        Kind = kind;
        PerSegment = perSegment;
    }

    /// <summary>Where the ANN header of an index file lives.</summary>
    public static string PathFor(string indexLocation) => indexLocation + ".ann";

    private static ulong Key(long segment, int j, int perSegment) => checked((ulong)segment * (ulong)perSegment + (ulong)j);

    /// <summary>
    /// Opens the ANN index of <paramref name="store"/>, in step with it: checked, caught up incrementally, or rebuilt from the
    /// store. When it changed it is saved (atomically) if <paramref name="save"/> and the folder is writable; a failed save
    /// is a warning, the index in memory is still right.
    /// </summary>
    /// <param name="warn">Receives one line per problem found (a corrupt or mismatched file that is being rebuilt).</param>
    /// <param name="header">The header file; <see cref="PathFor"/> of the store by default (another model over the same
    /// frames, e.g. mean pooling on an X-Pool index, keeps its own first stage under another name).</param>
    public static AnnIndex Open(IIndexStore store, IndexModel model, Action<string>? warn = null, bool save = true, AnnOptions? options = null, string? header = null)
    {
        options ??= new AnnOptions();
        header ??= PathFor(store.Location);
        var ann = TryLoad(store, model, header, warn);
        bool changed;
        if (ann is null)
        {
            ann = Build(store, model, header, options);
            changed = true;
        }
        else changed = ann.CatchUp(store, model, options);
        if (changed && save)
        {
            try { ann.Save(store.Manifest.ModelSha256); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or USearchException)
            {
                warn?.Invoke($"{header}: could not save the approximate index ({e.Message}); it is rebuilt in memory on every open until it can be");
            }
        }
        return ann;
    }

    /// <summary>
    /// The ids of the (about) <paramref name="n"/> segments whose best vector has the largest inner product with
    /// <paramref name="query"/>, best first. USearch returns vectors, several of one segment among them: it is asked for
    /// 2n vectors (at least <see cref="MinVectorsAsked"/> when K &gt; 1), then for twice as many until n distinct segments came
    /// back (or every vector was asked for).
    /// </summary>
    public long[] Search(float[] query, int n)
    {
        if (query.Length != Dimensions) throw new ArgumentException($"query has {query.Length} dimensions, the index {Dimensions}");
        if (Count == 0 || n < 1) return [];
        n = Math.Min(n, Count);
        long total = (long)Count * PerSegment;
        long ask = PerSegment == 1 ? n : Math.Min(total, Math.Max(2L * n, MinVectorsAsked));
        lock (gate) // one native search at a time: the C binding searches on one thread slot
        {
            while (true)
            {
                int found = index.Search(query, (int)ask, out var foundKeys, out _);
                var seen = new HashSet<long>();
                var ids = new List<long>(n);
                for (int i = 0; i < found && ids.Count < n; i++)
                {
                    long id = (long)(foundKeys[i] / (ulong)PerSegment);
                    if (seen.Add(id)) ids.Add(id);
                }
                LastVectorsAsked = (int)ask;
                if (ids.Count >= n || ask >= total) return ids.ToArray();
                ask = Math.Min(total, 2 * ask);
            }
        }
    }

    /// <summary>Whether the graph holds every one of <paramref name="segment"/>'s K vectors (a lookup by key, not a search).</summary>
    public bool Holds(long segment)
    {
        lock (gate)
            for (int j = 0; j < PerSegment; j++)
                if (!index.Contains(Key(segment, j, PerSegment))) return false;
        return true;
    }

    /// <summary>Reads, checks and spot-checks the files; null (after a warning where something was wrong) when they cannot be used.</summary>
    private static AnnIndex? TryLoad(IIndexStore store, IndexModel model, string header, Action<string>? warn)
    {
        if (!File.Exists(header)) return null;
        if (ChecksummedFile.ReadOrWarn(header, Header.Read, store.Location, warn) is not { } h) return null;
        if (h.ModelSha256 != store.Manifest.ModelSha256)
        {
            warn?.Invoke($"{header} was built for another model; rebuilding it from {store.Location}");
            return null;
        }
        int perSegment = model.AnnVectorsPerSegment(store.Manifest.Frames);
        if (h.Kind != model.AnnKind || h.PerSegment != perSegment)
        {
            warn?.Invoke($"{header} holds other first-stage vectors ({h.Kind}, {h.PerSegment} a segment; this model searches with {model.AnnKind}, {perSegment}); rebuilding it from {store.Location}");
            return null;
        }
        string data = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(header))!, h.DataFile);
        string? problem = !File.Exists(data) ? $"its data file {h.DataFile} is missing"
            : new FileInfo(data).Length != h.DataLength ? $"its data file {h.DataFile} has the wrong length"
            : Hash(data) != h.DataHash ? $"its data file {h.DataFile} does not match its checksum"
            : null;
        if (problem is not null)
        {
            warn?.Invoke($"{header}: {problem}; rebuilding it from {store.Location}");
            return null;
        }
        USearchIndex index;
        try { index = new USearchIndex(data, view: true); } // memory-mapped: pages are read on demand and shared between processes
        catch (USearchException e)
        {
            warn?.Invoke($"{header}: {h.DataFile} cannot be read ({e.Message}); rebuilding it from {store.Location}");
            return null;
        }
        var ann = new AnnIndex(header, index, h.Keys, h.Generation, h.Dimensions, h.Kind, h.PerSegment) { viewPath = Path.GetFullPath(data) };
        string? mismatch = index.Size() != (ulong)h.Keys.Length * (ulong)h.PerSegment ? $"it holds {index.Size()} vectors where its header lists {h.Keys.Length} segments of {h.PerSegment}"
            : (int)index.Dimensions() != h.Dimensions ? "its dimensions differ from its header's"
            : ann.SpotCheck(store, model, sameGeneration: h.Generation == store.Generation);
        if (mismatch is not null)
        {
            ann.Dispose();
            warn?.Invoke($"{header} does not match {store.Location} ({mismatch}); rebuilding it");
            return null;
        }
        ann.OpenedAs = "fresh";
        return ann;
    }

    /// <summary>
    /// Compares the stored vectors of a few keys, spread over the key range, with the vectors computed from the store's
    /// segments of the same ids: an ANN file of another index (or a stale one that the generation does not reveal) fails here.
    /// </summary>
    private string? SpotCheck(IIndexStore store, IndexModel model, bool sameGeneration)
    {
        var (problem, segments) = SpotCheckSample.Fetch(store, keys, sameGeneration);
        if (problem is not null || segments.Count == 0) return problem;
        var expected = Vectors(store, model, segments); // [S·K]
        for (int i = 0; i < segments.Count; i++)
            for (int j = 0; j < PerSegment; j++)
            {
                if (index.Get(Key(segments[i].Id, j, PerSegment), out float[] stored) < 1) return $"vector {j} of segment {segments[i].Id} is missing";
                // float16 storage: a few 1e-3 of difference; another index's vector differs by far more.
                var want = expected[i * PerSegment + j];
                double diff = 0, norm = 0;
                for (int d = 0; d < stored.Length; d++) { diff += Math.Abs(stored[d] - want[d]); norm += Math.Abs(want[d]); }
                if (diff > 0.01 * norm + 1e-6) return $"vector {j} of segment {segments[i].Id} differs";
            }
        return null;
    }

    /// <summary>Adds the store's new segments and removes its deleted ones (an id set difference); true if anything changed.</summary>
    private bool CatchUp(IIndexStore store, IndexModel model, AnnOptions options)
    {
        long generation = store.Generation; // read before the ids: a write in between shows as stale next time, never as fresh
        if (generation == Generation && store.SegmentCount == Count) return false;
        var ids = store.SegmentIds();
        var have = new HashSet<long>(keys);
        var want = new HashSet<long>(ids);
        var added = ids.Where(id => !have.Contains(id)).ToList();
        var removed = keys.Where(id => !want.Contains(id)).ToList();
        if (added.Count + removed.Count > Math.Max(1024, Count / 2))
        {
            // Mostly new: a fresh graph is as quick to build and better connected than one with many deletions.
            var rebuilt = Build(store, model, HeaderPath, options);
            if (rebuilt.PerSegment != PerSegment || rebuilt.Kind != Kind) throw new InvalidOperationException("the model's first-stage vectors changed");
            (index, rebuilt.index) = (rebuilt.index, index);
            viewPath = null;
            keys = rebuilt.keys;
            Generation = rebuilt.Generation;
            rebuilt.Dispose();
            OpenedAs = $"rebuilt ({added.Count} added, {removed.Count} removed since it was written)";
            return true;
        }
        // A memory-mapped view is read-only: load it to change it.
        var data = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(HeaderPath))!, Header.Read(HeaderPath).DataFile);
        var loaded = new USearchIndex(data, view: false);
        index.Dispose();
        index = loaded;
        viewPath = null;
        foreach (long id in removed)
            for (int j = 0; j < PerSegment; j++) index.Remove(Key(id, j, PerSegment));
        foreach (var block in added.Chunk(options.Block))
        {
            var segments = store.Segments(block, withTokens: false);
            index.Add(Keys(segments, PerSegment), Vectors(store, model, segments));
        }
        keys = ids;
        Generation = generation;
        OpenedAs = $"updated ({added.Count} added, {removed.Count} removed)";
        return true;
    }

    /// <summary>Builds the index from every segment of the store, streamed in blocks.</summary>
    public static AnnIndex Build(IIndexStore store, IndexModel model, string header, AnnOptions? options = null)
    {
        options ??= new AnnOptions();
        long generation = store.Generation;
        int dims = AnnDimensions(store, model);
        int perSegment = model.AnnVectorsPerSegment(store.Manifest.Frames);
        var index = new USearchIndex(MetricKind.Ip, options.Quantization, (ulong)dims, options.Connectivity, options.ExpansionAdd);
        var keys = new List<long>();
        try
        {
            int threads = Math.Clamp(options.Threads, 1, Environment.ProcessorCount);
            foreach (var block in store.Segments(withTokens: false).Chunk(options.Block))
            {
                var blockKeys = Keys(block, perSegment);
                var vectors = Vectors(store, model, block);
                if (threads > 1 && ConcurrentAdds.Reserve(index, index.Size() + (ulong)blockKeys.Length))
                    Parallel.For(0, blockKeys.Length, new ParallelOptions { MaxDegreeOfParallelism = threads }, i => index.Add(blockKeys[i], vectors[i]));
                else index.Add(blockKeys, vectors);
                keys.AddRange(block.Select(s => s.Id));
            }
        }
        catch
        {
            index.Dispose();
            throw;
        }
        keys.Sort();
        return new AnnIndex(header, index, keys.ToArray(), generation, dims, model.AnnKind, perSegment) { OpenedAs = "built" };
    }

    /// <summary>E', the width of the first stage's vectors (E for a dual encoder, the ITC projection's for a VLT).</summary>
    private static int AnnDimensions(IIndexStore store, IndexModel model)
    {
        using var scope = torch.NewDisposeScope();
        return (int)model.AnnVectors(torch.zeros(1, store.Manifest.Frames, store.Manifest.EmbedDim)).shape[2];
    }

    /// <summary>The USearch keys of some segments' vectors, in the order of <see cref="Vectors"/>.</summary>
    private static ulong[] Keys(IReadOnlyList<IndexedSegment> segments, int perSegment)
    {
        var keys = new ulong[segments.Count * perSegment];
        for (int i = 0; i < segments.Count; i++)
            for (int j = 0; j < perSegment; j++) keys[i * perSegment + j] = Key(segments[i].Id, j, perSegment);
        return keys;
    }

    /// <summary>The first-stage vectors of some segments, one float[] each: segment i's K vectors at i·K .. i·K + K - 1.</summary>
    private static float[][] Vectors(IIndexStore store, IndexModel model, IReadOnlyList<IndexedSegment> segments)
    {
        if (segments.Count == 0) return [];
        var m = store.Manifest;
        long per = (long)m.Frames * m.EmbedDim;
        var flat = new float[segments.Count * per];
        for (int i = 0; i < segments.Count; i++) segments[i].FrameEmbeddings.CopyTo(flat, i * per);
        using var scope = torch.NewDisposeScope();
        var v = model.AnnVectors(torch.tensor(flat, [segments.Count, m.Frames, m.EmbedDim])).to(ScalarType.Float32).contiguous(); // [S, K, E']
        var values = v.data<float>().ToArray();
        int d = (int)v.shape[2], rows = (int)(v.shape[0] * v.shape[1]);
        return Enumerable.Range(0, rows).Select(i => values.AsSpan(i * d, d).ToArray()).ToArray();
    }

    /// <summary>Writes the data file under a new name, then the header beside and over the old one, then drops the old data.</summary>
    private void Save(string modelSha256)
    {
        string dir = Path.GetDirectoryName(Path.GetFullPath(HeaderPath))!;
        string prefix = Path.GetFileName(HeaderPath) + "-";
        string name = $"{prefix}{Generation}-{Guid.NewGuid().ToString("N")[..8]}.usearch";
        string data = Path.Combine(dir, name);
        lock (gate) index.Save(data);
        using (var f = new FileStream(data, FileMode.Open, FileAccess.ReadWrite)) f.Flush(flushToDisk: true);
        FaultPoint?.Invoke("data-written");
        var h = new Header(Dimensions, Generation, modelSha256, Kind, PerSegment, name, new FileInfo(data).Length, Hash(data), keys);
        string tmp = HeaderPath + ".tmp";
        h.Write(tmp);
        FaultPoint?.Invoke("header-written");
        File.Move(tmp, HeaderPath, overwrite: true);
        // Old data files (and any left by a process killed before its rename) are no longer named by the header.
        foreach (var old in Directory.EnumerateFiles(dir, prefix + "*.usearch"))
            if (Path.GetFileName(old) != name)
                try { File.Delete(old); } catch (IOException) { }
    }

    private static ulong Hash(string file)
    {
        var hash = new XxHash3();
        using var stream = File.OpenRead(file);
        hash.Append(stream);
        return hash.GetCurrentHashAsUInt64();
    }

    public void Dispose() => index.Dispose();

    /// <summary>
    /// Concurrent construction. USearch's native index takes adds from several threads at once once its capacity is reserved
    /// (each add takes one of the thread slots that <c>usearch_reserve</c> sizes to the core count), but the C# binding
    /// (Cloud.Unum.USearch 2.26.6) adds one vector at a time and keeps reserve private (its <c>Add</c> reserves when full, which
    /// is not safe to race). So the capacity for a block is reserved here, between parallel phases, through the binding's
    /// native handle and the C API's own <c>usearch_reserve</c>; where the handle cannot be found (another binding version)
    /// this says so by returning false and the block is added on one thread.
    /// </summary>
    private static class ConcurrentAdds
    {
        private static readonly System.Reflection.FieldInfo? Handle =
            typeof(USearchIndex).GetField("_index", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance);

        [System.Runtime.InteropServices.DllImport("libusearch_c")]
        private static extern void usearch_reserve(IntPtr index, UIntPtr capacity, out IntPtr error);

        public static bool Reserve(USearchIndex index, ulong capacity)
        {
            if (Handle?.GetValue(index) is not IntPtr handle || handle == IntPtr.Zero) return false;
            if (index.Capacity() >= capacity) return true;
            usearch_reserve(handle, (UIntPtr)capacity, out IntPtr error);
            if (error != IntPtr.Zero) throw new USearchException(System.Runtime.InteropServices.Marshal.PtrToStringAnsi(error) ?? "usearch_reserve failed");
            return index.Capacity() >= capacity;
        }
    }

    /// <summary>The header: binary, little-endian, ending in the XxHash3 of everything before it.</summary>
    private sealed record Header(int Dimensions, long Generation, string ModelSha256, string Kind, int PerSegment, string DataFile, long DataLength, ulong DataHash, long[] Keys)
    {
        public void Write(string path)
        {
            using var body = new MemoryStream();
            using (var w = new BinaryWriter(body, Encoding.UTF8, leaveOpen: true))
            {
                w.Write(Magic);
                w.Write(FormatVersion);
                w.Write(Dimensions);
                w.Write(Generation);
                w.Write(ModelSha256);
                w.Write(Kind);
                w.Write(PerSegment);
                w.Write(DataFile);
                w.Write(DataLength);
                w.Write(DataHash);
                w.Write(Keys.Length);
                foreach (long k in Keys) w.Write(k);
            }
            ChecksummedFile.Write(path, body.ToArray());
        }

        public static Header Read(string path)
        {
            using var r = new BinaryReader(ChecksummedFile.Read(path), Encoding.UTF8);
            if (r.ReadString() != Magic) throw new InvalidDataException("not a VidSeek ANN header");
            int version = r.ReadInt32();
            if (version != FormatVersion) throw new OtherFormatException($"format version {version}, this version reads {FormatVersion}");
            int dims = r.ReadInt32();
            long generation = r.ReadInt64();
            string sha = r.ReadString(), kind = r.ReadString();
            int perSegment = r.ReadInt32();
            if (perSegment < 1) throw new InvalidDataException("bad vector count");
            string data = r.ReadString();
            if (data.Contains('/') || data.Contains('\\') || data.Contains("..")) throw new InvalidDataException("bad data file name");
            long length = r.ReadInt64();
            ulong hash = r.ReadUInt64();
            int n = r.ReadInt32();
            if (n < 0 || (long)n * 8 > r.BaseStream.Length) throw new InvalidDataException("bad key count");
            var keys = new long[n];
            for (int i = 0; i < n; i++) keys[i] = r.ReadInt64();
            return new Header(dims, generation, sha, kind, perSegment, data, length, hash, keys);
        }
    }

    /// <summary>A header written by another version of the format (checksum intact).</summary>
}
