namespace VidSeek.Data.Loaders;

/// <summary>
/// Reads one dataset's own annotation files (in the layout the dataset is distributed in) into the common
/// <see cref="RetrievalSplit"/>. Implementations are stateless; get one by name from <see cref="DatasetLoaders.Get"/>.
/// </summary>
public interface IDatasetLoader
{
    /// <summary>The format's name in <see cref="DatasetLoaders"/> (<c>msrvtt</c>, <c>json</c>, ...).</summary>
    string Name { get; }

    /// <summary>
    /// The dataset's standard split names. Formats that read <c>{split}.json</c> or a per-video <c>split</c>
    /// field accept other names too (see each loader); an unknown split is an error that lists what the files offer.
    /// </summary>
    IReadOnlyList<string> Splits { get; }

    /// <summary>Loads one split.</summary>
    /// <param name="root">The dataset folder (for the JSON list formats also the annotation file itself).</param>
    /// <param name="split">The split name.</param>
    /// <param name="options">Where the videos are and what to do with captions whose video is missing.</param>
    /// <returns>The split (every video has at least one caption) and what was skipped.</returns>
    /// <exception cref="VidSeekException">
    /// A missing or malformed annotation file (naming the file and the entry), an unknown split (listing the
    /// known ones), or a caption whose video file is missing while <see cref="LoadOptions.SkipMissing"/> is false.
    /// </exception>
    (RetrievalSplit Split, LoadReport Report) Load(string root, string split, LoadOptions options);
}
