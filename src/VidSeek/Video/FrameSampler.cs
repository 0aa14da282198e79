namespace VidSeek.Video;

/// <summary>
/// Picks F frame indices out of a video of n frames. [0, n) is split into F equal intervals,
/// interval i being [i*n/F, (i+1)*n/F) in real numbers, and one frame is taken from each.
/// </summary>
/// <remarks>
/// A video shorter than F frames (n &lt; F) cannot give F distinct frames. Both modes then return every
/// frame once, in order, and repeat the last frame: 0, 1, ..., n-1, n-1, ..., n-1. So an index never
/// exceeds n-1, a one-frame video gives F zeros, and the clip still plays forwards and ends on the last
/// frame (rather than spreading the repeats through the clip).
/// Integer arithmetic (long) is used throughout so that no floating-point rounding moves a frame.
/// </remarks>
public static class FrameSampler
{
    /// <summary>The midpoint of each interval: index i is floor((i + 0.5) * n / F).</summary>
    /// <param name="frameCount">n, the number of frames in the video (at least 1).</param>
    /// <param name="numFrames">F, how many indices to return (at least 1).</param>
    /// <returns>F indices in [0, n-1], non-decreasing.</returns>
    public static int[] Uniform(int frameCount, int numFrames)
    {
        Check(frameCount, numFrames);
        if (frameCount < numFrames) return ShortVideo(frameCount, numFrames);
        var result = new int[numFrames];
        for (int i = 0; i < numFrames; i++)
            result[i] = (int)((2L * i + 1) * frameCount / (2L * numFrames)); // floor((i + 0.5) n / F)
        return result;
    }

    /// <summary>
    /// A random frame of each interval: floor(start) + rng.Next(max(1, floor(end) - floor(start))),
    /// clamped to n-1. The ranges [floor(start), floor(end)) of consecutive intervals neither overlap nor
    /// leave gaps, so every frame belongs to exactly one interval.
    /// </summary>
    /// <param name="frameCount">n, the number of frames in the video (at least 1).</param>
    /// <param name="numFrames">F, how many indices to return (at least 1).</param>
    /// <param name="rng">The random source; one <c>Next</c> call per interval (none when n &lt; F).</param>
    /// <returns>F indices in [0, n-1], non-decreasing.</returns>
    public static int[] Random(int frameCount, int numFrames, System.Random rng)
    {
        Check(frameCount, numFrames);
        ArgumentNullException.ThrowIfNull(rng);
        if (frameCount < numFrames) return ShortVideo(frameCount, numFrames);
        var result = new int[numFrames];
        for (int i = 0; i < numFrames; i++)
        {
            int start = (int)((long)i * frameCount / numFrames);        // floor(i n / F)
            int end = (int)((long)(i + 1) * frameCount / numFrames);    // floor((i + 1) n / F)
            result[i] = Math.Min(frameCount - 1, start + rng.Next(Math.Max(1, end - start)));
        }
        return result;
    }

    /// <summary>
    /// <see cref="Uniform"/> or <see cref="Random"/> by <paramref name="mode"/>; a null
    /// <paramref name="rng"/> in <see cref="SamplingMode.Random"/> uses <see cref="System.Random.Shared"/>.
    /// </summary>
    public static int[] Sample(SamplingMode mode, int frameCount, int numFrames, System.Random? rng = null) => mode switch
    {
        SamplingMode.Uniform => Uniform(frameCount, numFrames),
        SamplingMode.Random => Random(frameCount, numFrames, rng ?? System.Random.Shared),
        _ => throw new ArgumentOutOfRangeException(nameof(mode), mode, "unknown sampling mode"),
    };

    private static int[] ShortVideo(int frameCount, int numFrames)
    {
        var result = new int[numFrames];
        for (int i = 0; i < numFrames; i++) result[i] = Math.Min(i, frameCount - 1);
        return result;
    }

    private static void Check(int frameCount, int numFrames)
    {
        // Programming errors, not user input: the reader turns "no frames" into a VidSeekException first.
        ArgumentOutOfRangeException.ThrowIfLessThan(frameCount, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(numFrames, 1);
    }
}
