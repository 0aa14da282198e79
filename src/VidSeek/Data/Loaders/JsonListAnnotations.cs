using System.Text.Json;

namespace VidSeek.Data.Loaders;

/// <summary>
/// The JSON list form shared by <see cref="JsonListLoader"/>, <see cref="DidemoLoader"/> and
/// <see cref="ActivityNetLoader"/>: <c>[{"video": "rel/path.mp4", "caption": "..." | ["...", ...]}, ...]</c>.
/// </summary>
internal static class JsonListAnnotations
{
    /// <summary>Loads a split of a JSON list file.</summary>
    /// <param name="dataset">The format name, for messages and <see cref="RetrievalSplit.Dataset"/>.</param>
    /// <param name="root">The json file itself (then <paramref name="split"/> only names the result), or a folder with <c>{split}.json</c>.</param>
    /// <param name="split">The split.</param>
    /// <param name="options">Videos folder (default: the json file's folder; video paths are relative to it) and missing-video policy.</param>
    /// <param name="paragraphs">
    /// False: every caption string is one query. True (paragraph-to-video): all sentences of a video, across
    /// its entries and in file order, are trimmed and joined with one space into a single query.
    /// </param>
    public static (RetrievalSplit Split, LoadReport Report) Load(string dataset, string root, string split, LoadOptions options, bool paragraphs)
    {
        string file = ResolveFile(dataset, root, split);
        if (string.IsNullOrEmpty(split)) split = Path.GetFileNameWithoutExtension(file);
        var videos = VideoLocator.RelativePath(LoaderPaths.VideosFolder(options, Path.GetDirectoryName(file)!));
        var builder = new SplitBuilder(dataset, split, videos, options);

        var entries = ReadEntries(file);
        if (!paragraphs)
        {
            foreach (var (video, captions, index) in entries)
                foreach (var caption in captions) builder.AddCaption(video, caption, null, file, $"entry {index}");
            return builder.Build(file);
        }

        // Paragraphs: each video's sentences across its entries, in file order; a missing-video error names its first entry.
        var paragraphOf = new Dictionary<string, (int FirstEntry, List<string> Sentences)>(StringComparer.Ordinal);
        var order = new List<string>();
        foreach (var (video, captions, index) in entries)
        {
            if (!paragraphOf.TryGetValue(video, out var p)) { paragraphOf[video] = p = (index, new List<string>()); order.Add(video); }
            p.Sentences.AddRange(captions);
        }
        foreach (var video in order)
        {
            var (first, sentences) = paragraphOf[video];
            // Trimmed so that the join leaves exactly one space between sentences (ActivityNet's start with a space).
            string paragraph = string.Join(" ", sentences.Select(s => s.Trim()).Where(s => s.Length > 0));
            if (paragraph.Length > 0) builder.AddCaption(video, paragraph, null, file, $"entry {first}");
        }
        return builder.Build(file);
    }

    /// <summary>
    /// Reads and checks every entry (before any video is looked up, so a malformed file is reported as such
    /// whatever the state of the videos folder).
    /// </summary>
    private static List<(string Video, List<string> Captions, int Index)> ReadEntries(string file)
    {
        using var doc = JsonAnnotation.Parse(file);
        var list = JsonAnnotation.Expect(doc.RootElement, JsonValueKind.Array, file, "top level", "the file");
        var entries = new List<(string, List<string>, int)>();
        int i = 0;
        foreach (var entry in list.EnumerateArray())
        {
            string where = $"entry {i}";
            string video = JsonAnnotation.RequireString(entry, "video", file, where);
            if (video.Trim().Length == 0) throw new VidSeekException($"{file}: {where}: empty 'video'");
            entries.Add((video, JsonAnnotation.StringOrStrings(JsonAnnotation.RequireProperty(entry, "caption", file, where), file, where, "'caption'"), i));
            i++;
        }
        return entries;
    }

    /// <summary>The json file: <paramref name="root"/> itself, or <c>{root}/{split}.json</c>.</summary>
    private static string ResolveFile(string dataset, string root, string split)
    {
        string full = Path.GetFullPath(root);
        if (File.Exists(full)) return full;
        if (!Directory.Exists(full)) throw new VidSeekException($"{dataset}: annotation file or dataset folder not found: {full}");
        if (string.IsNullOrEmpty(split)) throw new VidSeekException($"{dataset}: {full} is a folder: name a split (its {{split}}.json)");

        string path = Path.Combine(full, split + ".json");
        if (File.Exists(path)) return path;
        var present = Directory.GetFiles(full, "*.json").Select(Path.GetFileNameWithoutExtension).Order(StringComparer.Ordinal).ToList();
        if (present.Count == 0) throw new VidSeekException($"{dataset}: missing annotation file: expected {path}");
        throw new VidSeekException($"{dataset}: unknown split '{split}' (no {path}); known splits (the .json files there): {string.Join(", ", present)}");
    }
}
