namespace VidSeek.Data.Shapes;

/// <summary>
/// Everything a Shapes video shows, as pure data: its segments and their objects. The renderer draws it and the
/// captioner describes it, so tests can check captions against the scene without decoding a video.
/// </summary>
/// <param name="Index">Position in the corpus (0-based).</param>
/// <param name="VideoId">MSR-VTT style id, <c>video{Index}</c>.</param>
/// <param name="Split">One of <see cref="ShapesSplit"/>.</param>
/// <param name="Frames">Total frame count; the segments tile <c>[0, Frames)</c>.</param>
/// <param name="Segments">1 to 3 segments of equal length (boundaries at floor(i * Frames / k)).</param>
public sealed record ShapesVideoSpec(int Index, string VideoId, string Split, int Frames, IReadOnlyList<ShapesSegment> Segments)
{
    /// <summary>The segment that shows <paramref name="frame"/>.</summary>
    public ShapesSegment SegmentAt(int frame)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(frame);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(frame, Frames);
        foreach (var segment in Segments)
            if (frame < segment.EndFrame) return segment;
        throw new InvalidOperationException($"{VideoId}: segments end before frame {frame}");
    }

    /// <summary>The distinct colour-shape pairs of the video's objects, in order of appearance.</summary>
    public IReadOnlyList<ColorShapePair> Pairs => Segments.SelectMany(s => s.Objects).Select(o => o.Pair).Distinct().ToList();
}
