using System.IO.Hashing;
using Microsoft.Win32.SafeHandles;
using System.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace VidSeek.Index;

/// <summary>How the frame sidecar stores a frame value.</summary>
public enum FrameStorage
{
    /// <summary>Half precision: half the disk and page cache of float32; the candidates' single-query scores move by about 1e-4
    /// (the final shortlist is scored from the store's float32 rows, so the scores a search returns are exact).</summary>
    Float16 = 2,
    /// <summary>The store's float32 values, bit for bit.</summary>
    Float32 = 4,
}

/// <summary>
/// The per-frame embeddings of every segment of a SQLite index, in one file beside it, so that search's second stage reads
/// its candidates by offset (about 3 us a segment, one <c>pread</c> each) instead of SQLite rows (about 36 us a segment).
/// Like the ANN file (<see cref="AnnIndex"/>) it is never the source of truth: it can always be rebuilt from the store, is
/// checked against it on open, and follows it incrementally.
/// </summary>
/// <remarks>
/// Files: <c>INDEX.vsi.frames</c>, a header (format, model hash, frames F and width E, storage, the store's generation
/// when written, the data file's name, its row count, the XxHash3 of each appended extent of rows, each row's segment and
/// video id (-1 for a row whose segment was removed), and a checksum of itself), and the data file it names,
/// <c>INDEX.vsi.frames-RANDOM.bin</c>: rows of <c>[F, E]</c> values, row-major, appended in the order segments were added.
/// Segment ids are never reused and a segment never changes in place, so an update only appends the new segments' rows and
/// marks the removed ones as holes. Crash safety: the data file is first cut back to the rows the current header names
/// (dropping what a killed update appended), the new rows are appended and flushed, then a new header is written beside the
/// old one and renamed over it (the commit point). A process killed at any moment leaves the old header naming an intact
/// prefix of the data file (stale: caught up on the next open) or the new header naming the complete one. When holes
/// outnumber live rows the file is rewritten under a new name. One process updates it at a time (<c>INDEX.vsi.frames.lock</c>);
/// another that finds it locked or the folder read-only and the file not current goes without it (the store's rows are read).
/// On open: a header or data file that does not parse or check out (length, extent hashes) is rebuilt with a warning, and so
/// is one whose spot check of stored rows against the store's segments fails (another index's file).
/// </remarks>
public sealed class FrameSidecar : IDisposable
{
    private const string Magic = "VIDSEEK-FRAMES";
    private const int FormatVersion = 1;
    private const int Block = 1024;

    /// <summary>Test hook: called with "data-written" (rows appended and flushed, header not yet written) and "header-written" (new header beside, not yet renamed).</summary>
    public static Action<string>? FaultPoint { get; set; }

    private readonly string modelSha256;   // the store's model, recorded in the header
    private string dataName;
    private long rows;                     // rows in the data file that the header names
    private List<Extent> extents;
    private long[] rowSegment, rowVideo;   // per row; -1: a removed segment's row
    private long[] sortedIds = [];         // live segment ids, ascending
    private long[] sortedRows = [];        // their rows
    private SafeFileHandle? data;          // the data file, open for reading rows (pread); see Read for why not a mapping

    /// <summary>The header file, <c>INDEX.vsi.frames</c>.</summary>
    public string HeaderPath { get; }
    /// <summary>The store's generation this sidecar is in step with.</summary>
    public long Generation { get; private set; }
    /// <summary>Segments it holds.</summary>
    public int Count => sortedIds.Length;
    /// <summary>The segment ids it holds, ascending.</summary>
    public IReadOnlyList<long> Ids => sortedIds;
    /// <summary>F and E of a row.</summary>
    public int Frames { get; }
    public int Dim { get; }
    public FrameStorage Storage { get; }
    /// <summary>Bytes of one segment's row.</summary>
    public int RowBytes => Frames * Dim * (int)Storage;
    /// <summary>Rows in the data file, removed segments' included.</summary>
    public long Rows => rows;
    /// <summary>What opening it did: "fresh", "updated (+A -R)", "built" or "rebuilt (...)".</summary>
    public string OpenedAs { get; private set; } = "";

    private FrameSidecar(string headerPath, string modelSha256, int frames, int dim, FrameStorage storage, string dataName, long rows, List<Extent> extents,
        long[] rowSegment, long[] rowVideo, long generation)
    {
        HeaderPath = headerPath;
        this.modelSha256 = modelSha256;
        Frames = frames;
        Dim = dim;
        Storage = storage;
        this.dataName = dataName;
        this.rows = rows;
        this.extents = extents;
        this.rowSegment = rowSegment;
        this.rowVideo = rowVideo;
        Generation = generation;
        Reindex();
    }

    /// <summary>Where the frame sidecar of an index file lives.</summary>
    public static string PathFor(string indexLocation) => indexLocation + ".frames";

    private string Dir => Path.GetDirectoryName(Path.GetFullPath(HeaderPath))!;
    private string DataPath => Path.Combine(Dir, dataName);

    /// <summary>
    /// Opens the frame sidecar of <paramref name="store"/> in step with it: checked, caught up incrementally, or (re)built from
    /// the store; null where it cannot be brought up to date (another process holds its lock, or the folder is read-only),
    /// after a warning. The store's dimensions come from its manifest.
    /// </summary>
    /// <param name="storage">How a new or rebuilt file stores values (an existing one keeps its own).</param>
    public static FrameSidecar? Open(IIndexStore store, Action<string>? warn = null, FrameStorage storage = FrameStorage.Float16, string? header = null)
    {
        header ??= PathFor(store.Location);
        FileStream? lockFile = null;
        try
        {
            try { lockFile = new FileStream(header + ".lock", FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { lockFile = null; }
            var sidecar = TryLoad(store, header, warn);
            if (sidecar is not null && sidecar.Generation == store.Generation && sidecar.Count == store.SegmentCount) return sidecar;
            if (lockFile is null)
            {
                sidecar?.Dispose();
                warn?.Invoke($"{header} is not in step with {store.Location} and cannot be updated now (another process updates it, or the folder is read-only); candidates are read from the index");
                return null;
            }
            try
            {
                if (sidecar is null) sidecar = Build(store, header, storage);
                else sidecar.CatchUp(store);
                return sidecar;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                sidecar?.Dispose();
                warn?.Invoke($"{header}: could not write the frame sidecar ({e.Message}); candidates are read from the index");
                return null;
            }
        }
        finally { lockFile?.Dispose(); }
    }

    /// <summary>
    /// The frames of the segments with these ids that it holds: their ids (in the order given), video ids and frames
    /// <c>[N, F, E]</c> float32; <paramref name="missing"/> gets the ids it does not hold.
    /// </summary>
    public (long[] Ids, long[] VideoIds, Tensor Frames) Read(IReadOnlyCollection<long> ids, List<long>? missing = null)
    {
        var found = new List<long>(ids.Count);
        var foundRows = new List<long>(ids.Count);
        foreach (long id in ids)
        {
            int at = Array.BinarySearch(sortedIds, id);
            if (at >= 0) { found.Add(id); foundRows.Add(sortedRows[at]); }
            else missing?.Add(id);
        }
        int rowBytes = RowBytes;
        var videoIds = foundRows.Select(r => rowVideo[r]).ToArray();
        using var scope = torch.NewDisposeScope();
        var raw = torch.empty([found.Count, Frames, Dim], Storage == FrameStorage.Float16 ? ScalarType.Float16 : ScalarType.Float32);
        if (found.Count > 0)
        {
            // Each row read (pread) straight into the tensor's own storage, on libtorch's thread count. Not a memory mapping:
            // a fresh process (a new serve, the bench's latency loop) paid a page-table fault on the first touch of most
            // mapped rows, where a pread costs the same from the first query on; mapped pages also counted in the process's
            // resident memory (up to the whole file); and a mapping of a file cut shorter under it faults (SIGBUS) where a
            // read returns short (docs/PERFORMANCE.md, "Reading the candidates with pread").
            var handle = data!;
            int parts = found.Count < 256 ? 1 : Math.Max(1, torch.get_num_threads());
            long shortRow = -1;
            try
            {
                Parallel.For(0, parts, new ParallelOptions { MaxDegreeOfParallelism = parts }, part =>
                {
                    Span<byte> into = raw.bytes;                                                  // the tensor's storage
                    for (int i = part; i < found.Count; i += parts)
                        if (RandomAccess.Read(handle, into.Slice(i * rowBytes, rowBytes), foundRows[i] * rowBytes) != rowBytes)
                            Interlocked.Exchange(ref shortRow, foundRows[i]);
                });
            }
            catch (AggregateException e) when (e.InnerExceptions.Count > 0)
            {
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerExceptions[0]).Throw(); // as a plain read would
            }
            if (shortRow >= 0) throw new IOException($"{DataPath}: row {shortRow} is cut short (the file changed under this process)");
        }
        return (found.ToArray(), videoIds, raw.to(ScalarType.Float32).MoveToOuterDisposeScope());
    }

    /// <summary>The stored values of one row as the store's float32 values would be stored (for checks).</summary>
    private byte[] Encode(float[] frames)
    {
        if (Storage == FrameStorage.Float32) return System.Runtime.InteropServices.MemoryMarshal.AsBytes(frames.AsSpan()).ToArray();
        var half = new Half[frames.Length];
        for (int i = 0; i < frames.Length; i++) half[i] = (Half)frames[i];
        return System.Runtime.InteropServices.MemoryMarshal.AsBytes(half.AsSpan()).ToArray();
    }

    /// <summary>Reads, checks and spot-checks the files; null (after a warning where something was wrong) when they cannot be used.</summary>
    private static FrameSidecar? TryLoad(IIndexStore store, string header, Action<string>? warn)
    {
        if (!File.Exists(header)) return null;
        var m = store.Manifest;
        if (ChecksummedFile.ReadOrWarn(header, Header.Read, store.Location, warn) is not { } h) return null;
        if (h.ModelSha256 != m.ModelSha256 || h.Frames != m.Frames || h.Dim != m.EmbedDim)
        {
            warn?.Invoke($"{header} was written for another model or frame count; rebuilding it from {store.Location}");
            return null;
        }
        var sidecar = new FrameSidecar(header, h.ModelSha256, h.Frames, h.Dim, h.Storage, h.DataFile, h.Rows, h.Extents, h.RowSegment, h.RowVideo, h.Generation);
        string? problem;
        try
        {
            problem = sidecar.CheckData();
            if (problem is null)
            {
                sidecar.OpenData();
                problem = sidecar.SpotCheck(store, sameGeneration: h.Generation == store.Generation);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { problem = e.Message; }
        if (problem is not null)
        {
            sidecar.Dispose();
            warn?.Invoke($"{header} does not match {store.Location} ({problem}); rebuilding it");
            return null;
        }
        sidecar.OpenedAs = "fresh";
        return sidecar;
    }

    /// <summary>The data file is there, at least as long as the header says, and every extent's hash matches.</summary>
    private string? CheckData()
    {
        if (!File.Exists(DataPath)) return $"its data file {dataName} is missing";
        if (new FileInfo(DataPath).Length < rows * RowBytes) return $"its data file {dataName} is shorter than its {rows} rows";
        using var stream = new FileStream(DataPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1 << 20);
        var buffer = new byte[1 << 20];
        foreach (var e in extents)
        {
            stream.Position = e.Start * RowBytes;
            if (HashRange(stream, e.Count * RowBytes, buffer) != e.Hash) return $"rows {e.Start}..{e.Start + e.Count - 1} of {dataName} do not match their checksum";
        }
        return null;
    }

    private static ulong HashRange(Stream stream, long length, byte[] buffer)
    {
        var hash = new XxHash3();
        while (length > 0)
        {
            int n = stream.Read(buffer, 0, (int)Math.Min(buffer.Length, length));
            if (n <= 0) throw new EndOfStreamException();
            hash.Append(buffer.AsSpan(0, n));
            length -= n;
        }
        return hash.GetCurrentHashAsUInt64();
    }

    /// <summary>Opens the data file for reading rows (other processes may append to it or replace it meanwhile: this handle
    /// keeps the file it opened, and only rows the header names are read).</summary>
    private void OpenData()
    {
        data?.Dispose();
        data = rows == 0 ? null : File.OpenHandle(DataPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
    }

    /// <summary>Compares a few rows, spread over the ids, with the store's segments of the same ids, bit for bit as stored.</summary>
    private string? SpotCheck(IIndexStore store, bool sameGeneration)
    {
        var (problem, segments) = SpotCheckSample.Fetch(store, sortedIds, sameGeneration);
        if (problem is not null) return problem;
        var row = new byte[RowBytes];
        foreach (var s in segments)
        {
            long r = sortedRows[Array.BinarySearch(sortedIds, s.Id)];
            if (rowVideo[r] != s.VideoId) return $"segment {s.Id} belongs to another video";
            if (s.FrameEmbeddings.Length != Frames * Dim) return $"segment {s.Id} has another shape";
            if (RandomAccess.Read(data!, row, r * RowBytes) != RowBytes) return $"row {r} of {dataName} is cut short";
            if (!row.AsSpan().SequenceEqual(Encode(s.FrameEmbeddings))) return $"the frames of segment {s.Id} differ";
        }
        return null;
    }

    /// <summary>Writes every segment of the store into a new data file and header.</summary>
    private static FrameSidecar Build(IIndexStore store, string header, FrameStorage storage)
    {
        var m = store.Manifest;
        long generation = store.Generation; // read before the rows: a write in between shows as stale next time, never as fresh
        var sidecar = new FrameSidecar(header, m.ModelSha256, m.Frames, m.EmbedDim, storage, NewDataName(header), 0, [], [], [], generation);
        sidecar.Append(store.Segments(withTokens: false), generation, holes: []);
        sidecar.OpenedAs = "built";
        return sidecar;
    }

    private static string NewDataName(string header) => $"{Path.GetFileName(header)}-{Guid.NewGuid().ToString("N")[..12]}.bin";

    /// <summary>Appends the store's new segments and marks its removed ones; rewrites the file when it is mostly holes.</summary>
    private void CatchUp(IIndexStore store)
    {
        long generation = store.Generation;
        var ids = store.SegmentIds();
        var want = new HashSet<long>(ids);
        var removed = new List<long>();
        for (long r = 0; r < rows; r++)
            if (rowSegment[r] >= 0 && !want.Contains(rowSegment[r])) removed.Add(r);
        var added = ids.Where(id => Array.BinarySearch(sortedIds, id) < 0).ToList();
        long holes = rowSegment.LongCount(s => s < 0) + removed.Count;
        if (holes > Math.Max(64, ids.Length))
        {
            // Mostly holes: a new file with the live rows only (readers of the old one keep their open handle).
            var rebuilt = Build(store, HeaderPath, Storage);
            Swap(rebuilt);
            OpenedAs = $"rebuilt ({added.Count} added, {removed.Count} removed since it was written)";
            return;
        }
        Append(Batches(store, added), generation, removed);
        OpenedAs = $"updated ({added.Count} added, {removed.Count} removed)";
    }

    private static IEnumerable<IndexedSegment> Batches(IIndexStore store, List<long> ids)
    {
        foreach (var block in ids.Chunk(Block))
            foreach (var s in store.Segments(block, withTokens: false)) yield return s;
    }

    private void Swap(FrameSidecar other)
    {
        data?.Dispose();
        (dataName, rows, extents, rowSegment, rowVideo, Generation) = (other.dataName, other.rows, other.extents, other.rowSegment, other.rowVideo, other.Generation);
        (data, other.data) = (other.data, null);
        Reindex();
    }

    /// <summary>
    /// Appends rows for <paramref name="segments"/> and marks the rows <paramref name="holes"/> removed, then commits a new
    /// header for <paramref name="generation"/> (see the remarks for the order that makes it crash-safe).
    /// </summary>
    private void Append(IEnumerable<IndexedSegment> segments, long generation, List<long> holes)
    {
        var newSegment = new List<long>();
        var newVideo = new List<long>();
        var newExtents = new List<Extent>(extents);
        using (var stream = new FileStream(DataPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read | FileShare.Delete, 1 << 20))
        {
            stream.SetLength(rows * RowBytes);                                                    // what a killed update appended is dropped
            stream.Position = rows * RowBytes;
            var hash = new XxHash3();
            long start = rows, count = 0;
            foreach (var s in segments)
            {
                if (s.FrameEmbeddings.Length != Frames * Dim)
                    throw new VidSeekException($"{HeaderPath}: segment {s.Id} holds {s.FrameEmbeddings.Length} values where [{Frames}, {Dim}] were expected; build the index again");
                var bytes = Encode(s.FrameEmbeddings);
                stream.Write(bytes);
                hash.Append(bytes);
                newSegment.Add(s.Id);
                newVideo.Add(s.VideoId);
                if (++count == 64 * Block) // extents of bounded size: a damaged region is found without hashing everything as one
                {
                    newExtents.Add(new Extent(start, count, hash.GetCurrentHashAsUInt64()));
                    (hash, start, count) = (new XxHash3(), start + count, 0);
                }
            }
            if (count > 0) newExtents.Add(new Extent(start, count, hash.GetCurrentHashAsUInt64()));
            stream.Flush(flushToDisk: true);
        }
        FaultPoint?.Invoke("data-written");
        var segmentsNow = rowSegment.Concat(newSegment).ToArray();
        var videosNow = rowVideo.Concat(newVideo).ToArray();
        foreach (long r in holes) { segmentsNow[r] = -1; videosNow[r] = -1; }
        long rowsNow = segmentsNow.LongLength;
        var h = new Header(Frames, Dim, Storage, generation, modelSha256, dataName, rowsNow, newExtents, segmentsNow, videosNow);
        string tmp = HeaderPath + ".tmp";
        h.Write(tmp);
        FaultPoint?.Invoke("header-written");
        File.Move(tmp, HeaderPath, overwrite: true);
        (rows, extents, rowSegment, rowVideo, Generation) = (rowsNow, newExtents, segmentsNow, videosNow, generation);
        Reindex();
        OpenData();
        // Data files no longer named by the header (a rewrite's predecessor, or one a killed build left) go.
        string prefix = Path.GetFileName(HeaderPath) + "-";
        foreach (var old in Directory.EnumerateFiles(Dir, prefix + "*.bin"))
            if (Path.GetFileName(old) != dataName)
                try { File.Delete(old); } catch (IOException) { }
    }

    /// <summary>The sorted lookup of live ids to rows.</summary>
    private void Reindex()
    {
        int live = rowSegment.Count(s => s >= 0);
        sortedIds = new long[live];
        sortedRows = new long[live];
        int i = 0;
        for (long r = 0; r < rowSegment.LongLength; r++)
            if (rowSegment[r] >= 0) { sortedIds[i] = rowSegment[r]; sortedRows[i] = r; i++; }
        Array.Sort(sortedIds, sortedRows);
    }

    public void Dispose()
    {
        data?.Dispose();
        data = null;
    }

    /// <summary>A run of rows appended together and the XxHash3 of their bytes.</summary>
    private sealed record Extent(long Start, long Count, ulong Hash);

    /// <summary>The header: binary, little-endian, ending in the XxHash3 of everything before it.</summary>
    private sealed record Header(int Frames, int Dim, FrameStorage Storage, long Generation, string ModelSha256, string DataFile, long Rows,
        List<Extent> Extents, long[] RowSegment, long[] RowVideo)
    {
        public void Write(string path)
        {
            using var body = new MemoryStream();
            using (var w = new BinaryWriter(body, Encoding.UTF8, leaveOpen: true))
            {
                w.Write(Magic);
                w.Write(FormatVersion);
                w.Write(Frames);
                w.Write(Dim);
                w.Write((int)Storage);
                w.Write(Generation);
                w.Write(ModelSha256);
                w.Write(DataFile);
                w.Write(Rows);
                w.Write(Extents.Count);
                foreach (var e in Extents) { w.Write(e.Start); w.Write(e.Count); w.Write(e.Hash); }
                for (long r = 0; r < Rows; r++) { w.Write(RowSegment[r]); w.Write(RowVideo[r]); }
            }
            ChecksummedFile.Write(path, body.ToArray());
        }

        public static Header Read(string path)
        {
            using var r = new BinaryReader(ChecksummedFile.Read(path), Encoding.UTF8);
            if (r.ReadString() != Magic) throw new InvalidDataException("not a VidSeek frame sidecar header");
            int version = r.ReadInt32();
            if (version != FormatVersion) throw new OtherFormatException($"format version {version}, this version reads {FormatVersion}");
            int frames = r.ReadInt32(), dim = r.ReadInt32();
            var storage = (FrameStorage)r.ReadInt32();
            if (frames < 1 || dim < 1 || storage is not (FrameStorage.Float16 or FrameStorage.Float32)) throw new InvalidDataException("bad dimensions or storage");
            long generation = r.ReadInt64();
            string sha = r.ReadString(), data = r.ReadString();
            if (data.Contains('/') || data.Contains('\\') || data.Contains("..")) throw new InvalidDataException("bad data file name");
            long rows = r.ReadInt64();
            if (rows < 0 || rows * 16 > r.BaseStream.Length) throw new InvalidDataException("bad row count");
            int n = r.ReadInt32();
            if (n < 0 || (long)n * 24 > r.BaseStream.Length) throw new InvalidDataException("bad extent count");
            var extents = new List<Extent>(n);
            long next = 0;
            for (int i = 0; i < n; i++)
            {
                var e = new Extent(r.ReadInt64(), r.ReadInt64(), r.ReadUInt64());
                if (e.Start != next || e.Count < 1) throw new InvalidDataException("extents do not tile the rows");
                extents.Add(e);
                next = e.Start + e.Count;
            }
            if (next != rows) throw new InvalidDataException("extents do not cover the rows");
            var segments = new long[rows];
            var videos = new long[rows];
            for (long i = 0; i < rows; i++) { segments[i] = r.ReadInt64(); videos[i] = r.ReadInt64(); }
            return new Header(frames, dim, storage, generation, sha, data, rows, extents, segments, videos);
        }
    }
}
