namespace VidSeek.Data.Shapes;

/// <summary>The colour of a Shapes object; the word used in captions is the lower-case name (<see cref="ShapesVocabulary.Word(ObjectColor)"/>).</summary>
public enum ObjectColor
{
    Red,
    Green,
    Blue,
    Yellow,
    Purple,
    Orange,
    White,
    Cyan,
}
