namespace VidSeek.Data.Loaders;

/// <summary>
/// Where a dataset's video files are: maps a video id to its file, and says where it was looked for when it
/// is not there. Loaders only check that the file exists; they never decode it.
/// </summary>
internal sealed class VideoLocator
{
    private readonly Func<string, string?> find;
    private readonly Func<string, string> expected;

    private VideoLocator(string folder, Func<string, string?> find, Func<string, string> expected) =>
        (Folder, this.find, this.expected) = (folder, find, expected);

    /// <summary>The videos folder (absolute).</summary>
    public string Folder { get; }

    /// <summary>The video's file (absolute), or null when it does not exist.</summary>
    public string? Find(string id) => find(id);

    /// <summary>Where the video was looked for, for a "not found" message.</summary>
    public string Expected(string id) => expected(id);

    /// <summary>Videos at <c>{folder}/{id}{extension}</c> (MSR-VTT, MSVD).</summary>
    public static VideoLocator Named(string folder, string extension)
    {
        string PathOf(string id) => Path.Combine(folder, id + extension);
        return new VideoLocator(folder, id => File.Exists(PathOf(id)) ? PathOf(id) : null, PathOf);
    }

    /// <summary>Videos at <c>{folder}/{id}</c> where the id is a relative path (the JSON list formats; an absolute id is used as is).</summary>
    public static VideoLocator RelativePath(string folder)
    {
        string PathOf(string id) => Path.GetFullPath(Path.Combine(folder, id));
        return new VideoLocator(folder, id => File.Exists(PathOf(id)) ? PathOf(id) : null, PathOf);
    }

    /// <summary>
    /// Videos named <c>{id}{extension}</c> anywhere under <paramref name="folder"/> (LSMDC keeps clips in one
    /// folder per movie). The folder is listed once, on first use, into a file-stem index; when two files share
    /// a stem, the first in ordinal path order wins, so the choice does not depend on the file system's order.
    /// </summary>
    public static VideoLocator ByStemUnder(string folder, string extension)
    {
        var index = new Lazy<Dictionary<string, string>>(() =>
        {
            var byStem = new Dictionary<string, string>(StringComparer.Ordinal);
            if (!Directory.Exists(folder)) return byStem;
            var files = Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories)
                .Where(f => f.EndsWith(extension, StringComparison.OrdinalIgnoreCase))
                .Order(StringComparer.Ordinal);
            foreach (var file in files) byStem.TryAdd(Path.GetFileNameWithoutExtension(file), file);
            return byStem;
        });
        return new VideoLocator(folder, id => index.Value.GetValueOrDefault(id), id => $"{id}{extension} anywhere under {folder}");
    }
}
