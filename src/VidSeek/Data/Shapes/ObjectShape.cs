namespace VidSeek.Data.Shapes;

/// <summary>The shape of a Shapes object.</summary>
public enum ObjectShape
{
    Circle,
    Square,
    Triangle,
    Star,
    Diamond,
    Cross,
}
