namespace VidSeek.Data.Shapes;

/// <summary>
/// The background of a segment. Deliberately a palette of dark, muted colours disjoint from
/// <see cref="ObjectColor"/>: an object can never vanish into its background, and a colour word in a caption
/// always names an object, never the background (captions do not mention the background).
/// </summary>
public enum BackgroundColor
{
    Black,
    DarkGrey,
    Navy,
    DarkGreen,
    Maroon,
    Brown,
}
