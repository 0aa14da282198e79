namespace VidSeek.Data.Shapes;

/// <summary>A caption of a Shapes video.</summary>
/// <param name="Text">The sentence.</param>
/// <param name="Type"><see cref="Full"/> (describes the whole video) or <see cref="SegmentType"/> (only one segment).</param>
/// <param name="Segment">The segment a <see cref="SegmentType"/> caption describes; null for a full caption.</param>
public sealed record ShapesCaption(string Text, string Type, int? Segment)
{
    public const string Full = "full";
    public const string SegmentType = "segment";
}
