namespace VidSeek.Data.Loaders;

/// <summary>
/// Where a dataset's video files are: maps a video id to its file, and says where it was looked for when it
/// is not there. Loaders only check that the file exists; they never decode it.
/// </summary>
internal sealed class VideoLocator
{
    private readonly Func<string, string?> find;
    private readonly Func<string, string> expected;
    private readonly bool idIsPath;

    private VideoLocator(string folder, Func<string, string?> find, Func<string, string> expected, bool idIsPath = true) =>
        (Folder, this.find, this.expected, this.idIsPath) = (folder, find, expected, idIsPath);

    /// <summary>
    /// Why the id cannot name a video, or null when it can. An annotation file is untrusted input: an id that is an absolute
    /// path, climbs out with <c>..</c>, or holds a NUL or another control character would make the loader read a file
    /// outside the videos folder (the check is on the path as written; links inside the folder are the user's own layout).
    /// </summary>
    public string? Refusal(string id)
    {
        if (id.Length == 0) return "the video id is empty";
        if (id.Any(char.IsControl)) return $"video id '{Printable(id)}' contains a control character";
        if (!idIsPath) return null;
        if (Path.IsPathRooted(id)) return $"video id '{id}' is an absolute path; ids are paths under the videos folder {Folder}";
        string full = Path.GetFullPath(expected(id));
        string root = Path.TrimEndingDirectorySeparator(Path.GetFullPath(Folder)) + Path.DirectorySeparatorChar;
        return full.StartsWith(root, StringComparison.Ordinal) ? null : $"video id '{id}' leads outside the videos folder {Folder}";
    }

    private static string Printable(string id) => new(id.Select(c => char.IsControl(c) ? '?' : c).Take(80).ToArray());

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

    /// <summary>Videos at <c>{folder}/{id}</c> where the id is a relative path under the folder (the JSON list formats).</summary>
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
        return new VideoLocator(folder, id => index.Value.GetValueOrDefault(id), id => $"{id}{extension} anywhere under {folder}", idIsPath: false);
    }
}
