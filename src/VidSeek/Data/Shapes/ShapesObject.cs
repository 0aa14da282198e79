namespace VidSeek.Data.Shapes;

/// <summary>
/// One object of a segment: what it is, what it does, and where it starts. Pure data; <see cref="PoseAt"/>
/// is the single definition of the motion that both the renderer and the scene sampler use.
/// </summary>
/// <param name="Size">Small or big: the radius at the middle of the segment.</param>
/// <param name="Color">The colour.</param>
/// <param name="Shape">The shape.</param>
/// <param name="Motion">What it does during the segment.</param>
/// <param name="X">Centre at the segment's first frame, fraction of the frame width.</param>
/// <param name="Y">Centre at the segment's first frame, fraction of the frame height.</param>
/// <param name="SpinDirection">+1 clockwise or -1 counter-clockwise; only used by <see cref="ObjectMotion.Spins"/> (captions just say "spins").</param>
public sealed record ShapesObject(ObjectSize Size, ObjectColor Color, ObjectShape Shape, ObjectMotion Motion, double X, double Y, int SpinDirection = 1)
{
    /// <summary>How far a moving object travels over its segment: half the frame, clearly visible at any segment length.</summary>
    public const double Travel = 0.5;

    /// <summary>
    /// Growing scales the radius from <see cref="GrowFactor"/>^-1/2 to <see cref="GrowFactor"/>^1/2 times
    /// <see cref="BaseRadius"/> (shrinking the reverse): 2x overall, and exactly the base size mid-segment.
    /// </summary>
    public const double GrowFactor = 2.0;

    /// <summary>
    /// A spinning object turns half a turn over its segment: 20 degrees a frame in the shortest default segment
    /// (10 of 32 frames), 6 in a whole 32-frame video. Half a turn rather than a full one, so that shapes with
    /// 90 or 120 degree symmetry do not end where they began, which would read as "stays still" in a two-frame glance.
    /// </summary>
    public const double SpinDegrees = 180.0;

    /// <summary>The colour-shape pair.</summary>
    public ColorShapePair Pair => new(Color, Shape);

    /// <summary>The radius of a size, fraction of the frame (every shape fits in a circle of this radius).</summary>
    public static double BaseRadius(ObjectSize size) => size == ObjectSize.Big ? 0.18 : 0.09; // a 2x ratio, clear at a glance

    /// <summary>The largest radius the object reaches during the segment.</summary>
    public double MaxRadius => BaseRadius(Size) * (Motion is ObjectMotion.Grows or ObjectMotion.Shrinks ? Math.Sqrt(GrowFactor) : 1.0);

    /// <summary>The pose at time <paramref name="t"/> of the segment (0 = its first frame, 1 = its last).</summary>
    public ShapesPose PoseAt(double t)
    {
        double x = X, y = Y, scale = 1, angle = 0;
        switch (Motion)
        {
            case ObjectMotion.MovesLeft: x -= Travel * t; break;
            case ObjectMotion.MovesRight: x += Travel * t; break;
            case ObjectMotion.MovesUp: y -= Travel * t; break;
            case ObjectMotion.MovesDown: y += Travel * t; break;
            // Geometric rather than linear, so the size changes by the same ratio every frame.
            case ObjectMotion.Grows: scale = Math.Pow(GrowFactor, t - 0.5); break;
            case ObjectMotion.Shrinks: scale = Math.Pow(GrowFactor, 0.5 - t); break;
            case ObjectMotion.Spins: angle = SpinDirection * SpinDegrees * t; break;
        }
        return new ShapesPose(x, y, BaseRadius(Size) * scale, angle);
    }
}
