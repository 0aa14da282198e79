namespace VidSeek.Data.Shapes;

/// <summary>Where an object is in one frame, in fractions of the frame size (so a scene renders at any size).</summary>
/// <param name="X">Centre, fraction of the width from the left edge.</param>
/// <param name="Y">Centre, fraction of the height from the top edge (image coordinates: "up" is smaller).</param>
/// <param name="Radius">Radius of the circle the shape fits in, fraction of the frame size.</param>
/// <param name="AngleDegrees">Rotation of the shape, clockwise on screen.</param>
public readonly record struct ShapesPose(double X, double Y, double Radius, double AngleDegrees);
