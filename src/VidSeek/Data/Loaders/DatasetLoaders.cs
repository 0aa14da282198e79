namespace VidSeek.Data.Loaders;

/// <summary>The dataset loaders by format name, for callers that take the format as a string (the CLI, configs).</summary>
public static class DatasetLoaders
{
    /// <summary>Every loader, in the order they are listed in messages.</summary>
    public static IReadOnlyList<IDatasetLoader> All { get; } =
    [
        new MsrVttLoader(),
        new JsonListLoader(),
        new MsvdLoader(),
        new LsmdcLoader(),
        new DidemoLoader(),
        new ActivityNetLoader(),
    ];

    /// <summary>The format names: <c>msrvtt</c>, <c>json</c>, <c>msvd</c>, <c>lsmdc</c>, <c>didemo</c>, <c>activitynet</c>.</summary>
    public static IReadOnlyList<string> Names { get; } = All.Select(l => l.Name).ToList();

    /// <summary>The loader of format <paramref name="name"/> (case-insensitive).</summary>
    /// <exception cref="VidSeekException">Unknown name; the message lists the known ones.</exception>
    public static IDatasetLoader Get(string name) =>
        All.FirstOrDefault(l => string.Equals(l.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new VidSeekException($"unknown dataset format '{name}'; known formats: {string.Join(", ", Names)}");

    /// <summary>Loads split <paramref name="split"/> of the dataset at <paramref name="root"/> in format <paramref name="format"/>.</summary>
    /// <param name="format">A name of <see cref="Names"/>.</param>
    /// <param name="root">The dataset folder (or, for the JSON list formats, the json file).</param>
    /// <param name="split">The split name.</param>
    /// <param name="options">Videos folder and missing-video policy; defaults when null.</param>
    /// <exception cref="VidSeekException">See <see cref="IDatasetLoader.Load"/> and <see cref="Get"/>.</exception>
    public static (RetrievalSplit Split, LoadReport Report) Load(string format, string root, string split, LoadOptions? options = null) =>
        Get(format).Load(root, split, options ?? new LoadOptions());
}
