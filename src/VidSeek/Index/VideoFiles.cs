using System.Runtime.InteropServices;

namespace VidSeek.Index;

/// <summary>What <c>vidseek index PATH</c> indexes: every video file under a folder, or one video file.</summary>
public static class VideoFiles
{
    /// <summary>
    /// The videos and the index root for <paramref name="path"/>. A folder: every file with a video extension
    /// (<see cref="IndexBuilder.VideoExtensions"/>, any case) under it, recursively (<see cref="Walk"/>); none is an error that
    /// names the extensions looked for. A single video file: that file, with its folder as the root; the index then mirrors that
    /// one file, as it mirrors a folder (a rerun with the same file finds it unchanged).
    /// </summary>
    /// <param name="skipped">Entries left out, with why (a dangling or looping link, a FIFO, a folder already scanned).</param>
    public static (List<IndexSourceVideo> Videos, string Root) Scan(string path, Action<string, string>? skipped = null)
    {
        string full = Path.GetFullPath(path).TrimEnd(Path.DirectorySeparatorChar);
        if (File.Exists(full))
        {
            if (!IndexBuilder.VideoExtensions.Contains(Path.GetExtension(full)))
                throw new VidSeekException($"{full} is not a video file by its extension (looked for {Extensions})");
            if (NotRegular(full) is { } why) throw new VidSeekException($"{full} {why}");
            return ([new IndexSourceVideo(full, [])], Path.GetDirectoryName(full)!);
        }
        if (!Directory.Exists(full) && new FileInfo(full).LinkTarget is not null)
            throw new VidSeekException($"{full} is a symbolic link that leads nowhere ({RealPathError(full)})");
        var videos = IndexBuilder.ScanFolder(full, skipped);
        if (videos.Count == 0) throw new VidSeekException($"no video files under {full} (looked for {Extensions}, any case)");
        return (videos, full);
    }

    /// <summary>The extensions, for messages: ".mp4, .avi, ...".</summary>
    public static string Extensions => string.Join(", ", IndexBuilder.VideoExtensions);

    /// <summary>
    /// Every file under <paramref name="root"/>, recursively, hidden entries (names starting with '.') left out. Symbolic links
    /// are followed, but each real folder is scanned once: a link to a folder already scanned (a loop such as <c>sub/up -> ..</c>,
    /// or a second link to the same folder) is skipped, so a loop cannot multiply the files. A link that leads nowhere (its
    /// target is missing) or to itself (the system's ELOOP) is skipped and reported whatever its name, as is a folder that
    /// cannot be read. Files that are not regular (a FIFO, socket or device) are listed; the builder refuses them without
    /// opening them (<see cref="NotRegular"/>) and counts them with the files that fail to decode.
    /// </summary>
    public static List<string> Walk(string root, Action<string, string> skipped)
    {
        var files = new List<string>();
        var scanned = new Dictionary<string, string>(StringComparer.Ordinal); // real folder -> the path it was scanned under
        var pending = new Stack<(string Path, string Real)>();
        // Folders reached through a link wait until every folder reachable without one is scanned, so a folder inside the
        // root is listed under its own path, and a link to it is what gets skipped.
        var linked = new Queue<(string Path, string Real)>();
        pending.Push((root, RealPath(root) ?? root));
        while (pending.TryPop(out var dir) || linked.TryDequeue(out dir))
        {
            if (scanned.TryGetValue(dir.Real, out var first))
            {
                skipped(dir.Path, $"leads to {dir.Real}, already scanned as {first}");
                continue;
            }
            scanned[dir.Real] = dir.Path;
            FileSystemInfo[] entries;
            try { entries = new DirectoryInfo(dir.Path).GetFileSystemInfos(); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Security.SecurityException)
            {
                skipped(dir.Path, $"cannot be read ({e.Message})");
                continue;
            }
            var links = new List<(string, string)>();
            foreach (var entry in entries.OrderByDescending(e => e.Name, StringComparer.Ordinal)) // a stack: pops in name order
            {
                if (entry.Name.StartsWith('.')) continue;
                string path = Path.Combine(dir.Path, entry.Name);
                bool video = IndexBuilder.VideoExtensions.Contains(Path.GetExtension(entry.Name));
                if (entry.LinkTarget is not null)
                {
                    if (RealPath(path) is not { } real)
                    {
                        skipped(path, $"is a symbolic link that leads nowhere ({RealPathError(path)})");
                        continue;
                    }
                    if (Directory.Exists(real)) { links.Add((path, real)); continue; }
                    if (video) files.Add(path); // a link to an empty or special file fails in the builder, counted, like the file itself

                }
                else if (entry is DirectoryInfo) pending.Push((path, Path.Combine(dir.Real, entry.Name)));
                else if (video) files.Add(path);
            }
            for (int i = links.Count - 1; i >= 0; i--) linked.Enqueue(links[i]); // in name order
        }
        return files;
    }

    /// <summary>
    /// Why a file cannot be a video without opening it, or null. .NET does not say whether a file is regular; a FIFO, socket or
    /// device reports a length of 0, as does an empty file, and none of them is a video (a FIFO would block the open).
    /// </summary>
    public static string? NotRegular(string path)
    {
        var info = new FileInfo(path);
        if (!info.Exists) return "is not there any more";
        return info.Length == 0 ? "is empty or not a regular file (a FIFO, socket or device); only regular files are videos" : null;
    }

    /// <summary>The path with every symbolic link resolved (libc's realpath), or null when a link is dangling or loops.</summary>
    private static string? RealPath(string path)
    {
        if (!OperatingSystem.IsLinux())
        {
            try { return new FileInfo(path).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? Path.GetFullPath(path); }
            catch (IOException) { return null; }
        }
        IntPtr resolved = realpath(path, IntPtr.Zero);
        if (resolved == IntPtr.Zero) return null;
        try { return Marshal.PtrToStringUTF8(resolved); }
        finally { free(resolved); }
    }

    private static string RealPathError(string path)
    {
        try
        {
            new FileInfo(path).ResolveLinkTarget(returnFinalTarget: true);
            return "its target does not exist";
        }
        catch (IOException e) { return e.Message; } // ELOOP: "Too many levels of symbolic links"
    }

    [DllImport("libc.so.6", CharSet = CharSet.Ansi, SetLastError = true)] // Ansi is UTF-8 on Unix
    private static extern IntPtr realpath(string path, IntPtr resolved);

    [DllImport("libc.so.6")]
    private static extern void free(IntPtr pointer);
}
