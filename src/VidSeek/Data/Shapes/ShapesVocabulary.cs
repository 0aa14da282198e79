namespace VidSeek.Data.Shapes;

/// <summary>The words captions use for sizes, colours, shapes and motions (all lower case).</summary>
public static class ShapesVocabulary
{
    public static string Word(ObjectSize size) => size switch
    {
        ObjectSize.Small => "small",
        ObjectSize.Big => "big",
        _ => throw new ArgumentOutOfRangeException(nameof(size)),
    };

    public static string Word(ObjectColor color) => color switch
    {
        ObjectColor.Red => "red",
        ObjectColor.Green => "green",
        ObjectColor.Blue => "blue",
        ObjectColor.Yellow => "yellow",
        ObjectColor.Purple => "purple",
        ObjectColor.Orange => "orange",
        ObjectColor.White => "white",
        ObjectColor.Cyan => "cyan",
        _ => throw new ArgumentOutOfRangeException(nameof(color)),
    };

    public static string Word(ObjectShape shape) => shape switch
    {
        ObjectShape.Circle => "circle",
        ObjectShape.Square => "square",
        ObjectShape.Triangle => "triangle",
        ObjectShape.Star => "star",
        ObjectShape.Diamond => "diamond",
        ObjectShape.Cross => "cross",
        _ => throw new ArgumentOutOfRangeException(nameof(shape)),
    };

    /// <summary>The verb phrase of a motion, third person singular ("moves to the left").</summary>
    public static string Phrase(ObjectMotion motion) => motion switch
    {
        ObjectMotion.MovesLeft => "moves to the left",
        ObjectMotion.MovesRight => "moves to the right",
        ObjectMotion.MovesUp => "moves up",
        ObjectMotion.MovesDown => "moves down",
        ObjectMotion.Grows => "grows",
        ObjectMotion.Shrinks => "shrinks",
        ObjectMotion.Spins => "spins",
        ObjectMotion.StaysStill => "stays still",
        _ => throw new ArgumentOutOfRangeException(nameof(motion)),
    };

    /// <summary>The name written to the annotation files ("dark grey").</summary>
    public static string Word(BackgroundColor background) => background switch
    {
        BackgroundColor.Black => "black",
        BackgroundColor.DarkGrey => "dark grey",
        BackgroundColor.Navy => "navy",
        BackgroundColor.DarkGreen => "dark green",
        BackgroundColor.Maroon => "maroon",
        BackgroundColor.Brown => "brown",
        _ => throw new ArgumentOutOfRangeException(nameof(background)),
    };
}
