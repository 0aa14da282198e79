namespace VidSeek.Video;

/// <summary>
/// The frames <see cref="VideoReader.Read"/> sampled from a video, with where they came from.
/// </summary>
/// <param name="Path">The video file, as given to the reader.</param>
/// <param name="Frames">
/// F images, one per entry of <paramref name="Indices"/>, each <c>Height * Width * 3</c> bytes in HWC
/// order with channels <b>R, G, B</b> (already converted from OpenCV's BGR). Every entry is its own array,
/// also when an index repeats.
/// </param>
/// <param name="Width">Frame width in pixels (all frames share it).</param>
/// <param name="Height">Frame height in pixels (all frames share it).</param>
/// <param name="FrameCount">The true number of decodable frames, counted while reading.</param>
/// <param name="EstimatedFrameCount">The container's CAP_PROP_FRAME_COUNT (0 when it reported none).</param>
/// <param name="Fps">The container's frame rate (0 when unknown).</param>
/// <param name="Indices">F frame indices in [0, FrameCount-1], from <see cref="FrameSampler"/> on <paramref name="FrameCount"/>.</param>
/// <param name="Times">F presentation times in seconds, from the decoder's timestamps (index / fps where it has none).</param>
/// <param name="DecodePasses">
/// Full sequential passes over the file: 1 when the estimate was right, 2 when a second pass had to re-read the
/// file, 0 when the frames were found by seeking (<see cref="Method"/>).
/// </param>
public sealed record DecodedFrames(
    string Path,
    IReadOnlyList<byte[]> Frames,
    int Width,
    int Height,
    int FrameCount,
    int EstimatedFrameCount,
    double Fps,
    int[] Indices,
    double[] Times,
    int DecodePasses)
{
    /// <summary>Whether the frames were found by seeking or by decoding the file front to back.</summary>
    public FrameAccess Method { get; init; } = FrameAccess.Sequential;

    /// <summary>
    /// Why seeking was tried and given up for this file (e.g. "truncated: ...", "variable frame rate: ..."), so the
    /// frames came from the sequential path; null when seeking succeeded or was not tried.
    /// </summary>
    public string? FallbackReason { get; init; }
}
