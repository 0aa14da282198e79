namespace VidSeek.Data.Shapes;

/// <summary>What a Shapes object does during its segment (see <see cref="ShapesObject.PoseAt"/> for the amounts).</summary>
public enum ObjectMotion
{
    MovesLeft,
    MovesRight,
    MovesUp,
    MovesDown,
    Grows,
    Shrinks,
    /// <summary>Never given to a circle: a spinning circle looks exactly like one that stays still.</summary>
    Spins,
    StaysStill,
}
