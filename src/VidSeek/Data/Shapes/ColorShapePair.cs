namespace VidSeek.Data.Shapes;

/// <summary>A colour-shape combination ("red star"), the unit the <c>test-novel</c> split holds out of training.</summary>
public readonly record struct ColorShapePair(ObjectColor Color, ObjectShape Shape) : IComparable<ColorShapePair>
{
    /// <summary>All 48 pairs, colour-major in enum order.</summary>
    public static IReadOnlyList<ColorShapePair> All { get; } =
        (from c in Enum.GetValues<ObjectColor>() from s in Enum.GetValues<ObjectShape>() select new ColorShapePair(c, s)).ToArray();

    /// <summary>By colour, then shape, in enum order.</summary>
    public int CompareTo(ColorShapePair other) =>
        Color != other.Color ? Color.CompareTo(other.Color) : Shape.CompareTo(other.Shape);

    /// <summary>"red star", as captions and <c>shapes.json</c> spell it.</summary>
    public override string ToString() => $"{ShapesVocabulary.Word(Color)} {ShapesVocabulary.Word(Shape)}";
}
