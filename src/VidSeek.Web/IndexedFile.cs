using Microsoft.AspNetCore.Http;

namespace VidSeek.Web;

/// <summary>
/// Opens the file of an indexed video for serving, only if it is still the file that was indexed. The index stores a path
/// relative to its root, so a request can only name an index id; but the file system under the root may change after
/// indexing: a video replaced by a symbolic link to <c>/etc/passwd</c>, or by a link to another folder, must not be served.
/// So: the real path (every symbolic link resolved) must lie under the real path of the root, must be a regular file, and
/// must still have the size and modification time the index recorded. The check is made on the opened handle where the
/// system allows (<c>/proc/self/fd</c>), so a link swapped in between the check and the open is caught too.
/// </summary>
public static class IndexedFile
{
    /// <summary>Most symbolic links followed while resolving one path (Linux's own limit, ELOOP, is 40).</summary>
    private const int MaxLinks = 40;

    /// <summary>What <see cref="Open"/> found: the opened file, or the HTTP status and message to answer.</summary>
    public sealed record Result(FileStream? Stream, string? RealPath, int Status, string? Error);

    /// <param name="root">The index's root folder.</param>
    /// <param name="relativePath">The video's path as stored, relative to <paramref name="root"/>.</param>
    /// <param name="size">Its size in bytes when indexed.</param>
    /// <param name="mtimeTicks">Its last write time (UTC ticks) when indexed.</param>
    public static Result Open(string root, string relativePath, long size, long mtimeTicks)
    {
        string? realRoot = RealPath(root);
        if (realRoot is null) return Fail(StatusCodes.Status404NotFound, "the index's video folder is no longer on disk");
        string? real = RealPath(Path.Combine(root, relativePath));
        if (real is null) return Fail(StatusCodes.Status404NotFound, $"{relativePath} is no longer on disk");
        if (!IsUnder(real, realRoot)) return Fail(StatusCodes.Status403Forbidden, $"{relativePath} now leads outside the index's folder; it is not served");
        var info = new FileInfo(real);
        if (!info.Exists) return Fail(StatusCodes.Status404NotFound, $"{relativePath} is no longer a file");
        // Size and time first, by path: this also keeps a FIFO or a device put in the file's place (length 0) from being
        // opened, which would block (a FIFO) or read forever (a device).
        if (info.Length != size || info.Length == 0 || info.LastWriteTimeUtc.Ticks != mtimeTicks)
            return Fail(StatusCodes.Status409Conflict, Changed(relativePath));

        FileStream stream;
        try
        {
            stream = new FileStream(real, new FileStreamOptions { Mode = FileMode.Open, Access = FileAccess.Read, Share = FileShare.ReadWrite | FileShare.Delete });
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Fail(StatusCodes.Status404NotFound, $"{relativePath} cannot be opened");
        }
        try
        {
            // The open file, not the path: the path may have been swapped since RealPath.
            if (OpenedPath(stream) is { } opened && !opened.Equals(real, StringComparison.Ordinal))
                return Fail(StatusCodes.Status409Conflict, $"{relativePath} changed while it was being opened", stream);
            long length = RandomAccess.GetLength(stream.SafeFileHandle);
            long mtime = File.GetLastWriteTimeUtc(stream.SafeFileHandle).Ticks;
            if (length != size || mtime != mtimeTicks)
                return Fail(StatusCodes.Status409Conflict, Changed(relativePath), stream);
            return new Result(stream, real, StatusCodes.Status200OK, null);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Fail(StatusCodes.Status404NotFound, $"{relativePath} cannot be read", stream);
        }
    }

    private static Result Fail(int status, string message, FileStream? toClose = null)
    {
        toClose?.Dispose();
        return new Result(null, null, status, message);
    }

    private static bool IsUnder(string path, string root) =>
        path.StartsWith(Path.TrimEndingDirectorySeparator(root) + Path.DirectorySeparatorChar, StringComparison.Ordinal);

    private static string Changed(string relativePath) =>
        $"{relativePath} changed since it was indexed (size or modification time); run vidseek index again";

    /// <summary>The path of an open file as the kernel sees it (Linux), or null where that cannot be asked.</summary>
    private static string? OpenedPath(FileStream stream)
    {
        string fd = $"/proc/self/fd/{stream.SafeFileHandle.DangerousGetHandle()}";
        try { return new FileInfo(fd).LinkTarget; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
    }

    /// <summary>
    /// <paramref name="path"/> with every symbolic link resolved, like POSIX <c>realpath</c>; null when it does not exist or a
    /// link loops. Written out because .NET resolves only the last component's links (<see cref="FileSystemInfo.ResolveLinkTarget"/>),
    /// and a link may be any folder on the way.
    /// </summary>
    public static string? RealPath(string path)
    {
        var pending = new LinkedList<string>(Path.GetFullPath(path).Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries));
        string current = Path.DirectorySeparatorChar.ToString();
        int links = 0;
        try
        {
            while (pending.First is { } node)
            {
                pending.RemoveFirst();
                string part = node.Value;
                if (part == ".") continue;
                if (part == "..") { current = Path.GetDirectoryName(current) ?? current; continue; }
                string next = Path.Combine(current, part);
                var info = new FileInfo(next);
                if (info.LinkTarget is { } target)
                {
                    if (++links > MaxLinks) return null;
                    if (Path.IsPathRooted(target)) current = Path.DirectorySeparatorChar.ToString();
                    foreach (var t in target.Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries).Reverse()) pending.AddFirst(t);
                    continue;
                }
                if (!info.Exists && !Directory.Exists(next)) return null;
                current = next;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
        return current;
    }
}
