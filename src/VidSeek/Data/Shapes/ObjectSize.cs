namespace VidSeek.Data.Shapes;

/// <summary>
/// The size of a Shapes object: its radius at the middle of its segment (see <see cref="ShapesObject.BaseRadius"/>),
/// so a small object that grows and a big one that shrinks are still told apart by the frame in the middle.
/// </summary>
public enum ObjectSize
{
    Small,
    Big,
}
