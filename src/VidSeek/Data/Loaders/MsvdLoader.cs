using System.Text.Json;

namespace VidSeek.Data.Loaders;

/// <summary>
/// MSVD (Microsoft Video Description): <c>captions_msvd.json</c> (video id -> list of captions) and the split
/// lists <c>train_list.txt</c> / <c>val_list.txt</c> / <c>test_list.txt</c> (one id per line) in the root;
/// videos <c>{videos}/{id}.avi</c>.
/// </summary>
/// <remarks>
/// Every caption is a query (MSVD has about 40 per video). The default videos folder is <c>ROOT/videos</c>,
/// or <c>ROOT/YouTubeClips</c> (the name in the original archive) when only that exists.
/// </remarks>
public sealed class MsvdLoader : IDatasetLoader
{
    public const string CaptionsFile = "captions_msvd.json";

    public string Name => "msvd";

    public IReadOnlyList<string> Splits { get; } = ["train", "val", "test"];

    public (RetrievalSplit Split, LoadReport Report) Load(string root, string split, LoadOptions options)
    {
        ArgumentNullException.ThrowIfNull(split);
        root = LoaderPaths.RequireFolder(root, Name);
        if (!Splits.Contains(split)) throw LoaderPaths.UnknownSplit(Name, split, Splits);

        string videosDefault = Path.Combine(root, "videos"), clips = Path.Combine(root, "YouTubeClips");
        if (!Directory.Exists(videosDefault) && Directory.Exists(clips)) videosDefault = clips;
        var builder = new SplitBuilder(Name, split, VideoLocator.Named(LoaderPaths.VideosFolder(options, videosDefault), ".avi"), options);

        string listPath = LoaderPaths.RequireFile(root, $"{split}_list.txt", Name);
        var captions = ReadCaptions(LoaderPaths.RequireFile(root, CaptionsFile, Name));
        // Ids in list order; a repeated id is the same video, listed once.
        var ids = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        int line = 0;
        foreach (var raw in File.ReadLines(listPath))
        {
            line++;
            string id = raw.Trim();
            if (id.Length == 0) continue;
            if (!captions.Captions.ContainsKey(id))
                throw new VidSeekException($"{listPath}: line {line}: video '{id}' has no entry in {captions.Path}");
            if (seen.Add(id)) ids.Add(id);
            builder.DeclareVideo(id);
        }
        foreach (var id in ids)
            foreach (var caption in captions.Captions[id])
                builder.AddCaption(id, caption, null, captions.Path, $"video '{id}'");
        return builder.Build(listPath);
    }

    private sealed record CaptionsData(string Path, Dictionary<string, List<string>> Captions);

    private static CaptionsData ReadCaptions(string path)
    {
        using var doc = JsonAnnotation.Parse(path);
        var top = JsonAnnotation.Expect(doc.RootElement, JsonValueKind.Object, path, "top level", "the file (video id -> captions)");
        var captions = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (var property in top.EnumerateObject())
        {
            string where = $"video '{property.Name}'";
            if (!captions.TryAdd(property.Name, JsonAnnotation.StringOrStrings(property.Value, path, where, "its captions")))
                throw new VidSeekException($"{path}: {where}: duplicate video id");
        }
        return new CaptionsData(path, captions);
    }
}
