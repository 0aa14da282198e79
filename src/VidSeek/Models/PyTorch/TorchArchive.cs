using System.IO.Compression;
using TorchSharp;
using static TorchSharp.torch;

namespace VidSeek.Models.PyTorch;

/// <summary>
/// A PyTorch zip archive as <c>torch.save</c> (PyTorch 1.6 and later) or <c>torch.jit.save</c> writes it:
/// <c>NAME/data.pkl</c> (the pickled object, read with <see cref="RestrictedUnpickler"/>) and one entry
/// <c>NAME/data/KEY</c> per tensor storage (raw little-endian elements). The pickle is read when the archive opens;
/// a storage is read only when a tensor that uses it is materialised (<see cref="Materialize"/>), so parts of the
/// file that are never used (an optimizer's state) never reach memory.
/// </summary>
public sealed class TorchArchive : IDisposable
{
    private readonly FileStream stream;
    private readonly ZipArchive zip;
    private readonly string prefix;
    private readonly HashSet<string> storagesRead = [];

    /// <summary>The checkpoint file.</summary>
    public string Path { get; }

    /// <summary>The unpickled object: a <see cref="PickleDict"/> for <c>torch.save</c> of a dict, a <see cref="ScriptObject"/> for TorchScript.</summary>
    public object? Root { get; }

    /// <summary>Whether the archive is a TorchScript module (it has <c>code/</c>).</summary>
    public bool IsTorchScript { get; }

    /// <summary>Keys of the storages read so far (a test checks that unused ones never are).</summary>
    public IReadOnlyCollection<string> StoragesRead => storagesRead;

    private TorchArchive(string path, FileStream stream, ZipArchive zip, string prefix, bool torchScript, object? root)
    {
        Path = path;
        this.stream = stream;
        this.zip = zip;
        this.prefix = prefix;
        IsTorchScript = torchScript;
        Root = root;
    }

    /// <summary>Whether <paramref name="path"/> starts like a zip file (the PyTorch >= 1.6 format).</summary>
    public static bool LooksLikeZip(string path)
    {
        using var fs = File.OpenRead(path);
        Span<byte> head = stackalloc byte[4];
        return fs.Read(head) == 4 && head[0] == 'P' && head[1] == 'K' && head[2] == 3 && head[3] == 4;
    }

    /// <summary>Opens a checkpoint and unpickles its object (tensors stay unread).</summary>
    /// <exception cref="VidSeekException">Not a PyTorch zip archive (a legacy pickle gets the way to re-save it), truncated, corrupt, or a refused pickle.</exception>
    public static TorchArchive Open(string path)
    {
        if (!File.Exists(path)) throw new VidSeekException($"checkpoint file not found: {path}");
        var stream = File.OpenRead(path);
        try
        {
            CheckFormat(path, stream);
            ZipArchive zip;
            try { zip = new ZipArchive(stream, ZipArchiveMode.Read, leaveOpen: true); }
            catch (InvalidDataException e) { throw new VidSeekException($"{path} is not a complete PyTorch zip archive (truncated or corrupt?): {e.Message}"); }
            try
            {
                // torch names the top folder after the file (model_best/, archive/); data.pkl sits right under it.
                var pkl = zip.Entries.FirstOrDefault(e => e.FullName.EndsWith("/data.pkl", StringComparison.Ordinal) && e.FullName.Count(c => c == '/') == 1)
                          ?? throw new VidSeekException($"{path} is a zip file but not a PyTorch checkpoint (no data.pkl)");
                string prefix = pkl.FullName[..^"data.pkl".Length];
                bool torchScript = zip.Entries.Any(e => e.FullName.StartsWith(prefix + "code/", StringComparison.Ordinal));
                // PyTorch >= 2.1 records the byte order of the storages; older files are little-endian.
                if (zip.GetEntry(prefix + "byteorder") is { } order && System.Text.Encoding.ASCII.GetString(ReadEntry(path, order)).Trim() != "little")
                    throw new VidSeekException($"{path} stores its tensors big-endian, which VidSeek does not read; re-save it on a little-endian machine");
                byte[] pickle = ReadEntry(path, pkl);
                var root = RestrictedUnpickler.Load(pickle, path, allowScriptObjects: torchScript);
                return new TorchArchive(path, stream, zip, prefix, torchScript, root);
            }
            catch
            {
                zip.Dispose();
                throw;
            }
        }
        // The central directory is read lazily (on the first look at the entries): a damaged one surfaces here (found by fuzzing).
        catch (InvalidDataException e)
        {
            stream.Dispose();
            throw new VidSeekException($"{path} is not a complete PyTorch zip archive (truncated or corrupt?): {e.Message}");
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    /// <summary>Refuses what is not a zip with one message per case: a legacy (pre-1.6) torch pickle gets the way to re-save it.</summary>
    private static void CheckFormat(string path, FileStream stream)
    {
        Span<byte> head = stackalloc byte[4];
        int n = stream.Read(head);
        stream.Position = 0;
        if (n == 4 && head[0] == 'P' && head[1] == 'K') return;
        if (n >= 2 && head[0] == 0x80 && head[1] <= 5 || IsTar(stream))
            throw new VidSeekException($"{path} is a legacy (pre-1.6, non-zip) PyTorch pickle, which VidSeek does not read; re-save it with a current PyTorch: " +
                                       "python -c \"import torch; torch.save(torch.load('OLD', map_location='cpu'), 'NEW')\" (or pass _use_new_zipfile_serialization=True to torch.save)");
        throw new VidSeekException(n == 0 ? $"{path} is empty" : $"{path} is not a PyTorch checkpoint (expected a zip archive written by torch.save)");
    }

    private static bool IsTar(FileStream stream)
    {
        if (stream.Length < 512) return false;
        Span<byte> block = stackalloc byte[512];
        stream.ReadExactly(block);
        stream.Position = 0;
        return block.Slice(257, 5).SequenceEqual("ustar"u8);
    }

    private static byte[] ReadEntry(string path, ZipArchiveEntry entry)
    {
        try
        {
            if (entry.Length > Array.MaxLength) throw new VidSeekException($"{path}: {entry.FullName} is too large ({entry.Length} bytes)");
            var buffer = new byte[entry.Length];
            using var s = entry.Open();
            s.ReadExactly(buffer);
            return buffer;
        }
        catch (Exception e) when (e is InvalidDataException or IOException or EndOfStreamException)
        {
            throw new VidSeekException($"{path}: cannot read {entry.FullName} (truncated or corrupt?): {e.Message}");
        }
    }

    /// <summary>
    /// The tensor <paramref name="t"/> describes, as a new contiguous CPU tensor of its stored dtype. Reads its storage
    /// (<c>data/KEY</c>) from the archive; <paramref name="cache"/> lets tensors that share a storage read it once.
    /// </summary>
    public Tensor Materialize(TensorRef t, IDictionary<string, Tensor>? cache = null)
    {
        using var scope = torch.NewDisposeScope();
        Tensor storage;
        if (cache is null || !cache.TryGetValue(t.Storage.Key, out storage!))
        {
            storage = ReadStorage(t.Storage);
            if (cache is not null) cache[t.Storage.Key] = storage.MoveToOuterDisposeScope();
        }
        long numel = t.Shape.Aggregate(1L, (a, b) => a * b);
        if (numel > 0)
        {
            long last = t.Offset + t.Shape.Zip(t.Stride, (n, s) => (n - 1) * s).Sum();
            if (t.Offset < 0 || t.Stride.Any(s => s < 0) || last >= t.Storage.Numel)
                throw new VidSeekException($"{Path}: a tensor [{string.Join(", ", t.Shape)}] reaches past the end of its storage data/{t.Storage.Key} ({t.Storage.Numel} elements)");
        }
        var view = storage.as_strided(t.Shape, t.Stride, t.Offset);
        // A copy, so a small tensor never keeps a large shared storage alive.
        return view.contiguous().clone().MoveToOuterDisposeScope();
    }

    private Tensor ReadStorage(StorageRef s)
    {
        string name = $"{prefix}data/{s.Key}";
        var entry = zip.GetEntry(name) ?? throw new VidSeekException($"{Path}: tensor storage {name} is missing from the archive (truncated or corrupt?)");
        long elementSize = ElementSize(s.DType);
        if (entry.Length != s.Numel * elementSize)
            throw new VidSeekException($"{Path}: {name} holds {entry.Length} bytes, but the pickle says {s.Numel} elements of {s.DType} ({s.Numel * elementSize} bytes)");
        storagesRead.Add(s.Key);
        var tensor = torch.empty(s.Numel, s.DType);
        if (s.Numel > 0) tensor.bytes = ReadEntry(Path, entry);
        return tensor;
    }

    private static long ElementSize(ScalarType t) => t switch
    {
        ScalarType.Float64 or ScalarType.Int64 => 8,
        ScalarType.Float32 or ScalarType.Int32 => 4,
        ScalarType.Float16 or ScalarType.BFloat16 or ScalarType.Int16 => 2,
        _ => 1,
    };

    public void Dispose()
    {
        zip.Dispose();
        stream.Dispose();
    }
}
