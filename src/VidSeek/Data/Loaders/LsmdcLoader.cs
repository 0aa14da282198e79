namespace VidSeek.Data.Loaders;

/// <summary>
/// LSMDC (Large Scale Movie Description Challenge, 2016 retrieval files): tab-separated lines of 6 fields,
/// clip id first and caption last (the middle four are the aligned and extracted start/end times, unused):
/// <c>LSMDC16_annos_training.csv</c> (<c>train</c>), <c>LSMDC16_annos_val.csv</c> (<c>val</c>),
/// <c>LSMDC16_challenge_1000_publictect.csv</c> (<c>test</c>, the 1000-clip test; the file name's typo is the real one).
/// </summary>
/// <remarks>
/// Videos are <c>{clip_id}.avi</c> anywhere under the videos folder (default <c>ROOT/videos</c>): the real
/// layout is <c>{movie}/{clip_id}.avi</c>, so the folder is indexed once by file name rather than guessing
/// the movie folder from the clip id.
/// </remarks>
public sealed class LsmdcLoader : IDatasetLoader
{
    private const int FieldCount = 6;

    private static readonly Dictionary<string, string> FileOfSplit = new()
    {
        ["train"] = "LSMDC16_annos_training.csv",
        ["val"] = "LSMDC16_annos_val.csv",
        ["test"] = "LSMDC16_challenge_1000_publictect.csv",
    };

    public string Name => "lsmdc";

    public IReadOnlyList<string> Splits { get; } = ["train", "val", "test"];

    public (RetrievalSplit Split, LoadReport Report) Load(string root, string split, LoadOptions options)
    {
        ArgumentNullException.ThrowIfNull(split);
        root = LoaderPaths.RequireFolder(root, Name);
        if (!FileOfSplit.TryGetValue(split, out var fileName)) throw LoaderPaths.UnknownSplit(Name, split, Splits);
        string path = LoaderPaths.RequireFile(root, fileName, Name);
        var videos = VideoLocator.ByStemUnder(LoaderPaths.VideosFolder(options, Path.Combine(root, "videos")), ".avi");
        var builder = new SplitBuilder(Name, split, videos, options);

        // The whole file is checked before any video is looked up, so a malformed file is reported as such
        // whatever the state of the videos folder.
        var rows = new List<(string ClipId, string Caption, int Line)>();
        int line = 0;
        foreach (var text in File.ReadLines(path))
        {
            line++;
            if (text.Trim().Length == 0) continue;
            var fields = text.Split('\t');
            if (fields.Length != FieldCount)
                throw new VidSeekException($"{path}: line {line}: {fields.Length} tab-separated fields, expected {FieldCount} (clip id, 4 times, caption)");
            string clipId = fields[0].Trim();
            if (clipId.Length == 0) throw new VidSeekException($"{path}: line {line}: empty clip id");
            rows.Add((clipId, fields[^1].Trim(), line));
        }
        foreach (var (clipId, caption, at) in rows) builder.AddCaption(clipId, caption, null, path, $"line {at}");
        return builder.Build(path);
    }
}
