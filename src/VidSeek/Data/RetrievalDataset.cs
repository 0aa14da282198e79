namespace VidSeek.Data;

/// <summary>One video of a split.</summary>
/// <param name="Id">The dataset's id for it (MSR-VTT <c>video7010</c>, an MSVD id, an LSMDC clip id, a relative path).</param>
/// <param name="Path">Absolute path of the video file.</param>
public sealed record VideoEntry(string Id, string Path);

/// <summary>One caption (a text query) and the video it describes.</summary>
/// <param name="Text">The caption; for paragraph-to-video datasets (DiDeMo, ActivityNet) the video's sentences joined with a space.</param>
/// <param name="VideoIndex">Index into <see cref="RetrievalSplit.Videos"/>.</param>
/// <param name="Type">An optional caption type tag for per-type metrics (Shapes: <c>full</c> or <c>segment</c>); null when the dataset has none.</param>
public sealed record CaptionEntry(string Text, int VideoIndex, string? Type = null);

/// <summary>
/// A split of a retrieval dataset, the common form every loader produces: the videos and their captions.
/// Every video has at least one caption (video-to-text needs it); captions point into <see cref="Videos"/>.
/// </summary>
public sealed record RetrievalSplit(string Dataset, string Name, IReadOnlyList<VideoEntry> Videos, IReadOnlyList<CaptionEntry> Captions)
{
    /// <summary>For each caption, the index of its video (the ground truth of text-to-video).</summary>
    public int[] VideoOfCaption => Captions.Select(c => c.VideoIndex).ToArray();

    /// <summary>The distinct caption types present, in first-seen order (empty when untagged).</summary>
    public IReadOnlyList<string> CaptionTypes => Captions.Where(c => c.Type != null).Select(c => c.Type!).Distinct().ToList();
}

/// <summary>What loaders do with a caption whose video file is missing.</summary>
public sealed record LoadOptions
{
    /// <summary>Folder of the video files; each loader has its dataset's default (e.g. <c>ROOT/videos</c>).</summary>
    public string? VideosDir { get; init; }

    /// <summary>
    /// False (default): a caption naming a missing video is an error naming the annotation file and the entry.
    /// True: such captions (and videos) are dropped and counted in <see cref="LoadReport.SkippedMissing"/>.
    /// </summary>
    public bool SkipMissing { get; init; }
}

/// <summary>What a load skipped, for the caller to warn about.</summary>
/// <param name="SkippedMissing">Captions dropped because their video file is missing (<see cref="LoadOptions.SkipMissing"/>).</param>
/// <param name="MissingExamples">Up to 5 of the missing videos, as where each was looked for.</param>
public sealed record LoadReport(int SkippedMissing, IReadOnlyList<string> MissingExamples)
{
    /// <summary>Distinct videos whose file is missing (the videos of the <see cref="SkippedMissing"/> captions).</summary>
    public int SkippedVideos { get; init; }
}
