using System.Runtime.InteropServices;
using OpenCvSharp;

namespace VidSeek.Data.Shapes;

/// <summary>Draws the frames of a <see cref="ShapesVideoSpec"/> with OpenCV's drawing primitives, as BGR images.</summary>
/// <remarks>
/// Shapes are filled polygons (circles: <see cref="Cv2.Circle(InputOutputArray, Point, int, Scalar, int, LineTypes, int)"/>)
/// with anti-aliased edges, at sub-pixel precision (<see cref="Shift"/> fractional bits): at 64 pixels a
/// moving object advances 1-3 pixels a frame, and rounding positions to whole pixels would make it jitter.
/// Every shape fits in the circle of its pose's radius at any rotation, which the placement relies on.
/// </remarks>
public static class ShapesRenderer
{
    /// <summary>Fractional bits of the coordinates passed to OpenCV (1/16 pixel).</summary>
    private const int Shift = 4;
    private const double One = 1 << Shift;

    /// <summary>Radius of a circle relative to the pose radius: a full-radius disc would look bigger than the other shapes.</summary>
    private const double CircleScale = 0.85;

    /// <summary>Renders frame <paramref name="frame"/> into a new <paramref name="size"/> x <paramref name="size"/> BGR image (CV_8UC3).</summary>
    public static Mat RenderFrame(ShapesVideoSpec video, int frame, int size)
    {
        var image = new Mat(size, size, MatType.CV_8UC3);
        RenderFrame(video, frame, image);
        return image;
    }

    /// <summary>Renders frame <paramref name="frame"/> into <paramref name="image"/> (CV_8UC3; any size, coordinates scale with it).</summary>
    public static void RenderFrame(ShapesVideoSpec video, int frame, Mat image)
    {
        ArgumentNullException.ThrowIfNull(video);
        ArgumentNullException.ThrowIfNull(image);
        if (image.Type() != MatType.CV_8UC3) throw new ArgumentException($"expected a CV_8UC3 image, got {image.Type()}", nameof(image));
        var segment = video.SegmentAt(frame);
        image.SetTo(Bgr(ShapesPalette.Rgb(segment.Background)));
        double t = segment.TimeOf(frame);
        foreach (var o in segment.Objects) Draw(image, o.Shape, o.PoseAt(t), Bgr(ShapesPalette.Rgb(o.Color)));
    }

    /// <summary>Renders frame <paramref name="frame"/> as <c>size * size * 3</c> bytes, rows top to bottom, BGR.</summary>
    public static byte[] RenderFrameBgr(ShapesVideoSpec video, int frame, int size)
    {
        using var image = RenderFrame(video, frame, size);
        var bytes = new byte[size * size * 3];
        Marshal.Copy(image.Data, bytes, 0, bytes.Length); // a freshly allocated Mat is continuous
        return bytes;
    }

    private static Scalar Bgr((byte R, byte G, byte B) c) => new(c.B, c.G, c.R);

    private static void Draw(Mat image, ObjectShape shape, ShapesPose pose, Scalar color)
    {
        double w = image.Width, h = image.Height;
        // Pixel centres are at integer coordinates, so the frame spans [-0.5, size - 0.5].
        double cx = pose.X * w - 0.5, cy = pose.Y * h - 0.5, r = pose.Radius * Math.Min(w, h);
        if (shape == ObjectShape.Circle)
        {
            Cv2.Circle(image, Fixed(cx, cy), (int)Math.Round(r * CircleScale * One), color, -1, LineTypes.AntiAlias, Shift);
            return;
        }
        double rad = pose.AngleDegrees * Math.PI / 180, cos = Math.Cos(rad), sin = Math.Sin(rad);
        var points = Outline(shape).Select(p => Fixed(cx + r * (p.X * cos - p.Y * sin), cy + r * (p.X * sin + p.Y * cos)));
        Cv2.FillPoly(image, new[] { points }, color, LineTypes.AntiAlias, Shift);
    }

    private static Point Fixed(double x, double y) => new((int)Math.Round(x * One), (int)Math.Round(y * One));

    /// <summary>The outline of a shape, upright, inside the unit circle; y points down, so (0, -1) is the top.</summary>
    private static IReadOnlyList<Point2d> Outline(ObjectShape shape) => shape switch
    {
        ObjectShape.Square => Square,
        ObjectShape.Triangle => Triangle,
        ObjectShape.Star => Star,
        ObjectShape.Diamond => Diamond,
        ObjectShape.Cross => Cross,
        _ => throw new ArgumentOutOfRangeException(nameof(shape)),
    };

    private static readonly Point2d[] Square = [new(-0.7, -0.7), new(0.7, -0.7), new(0.7, 0.7), new(-0.7, 0.7)]; // corners at 0.99

    /// <summary>Equilateral, point up, centred on its centroid.</summary>
    private static readonly Point2d[] Triangle = Polar([-90, 30, 150], [1, 1, 1]);

    /// <summary>Five points; inner radius 0.45 rather than the regular 0.38, so the arms stay visible on a small star.</summary>
    private static readonly Point2d[] Star = Polar(
        Enumerable.Range(0, 10).Select(i => -90 + 36.0 * i).ToArray(),
        Enumerable.Range(0, 10).Select(i => i % 2 == 0 ? 1.0 : 0.45).ToArray());

    /// <summary>A rhombus taller than wide, so it is not a square turned 45 degrees (which a spinning square passes through).</summary>
    private static readonly Point2d[] Diamond = [new(0, -1), new(0.65, 0), new(0, 1), new(-0.65, 0)];

    /// <summary>A plus sign whose arms are 0.6 wide (arm length 0.95, so the corners stay inside the unit circle).</summary>
    private static readonly Point2d[] Cross =
    [
        new(-0.3, -0.95), new(0.3, -0.95), new(0.3, -0.3), new(0.95, -0.3), new(0.95, 0.3), new(0.3, 0.3),
        new(0.3, 0.95), new(-0.3, 0.95), new(-0.3, 0.3), new(-0.95, 0.3), new(-0.95, -0.3), new(-0.3, -0.3),
    ];

    private static Point2d[] Polar(double[] degrees, double[] radii) =>
        degrees.Select((d, i) => new Point2d(radii[i] * Math.Cos(d * Math.PI / 180), radii[i] * Math.Sin(d * Math.PI / 180))).ToArray();
}
