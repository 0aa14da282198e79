namespace VidSeek.Index;

/// <summary>What <c>vidseek index PATH</c> indexes: every video file under a folder, or one video file.</summary>
public static class VideoFiles
{
    /// <summary>
    /// The videos and the index root for <paramref name="path"/>. A folder: every file with a video extension
    /// (<see cref="IndexBuilder.VideoExtensions"/>, any case) under it, recursively; none is an error that names the
    /// extensions looked for. A single video file: that file, with its folder as the root; the index then mirrors that
    /// one file, as it mirrors a folder (a rerun with the same file finds it unchanged).
    /// </summary>
    public static (List<IndexSourceVideo> Videos, string Root) Scan(string path)
    {
        string full = Path.GetFullPath(path).TrimEnd(Path.DirectorySeparatorChar);
        if (File.Exists(full))
        {
            if (!IndexBuilder.VideoExtensions.Contains(Path.GetExtension(full)))
                throw new VidSeekException($"{full} is not a video file by its extension (looked for {Extensions})");
            return ([new IndexSourceVideo(full, [])], Path.GetDirectoryName(full)!);
        }
        var videos = IndexBuilder.ScanFolder(full);
        if (videos.Count == 0) throw new VidSeekException($"no video files under {full} (looked for {Extensions}, any case)");
        return (videos, full);
    }

    /// <summary>The extensions, for messages: ".mp4, .avi, ...".</summary>
    public static string Extensions => string.Join(", ", IndexBuilder.VideoExtensions);
}
