namespace VidSeek.Data.Loaders;

/// <summary>
/// DiDeMo (Distinct Describable Moments) for paragraph-to-video retrieval: the JSON list form with a list caption,
/// <c>{split}.json</c> in the root (<c>train.json</c>, <c>val.json</c>, <c>test.json</c>), each entry
/// <c>{"video": "rel/path.mp4", "caption": ["sentence", ...]}</c>.
/// </summary>
/// <remarks>
/// All sentences of a video are trimmed and joined with one space into ONE query (one <see cref="CaptionEntry"/>
/// per video), the standard paragraph-to-video protocol. Video paths are relative to the videos folder, by
/// default the json file's folder; the root may also be the json file itself.
/// </remarks>
public sealed class DidemoLoader : IDatasetLoader
{
    public string Name => "didemo";

    /// <summary>The usual file names; any <c>{split}.json</c> in the root is accepted.</summary>
    public IReadOnlyList<string> Splits { get; } = ["train", "val", "test"];

    public (RetrievalSplit Split, LoadReport Report) Load(string root, string split, LoadOptions options) =>
        JsonListAnnotations.Load(Name, root, split, options, paragraphs: true);
}
