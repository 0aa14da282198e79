namespace VidSeek.Data.Loaders;

/// <summary>
/// The generic JSON list (VindLU / Singularity style): <c>[{"video": "rel/path.mp4", "caption": "..." | ["...", ...]}]</c>.
/// </summary>
/// <remarks>
/// The root is the json file itself (the split name then only labels the result) or a folder with
/// <c>{split}.json</c>. Video paths are relative to the videos folder, by default the json file's folder.
/// Every caption string is one query; a video named by several entries is one <see cref="VideoEntry"/>
/// (its id is the <c>video</c> string as written).
/// </remarks>
public sealed class JsonListLoader : IDatasetLoader
{
    public string Name => "json";

    /// <summary>The usual file names; a folder root accepts any <c>{split}.json</c> it holds.</summary>
    public IReadOnlyList<string> Splits { get; } = ["train", "val", "test"];

    public (RetrievalSplit Split, LoadReport Report) Load(string root, string split, LoadOptions options) =>
        JsonListAnnotations.Load(Name, root, split, options, paragraphs: false);
}
