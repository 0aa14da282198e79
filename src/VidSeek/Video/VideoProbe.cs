namespace VidSeek.Video;

/// <summary>What <see cref="VideoReader.Probe"/> learned about a video without decoding frames to keep.</summary>
/// <param name="Path">The video file.</param>
/// <param name="FrameCount">The true number of decodable frames (checked by the seek path, or counted).</param>
/// <param name="EstimatedFrameCount">The container's CAP_PROP_FRAME_COUNT (0 when it reported none).</param>
/// <param name="Fps">The container's frame rate (0 when unknown).</param>
/// <param name="Method">How <see cref="VideoReader.ReadAt"/> will reach this file's frames.</param>
/// <param name="FallbackReason">Why the seek checks failed (null when they passed or were not tried).</param>
public sealed record VideoProbe(string Path, int FrameCount, int EstimatedFrameCount, double Fps, FrameAccess Method, string? FallbackReason)
{
    /// <summary>FrameCount / Fps in seconds (0 when the rate is unknown).</summary>
    public double Duration => Fps > 0 ? FrameCount / Fps : 0;
}
