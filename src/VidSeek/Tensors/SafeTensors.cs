using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using TorchSharp;
using static TorchSharp.torch;

namespace VidSeek.Tensors;

/// <summary>One tensor's entry in a safetensors header.</summary>
/// <param name="Name">The key, e.g. <c>vision_model.embeddings.class_embedding</c>.</param>
/// <param name="DType">The format's dtype name: F64, F32, F16, BF16, I64, I32, I16, I8, U8 or BOOL.</param>
/// <param name="Shape">The shape; empty for a 0-dim (scalar) tensor.</param>
/// <param name="Begin">Start of the data, in bytes from the start of the data section.</param>
/// <param name="End">End of the data (exclusive).</param>
public sealed record SafeTensorsEntry(string Name, string DType, long[] Shape, long Begin, long End)
{
    /// <summary>The product of the shape (checked: an overflowing shape throws <see cref="OverflowException"/>).</summary>
    public long ElementCount => Shape.Aggregate(1L, (a, b) => checked(a * b));

    /// <summary>F64, F32, F16 or BF16.</summary>
    public bool IsFloat => DType is "F64" or "F32" or "F16" or "BF16";
}

/// <summary>
/// Reader and writer for the safetensors format (https://huggingface.co/docs/safetensors): a u64
/// little-endian header length N, N bytes of JSON header, then the raw little-endian data.
/// Hand-written because no maintained .NET package reads it, and the format is small.
/// Every check names the file and the key, so a truncated or lying file is a clear error.
/// </summary>
public static class SafeTensors
{
    // Larger headers are refused as the reference implementation does (it caps at 100 MB).
    private const long MaxHeaderBytes = 100_000_000;
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private static readonly Dictionary<string, (ScalarType Type, int Size)> DTypes = new()
    {
        ["F64"] = (ScalarType.Float64, 8), ["F32"] = (ScalarType.Float32, 4), ["F16"] = (ScalarType.Float16, 2),
        ["BF16"] = (ScalarType.BFloat16, 2), ["I64"] = (ScalarType.Int64, 8), ["I32"] = (ScalarType.Int32, 4),
        ["I16"] = (ScalarType.Int16, 2), ["I8"] = (ScalarType.Int8, 1), ["U8"] = (ScalarType.Byte, 1),
        ["BOOL"] = (ScalarType.Bool, 1),
    };

    /// <summary>The parsed and validated header of a file.</summary>
    public sealed record Header(IReadOnlyList<SafeTensorsEntry> Entries, IReadOnlyDictionary<string, string> Metadata, long DataStart);

    /// <summary>Reads and validates the header: every dtype known, every size consistent with its shape,
    /// the entries tiling the data section exactly (no gap, no overlap, nothing past the end of the file).</summary>
    public static Header ReadHeader(string path)
    {
        if (!File.Exists(path)) throw new VidSeekException($"safetensors file not found: {path}");
        using var fs = File.OpenRead(path);
        return ReadHeader(fs, path);
    }

    private static Header ReadHeader(FileStream fs, string path)
    {
        long fileLength = fs.Length;
        if (fileLength < 8) throw Bad(path, $"file is {fileLength} bytes, too short for the 8-byte header length");
        Span<byte> lenBytes = stackalloc byte[8];
        fs.ReadExactly(lenBytes);
        ulong headerLen = BinaryPrimitives.ReadUInt64LittleEndian(lenBytes);
        if (headerLen > MaxHeaderBytes) throw Bad(path, $"header length {headerLen} is larger than the 100 MB limit");
        if ((long)headerLen > fileLength - 8) throw Bad(path, $"header length {headerLen} runs past the end of the file ({fileLength} bytes): truncated?");
        var headerBytes = new byte[headerLen];
        fs.ReadExactly(headerBytes);

        // JsonDocument checks UTF-8 only when a string is read (it then throws InvalidOperationException): check it here.
        try { StrictUtf8.GetCharCount(headerBytes); }
        catch (DecoderFallbackException) { throw Bad(path, "header is not valid UTF-8"); }
        JsonDocument doc;
        try { doc = JsonDocument.Parse(headerBytes); }
        catch (JsonException e) { throw Bad(path, $"header is not valid JSON ({e.Message})"); }
        using var _ = doc;
        if (doc.RootElement.ValueKind != JsonValueKind.Object) throw Bad(path, "header is not a JSON object");

        var entries = new List<SafeTensorsEntry>();
        var metadata = new Dictionary<string, string>();
        // JSON allows a key twice and JsonDocument keeps both; which one a reader takes differs between readers, so a file
        // that says two things about one tensor is refused.
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var prop in doc.RootElement.EnumerateObject())
        {
            if (!seen.Add(prop.Name)) throw Bad(path, $"key '{prop.Name}' appears twice in the header");
            if (prop.Name == "__metadata__")
            {
                if (prop.Value.ValueKind != JsonValueKind.Object) throw Bad(path, "__metadata__ is not an object");
                foreach (var m in prop.Value.EnumerateObject())
                    metadata[m.Name] = m.Value.ValueKind == JsonValueKind.String ? m.Value.GetString()! : throw Bad(path, $"__metadata__.{m.Name} is not a string");
                continue;
            }
            entries.Add(ParseEntry(path, prop));
        }

        long dataLength = fileLength - 8 - (long)headerLen;
        long cursor = 0;
        foreach (var e in entries.OrderBy(e => e.Begin).ThenBy(e => e.End))
        {
            if (e.Begin != cursor)
                throw Bad(path, e.Begin < cursor ? $"tensor '{e.Name}' overlaps the previous tensor's data" : $"gap in the data section before tensor '{e.Name}'");
            if (e.End > dataLength)
                throw Bad(path, $"tensor '{e.Name}' ends at byte {e.End} of the data section, which has only {dataLength} bytes: truncated?");
            cursor = e.End;
        }
        if (cursor != dataLength) throw Bad(path, $"data section has {dataLength} bytes but the tensors cover {cursor}");
        return new Header(entries, metadata, 8 + (long)headerLen);
    }

    private static SafeTensorsEntry ParseEntry(string path, JsonProperty prop)
    {
        var v = prop.Value;
        if (v.ValueKind != JsonValueKind.Object) throw Bad(path, $"entry '{prop.Name}' is not an object");
        if (!v.TryGetProperty("dtype", out var dt) || dt.ValueKind != JsonValueKind.String) throw Bad(path, $"entry '{prop.Name}' has no dtype");
        string dtype = dt.GetString()!;
        if (!DTypes.TryGetValue(dtype, out var info)) throw Bad(path, $"entry '{prop.Name}' has unsupported dtype '{dtype}'");
        if (!v.TryGetProperty("shape", out var sh) || sh.ValueKind != JsonValueKind.Array) throw Bad(path, $"entry '{prop.Name}' has no shape");
        var shape = new long[sh.GetArrayLength()];
        int i = 0;
        foreach (var d in sh.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out var n) || n < 0) throw Bad(path, $"entry '{prop.Name}' has a bad shape");
            shape[i++] = n;
        }
        if (!v.TryGetProperty("data_offsets", out var off) || off.ValueKind != JsonValueKind.Array || off.GetArrayLength() != 2
            || off[0].ValueKind != JsonValueKind.Number || off[1].ValueKind != JsonValueKind.Number
            || !off[0].TryGetInt64(out var begin) || !off[1].TryGetInt64(out var end) || begin < 0 || end < begin)
            throw Bad(path, $"entry '{prop.Name}' has bad data_offsets");
        var entry = new SafeTensorsEntry(prop.Name, dtype, shape, begin, end);
        long expected;
        try { expected = checked(entry.ElementCount * info.Size); }
        catch (OverflowException) { throw Bad(path, $"entry '{prop.Name}' has an impossible shape"); }
        if (end - begin != expected)
            throw Bad(path, $"entry '{prop.Name}' claims {end - begin} bytes but shape [{string.Join(", ", shape)}] of {dtype} needs {expected}");
        return entry;
    }

    /// <summary>Loads every tensor of the file onto the CPU, in the file's dtype. The caller owns (disposes) them.</summary>
    public static Dictionary<string, Tensor> Load(string path) => Load(path, out _);

    /// <summary>Loads every tensor and returns the header's <c>__metadata__</c> too.</summary>
    public static Dictionary<string, Tensor> Load(string path, out IReadOnlyDictionary<string, string> metadata)
    {
        if (!File.Exists(path)) throw new VidSeekException($"safetensors file not found: {path}");
        using var fs = File.OpenRead(path);
        var header = ReadHeader(fs, path);
        metadata = header.Metadata;
        var result = new Dictionary<string, Tensor>();
        try
        {
            foreach (var e in header.Entries)
            {
                var (type, _) = DTypes[e.DType];
                var t = torch.empty(e.Shape, type);
                result[e.Name] = t;
                if (e.End == e.Begin) continue;
                var buffer = new byte[e.End - e.Begin];
                fs.Position = header.DataStart + e.Begin;
                fs.ReadExactly(buffer);
                t.bytes = buffer;
            }
        }
        catch
        {
            foreach (var t in result.Values) t.Dispose();
            throw;
        }
        return result;
    }

    /// <summary>
    /// Writes tensors (any device, any layout; stored contiguous, little-endian) in key order. The file is
    /// written beside the target and renamed over it, so a crash never leaves a half-written file.
    /// </summary>
    public static void Save(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var items = tensors.OrderBy(kv => kv.Key, StringComparer.Ordinal).ToList();
        var dups = items.GroupBy(kv => kv.Key).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
        if (dups.Count > 0) throw new ArgumentException("duplicate tensor names: " + string.Join(", ", dups));

        var blobs = new List<byte[]>(items.Count);
        using var header = new MemoryStream();
        using (var w = new Utf8JsonWriter(header))
        {
            w.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                w.WriteStartObject("__metadata__");
                foreach (var (k, v) in metadata) w.WriteString(k, v);
                w.WriteEndObject();
            }
            long offset = 0;
            foreach (var (name, tensor) in items)
            {
                string dtype = DTypes.First(kv => kv.Value.Type == tensor.dtype).Key;
                using var cpu = tensor.detach().cpu().contiguous();
                var bytes = cpu.bytes.ToArray();
                blobs.Add(bytes);
                w.WriteStartObject(name);
                w.WriteString("dtype", dtype);
                w.WriteStartArray("shape");
                foreach (var d in tensor.shape) w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(offset);
                w.WriteNumberValue(offset + bytes.Length);
                w.WriteEndArray();
                w.WriteEndObject();
                offset += bytes.Length;
            }
            w.WriteEndObject();
        }
        // Pad with spaces so the data section starts on an 8-byte boundary, as the reference writer does.
        int pad = (int)((8 - header.Length % 8) % 8);
        for (int i = 0; i < pad; i++) header.WriteByte((byte)' ');

        string full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        string tmp = full + ".tmp-" + Environment.ProcessId;
        try
        {
            using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write))
            {
                Span<byte> len = stackalloc byte[8];
                BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)header.Length);
                fs.Write(len);
                header.Position = 0;
                header.CopyTo(fs);
                foreach (var b in blobs) fs.Write(b);
                fs.Flush(true);
            }
            File.Move(tmp, full, overwrite: true);
        }
        // A full disk (IOException) or a file past the file system's or the process's size limit (EFBIG, which .NET reports as
        // ArgumentOutOfRangeException on the write's length): one error naming the file meant, not the temporary one.
        catch (IOException e) { throw new VidSeekException($"cannot write {full} ({e.Message}); nothing was written", e); }
        catch (ArgumentOutOfRangeException e) when (e.ParamName == "value")
        {
            throw new VidSeekException($"cannot write {full} (the file would pass the file system's or the process's size limit: {e.Message}); nothing was written", e);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }

    private static VidSeekException Bad(string path, string why) => new($"invalid safetensors file {path}: {why}");
}
