namespace VidSeek.Data.Loaders;

/// <summary>
/// Collects a split's videos and captions the same way for every loader: one <see cref="VideoEntry"/> per
/// video id, captions whose video file is missing either rejected or skipped and counted
/// (<see cref="LoadOptions.SkipMissing"/>), and videos without a caption left out.
/// </summary>
/// <remarks>
/// Videos keep the order in which they were first declared (a split list's order, else first mention), so
/// a split loads the same way every time and matches the order of the dataset's own lists.
/// </remarks>
internal sealed class SplitBuilder(string dataset, string split, VideoLocator videos, LoadOptions options)
{
    private const int MaxExamples = 5;

    private readonly List<string> ids = [];
    private readonly Dictionary<string, int> slotOf = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string?> pathOf = new(StringComparer.Ordinal);
    private readonly List<(string Text, int Slot, string? Type)> captions = [];
    private readonly HashSet<string> missingVideos = new(StringComparer.Ordinal);
    private readonly List<string> missingExamples = [];
    private int skippedCaptions;

    /// <summary>Registers a video of the split (idempotent); it is kept only if a caption names it.</summary>
    public void DeclareVideo(string id)
    {
        if (slotOf.ContainsKey(id)) return;
        slotOf[id] = ids.Count;
        ids.Add(id);
    }

    /// <summary>Adds a caption of video <paramref name="videoId"/> (declaring the video if needed).</summary>
    /// <param name="file">The annotation file the caption comes from, for the missing-video error.</param>
    /// <param name="where">The entry in that file (<c>line 7</c>, <c>sentences[12]</c>), for the same.</param>
    /// <exception cref="VidSeekException">The video file does not exist and missing videos are not skipped.</exception>
    public void AddCaption(string videoId, string text, string? type, string file, string where)
    {
        if (!pathOf.TryGetValue(videoId, out var path))
        {
            if (videos.Refusal(videoId) is { } why) throw new VidSeekException($"{file}: {where}: {why}");
            pathOf[videoId] = path = videos.Find(videoId);
        }
        if (path == null)
        {
            if (!options.SkipMissing)
                throw new VidSeekException(
                    $"{file}: {where}: video '{videoId}' not found (looked for {videos.Expected(videoId)}); " +
                    "set the videos folder, or skip captions of missing videos");
            skippedCaptions++;
            if (missingVideos.Add(videoId) && missingExamples.Count < MaxExamples) missingExamples.Add(videos.Expected(videoId));
            return;
        }
        DeclareVideo(videoId);
        captions.Add((AnnotationLimits.Bound(text), slotOf[videoId], type));
    }

    /// <summary>The split: videos with at least one caption, in declaration order, and the captions in the order added.</summary>
    /// <param name="annotationFile">Named in the error for a split with no captions.</param>
    /// <exception cref="VidSeekException">No caption is left (an empty split cannot be evaluated).</exception>
    public (RetrievalSplit Split, LoadReport Report) Build(string annotationFile)
    {
        if (captions.Count == 0)
            throw skippedCaptions > 0
                ? new VidSeekException($"{annotationFile}: split '{split}': all {skippedCaptions} captions name missing videos " +
                                       $"(videos folder {videos.Folder}; e.g. {string.Join(", ", missingExamples)})")
                : new VidSeekException($"{annotationFile}: split '{split}' has no captions");

        // Renumber: a declared video without captions (or whose file is missing) is left out.
        var newIndex = new int[ids.Count];
        Array.Fill(newIndex, -1);
        foreach (var c in captions) newIndex[c.Slot] = 0;
        var entries = new List<VideoEntry>();
        for (int slot = 0; slot < ids.Count; slot++)
        {
            if (newIndex[slot] < 0) continue;
            newIndex[slot] = entries.Count;
            entries.Add(new VideoEntry(ids[slot], pathOf[ids[slot]]!));
        }
        var captionEntries = captions.Select(c => new CaptionEntry(c.Text, newIndex[c.Slot], c.Type)).ToList();
        var report = new LoadReport(skippedCaptions, missingExamples) { SkippedVideos = missingVideos.Count };
        return (new RetrievalSplit(dataset, split, entries, captionEntries), report);
    }
}
