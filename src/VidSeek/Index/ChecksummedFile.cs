using System.IO.Hashing;

namespace VidSeek.Index;

/// <summary>
/// The small header files beside an index (the ANN file's and the frame sidecar's): a body followed by the XxHash3 of the
/// body, written in one go and flushed to disk (callers write it beside the old one and rename it over), and read back only
/// when the hash matches, so a torn or edited header is refused, never half-read.
/// </summary>
internal static class ChecksummedFile
{
    public static void Write(string path, byte[] body)
    {
        using var f = new FileStream(path, FileMode.Create, FileAccess.Write);
        f.Write(body);
        f.Write(BitConverter.GetBytes(XxHash3.HashToUInt64(body)));
        f.Flush(flushToDisk: true);
    }

    /// <summary>The body of a file <see cref="Write"/> wrote; <see cref="InvalidDataException"/> when its hash does not match.</summary>
    public static MemoryStream Read(string path)
    {
        var bytes = File.ReadAllBytes(path);
        if (bytes.Length < 8) throw new InvalidDataException("too short");
        if (XxHash3.HashToUInt64(bytes.AsSpan(0, bytes.Length - 8)) != BitConverter.ToUInt64(bytes, bytes.Length - 8))
            throw new InvalidDataException("checksum mismatch");
        return new MemoryStream(bytes, 0, bytes.Length - 8, writable: false);
    }

    /// <summary>
    /// A header parsed by <paramref name="read"/>, or null after one warning when it was written by another format version or
    /// is damaged (the caller then rebuilds the file from <paramref name="rebuildFrom"/>, the index).
    /// </summary>
    public static T? ReadOrWarn<T>(string path, Func<string, T> read, string rebuildFrom, Action<string>? warn) where T : class
    {
        try { return read(path); }
        catch (OtherFormatException e)
        {
            warn?.Invoke($"{path} was written by another version of VidSeek ({e.Message}); rebuilding it from {rebuildFrom}");
        }
        catch (Exception e) when (e is IOException or InvalidDataException or EndOfStreamException or ArgumentException)
        {
            warn?.Invoke($"{path} is damaged ({e.Message}); rebuilding it from {rebuildFrom}");
        }
        return null;
    }
}

/// <summary>A header of another format version: rebuilt, not reported as damage.</summary>
internal sealed class OtherFormatException(string message) : IOException(message);
