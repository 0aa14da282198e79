using System.IO.Hashing;

namespace VidSeek.Index;

/// <summary>
/// The small header files beside an index (the ANN file's and the frame sidecar's): a body followed by the XxHash3 of the
/// body, written in one go and flushed to disk (callers write it beside the old one and rename it over), and read back only
/// when the hash matches, so a torn or edited header is refused, never half-read. The layout is <see cref="ChecksummedStream"/>'s.
/// </summary>
internal static class ChecksummedFile
{
    public static void Write(string path, byte[] body) => ChecksummedStream.Write(path, w => w.Write(body));

    /// <summary>The body of a file <see cref="Write"/> wrote; <see cref="InvalidDataException"/> when its hash does not match.</summary>
    public static MemoryStream Read(string path) => ChecksummedStream.Read(path, r =>
    {
        var body = new byte[r.BaseStream.Length];
        r.BaseStream.ReadExactly(body);
        return new MemoryStream(body, writable: false);
    });

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

/// <summary>
/// <see cref="ChecksummedFile"/>'s layout (a body, then the XxHash3 of the body) for files too large to hold twice in memory
/// (<see cref="XPoolScan"/>'s codes): written and read through a stream that hashes as it goes, so the body is never copied
/// into one buffer. A reader's result is used only after the hash at the end matched.
/// </summary>
internal static class ChecksummedStream
{
    /// <summary>Writes the body <paramref name="write"/> produces, then its hash, to <paramref name="path"/>, flushed to disk.</summary>
    public static void Write(string path, Action<BinaryWriter> write)
    {
        using var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16);
        var hash = new XxHash3();
        using (var hashing = new Hashing(file, hash, long.MaxValue))
        using (var w = new BinaryWriter(hashing, System.Text.Encoding.UTF8, leaveOpen: true))
            write(w);
        file.Write(BitConverter.GetBytes(hash.GetCurrentHashAsUInt64()));
        file.Flush(flushToDisk: true);
    }

    /// <summary>
    /// What <paramref name="read"/> parses from the body, once the body's hash matched the one stored after it;
    /// <see cref="InvalidDataException"/> when it does not, or when <paramref name="read"/> did not consume the whole body.
    /// </summary>
    public static T Read<T>(string path, Func<BinaryReader, T> read)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        long bodyLength = file.Length - 8;
        if (bodyLength < 0) throw new InvalidDataException("too short");
        var hash = new XxHash3();
        T result;
        using (var hashing = new Hashing(file, hash, bodyLength))
        using (var r = new BinaryReader(hashing, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            result = read(r);
            if (hashing.Position != bodyLength) throw new InvalidDataException("trailing data");
        }
        var stored = new byte[8];
        file.ReadExactly(stored);
        if (hash.GetCurrentHashAsUInt64() != BitConverter.ToUInt64(stored)) throw new InvalidDataException("checksum mismatch");
        return result;
    }

    /// <summary>A pass-through stream that hashes what goes through it and reads no further than a limit.</summary>
    private sealed class Hashing(Stream inner, XxHash3 hash, long limit) : Stream
    {
        private long position;
        public override bool CanRead => inner.CanRead;
        public override bool CanSeek => false;
        public override bool CanWrite => inner.CanWrite;
        public override long Length => limit;
        public override long Position { get => position; set => throw new NotSupportedException(); }
        public override void Flush() => inner.Flush();
        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));
        public override int Read(Span<byte> buffer)
        {
            if (buffer.Length > limit - position) buffer = buffer[..(int)(limit - position)];
            int n = inner.Read(buffer);
            hash.Append(buffer[..n]);
            position += n;
            return n;
        }
        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));
        public override void Write(ReadOnlySpan<byte> buffer)
        {
            inner.Write(buffer);
            hash.Append(buffer);
            position += buffer.Length;
        }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
