namespace VidSeek.Data.Shapes;

/// <summary>
/// The RGB values of the object and background colours. Object colours are saturated and fairly bright, and
/// every background is at least 100 apart (Euclidean, RGB 0-255) from every object colour, so objects stay
/// visible after the encoder's 4:2:0 chroma subsampling, and tests can find an object's pixels by colour.
/// </summary>
public static class ShapesPalette
{
    public static (byte R, byte G, byte B) Rgb(ObjectColor color) => color switch
    {
        ObjectColor.Red => (255, 0, 0),
        ObjectColor.Green => (0, 200, 0),
        ObjectColor.Blue => (30, 90, 255),     // lighter than pure blue, which is nearly black in luma
        ObjectColor.Yellow => (255, 255, 0),
        ObjectColor.Purple => (160, 32, 240),
        ObjectColor.Orange => (255, 140, 0),
        ObjectColor.White => (255, 255, 255),
        ObjectColor.Cyan => (0, 255, 255),
        _ => throw new ArgumentOutOfRangeException(nameof(color)),
    };

    public static (byte R, byte G, byte B) Rgb(BackgroundColor background) => background switch
    {
        BackgroundColor.Black => (0, 0, 0),
        BackgroundColor.DarkGrey => (64, 64, 64),
        BackgroundColor.Navy => (0, 0, 96),
        BackgroundColor.DarkGreen => (0, 80, 0),
        BackgroundColor.Maroon => (96, 0, 0),
        BackgroundColor.Brown => (100, 60, 20),
        _ => throw new ArgumentOutOfRangeException(nameof(background)),
    };
}
