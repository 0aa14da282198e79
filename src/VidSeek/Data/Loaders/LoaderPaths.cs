namespace VidSeek.Data.Loaders;

/// <summary>The checks every loader makes on its input paths, with the same messages everywhere.</summary>
internal static class LoaderPaths
{
    /// <summary>The dataset folder, made absolute.</summary>
    /// <exception cref="VidSeekException">It is not a folder.</exception>
    public static string RequireFolder(string root, string dataset)
    {
        string full = Path.GetFullPath(root);
        if (!Directory.Exists(full))
            throw new VidSeekException(File.Exists(full)
                ? $"{dataset}: expected the dataset folder, got a file: {full}"
                : $"{dataset}: dataset folder not found: {full}");
        return full;
    }

    /// <summary><c>{folder}/{name}</c>, which must exist.</summary>
    /// <exception cref="VidSeekException">Missing; the message names the expected path.</exception>
    public static string RequireFile(string folder, string name, string dataset)
    {
        string path = Path.Combine(folder, name);
        if (!File.Exists(path)) throw new VidSeekException($"{dataset}: missing annotation file: expected {path}");
        return path;
    }

    /// <summary>The videos folder: <see cref="LoadOptions.VideosDir"/> when given, else the dataset's default; absolute.</summary>
    public static string VideosFolder(LoadOptions options, string defaultFolder) =>
        Path.GetFullPath(options.VideosDir ?? defaultFolder);

    /// <summary>The error for a split the dataset does not have.</summary>
    public static VidSeekException UnknownSplit(string dataset, string split, IEnumerable<string> known) =>
        new($"{dataset}: unknown split '{split}'; known splits: {string.Join(", ", known)}");
}
