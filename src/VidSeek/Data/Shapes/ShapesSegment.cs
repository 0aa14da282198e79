namespace VidSeek.Data.Shapes;

/// <summary>One segment of a Shapes video: a run of frames with one background and 1-2 objects.</summary>
/// <param name="StartFrame">First frame (inclusive).</param>
/// <param name="EndFrame">End frame (exclusive).</param>
/// <param name="Background">The background colour.</param>
/// <param name="Objects">One or two objects, in drawing order (the second is drawn over the first); their colours differ.</param>
/// <param name="Phrasing">Which caption template describes the segment (see <see cref="ShapesCaptioner"/>).</param>
public sealed record ShapesSegment(int StartFrame, int EndFrame, BackgroundColor Background, IReadOnlyList<ShapesObject> Objects, int Phrasing)
{
    /// <summary>Number of frames.</summary>
    public int Length => EndFrame - StartFrame;

    /// <summary>Time within the segment of a frame: 0 at its first frame, 1 at its last.</summary>
    public double TimeOf(int frame) => Length <= 1 ? 0 : (frame - StartFrame) / (double)(Length - 1);
}
