namespace VidSeek.Video;

/// <summary>How <see cref="VideoReader"/> reaches the frames it wants.</summary>
public enum FrameAccessMode
{
    /// <summary>
    /// Seek where the container can be trusted and the wanted frames lie far enough apart for seeking to pay
    /// (<see cref="VideoReadOptions.MinSeekDistance"/>); otherwise, or when a check fails, decode sequentially.
    /// </summary>
    Auto,

    /// <summary>Try seeking whatever the spacing (tests and benchmarks); still falls back when a check fails.</summary>
    Seek,

    /// <summary>Always decode the file front to back (the exact reference path).</summary>
    Sequential,
}

/// <summary>The path that produced a <see cref="DecodedFrames"/>.</summary>
public enum FrameAccess
{
    /// <summary>The whole file was decoded front to back (one or two passes).</summary>
    Sequential,

    /// <summary>Each wanted frame was reached by seeking to a keyframe and decoding forward, its timestamp verified.</summary>
    Seek,
}

/// <summary>Options of <see cref="VideoReader.Read(string, int, SamplingMode, Random?, VideoReadOptions?)"/> and <see cref="VideoReader.ReadAt"/>.</summary>
public sealed record VideoReadOptions
{
    public static VideoReadOptions Default { get; } = new();

    /// <summary>Sequential, seek, or decide per file (the default).</summary>
    public FrameAccessMode Access { get; init; } = FrameAccessMode.Auto;

    /// <summary>
    /// A wanted frame at most this many frames after the last decoded one is reached by decoding forward rather
    /// than by a seek (a seek restarts at a keyframe, typically 1-10 s back, so short hops are cheaper decoded).
    /// In <see cref="FrameAccessMode.Auto"/>, a video whose sampled frames lie closer than this is read
    /// sequentially outright. 1 makes every hop a seek.
    /// </summary>
    public int MinSeekDistance { get; init; } = 64;
}
