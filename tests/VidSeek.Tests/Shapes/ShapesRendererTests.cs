using VidSeek.Data.Shapes;

namespace VidSeek.Tests.Shapes;

/// <summary>The rendered frames show what the scene says (rendered without encoding, so pixels are exact).</summary>
public class ShapesRendererTests
{
    private const int Size = 64;

    private static ShapesVideoSpec OneObject(ShapesObject o, BackgroundColor background = BackgroundColor.Black, int frames = 32) =>
        new(0, "video0", ShapesSplit.Train, frames, [new ShapesSegment(0, frames, background, [o], 0)]);

    /// <summary>Pixels within a small distance of the colour (anti-aliased edges blend into the background and are left out).</summary>
    private static List<(int X, int Y)> PixelsOf(byte[] bgr, ObjectColor color)
    {
        var (r, g, b) = ShapesPalette.Rgb(color);
        var pixels = new List<(int, int)>();
        for (int i = 0; i < Size * Size; i++)
            if (Math.Abs(bgr[3 * i] - b) + Math.Abs(bgr[3 * i + 1] - g) + Math.Abs(bgr[3 * i + 2] - r) <= 30)
                pixels.Add((i % Size, i / Size));
        return pixels;
    }

    private static (double X, double Y, int Area) Centroid(ShapesVideoSpec video, int frame, ObjectColor color)
    {
        var pixels = PixelsOf(ShapesRenderer.RenderFrameBgr(video, frame, Size), color);
        Assert.NotEmpty(pixels);
        return (pixels.Average(p => p.X), pixels.Average(p => p.Y), pixels.Count);
    }

    [Fact]
    public void AnObjectThatMovesLeftMovesLeftByHalfTheFrame()
    {
        var video = OneObject(new ShapesObject(ObjectSize.Big, ObjectColor.Red, ObjectShape.Square, ObjectMotion.MovesLeft, 0.75, 0.5));
        var xs = Enumerable.Range(0, 32).Select(f => Centroid(video, f, ObjectColor.Red).X).ToList();
        for (int f = 1; f < 32; f++) Assert.True(xs[f] < xs[f - 1], $"frame {f}: x {xs[f]:0.00} after {xs[f - 1]:0.00}");
        Assert.Equal(-Size * ShapesObject.Travel, xs[^1] - xs[0], 1.0);
        Assert.Equal(0.75 * Size - 0.5, xs[0], 0.5);
        var ys = Enumerable.Range(0, 32).Select(f => Centroid(video, f, ObjectColor.Red).Y).ToList();
        Assert.All(ys, y => Assert.Equal(0.5 * Size - 0.5, y, 0.5));
    }

    [Theory]
    [InlineData(ObjectMotion.MovesRight, 1, 0)]
    [InlineData(ObjectMotion.MovesUp, 0, -1)]
    [InlineData(ObjectMotion.MovesDown, 0, 1)]
    [InlineData(ObjectMotion.StaysStill, 0, 0)]
    public void OtherMovesGoTheirWay(ObjectMotion motion, int dx, int dy)
    {
        var video = OneObject(new ShapesObject(ObjectSize.Small, ObjectColor.Cyan, ObjectShape.Star, motion, 0.5 - 0.25 * dx, 0.5 - 0.25 * dy), BackgroundColor.Navy);
        var (first, last) = (Centroid(video, 0, ObjectColor.Cyan), Centroid(video, 31, ObjectColor.Cyan));
        Assert.Equal(dx * Size * ShapesObject.Travel, last.X - first.X, 1.0);
        Assert.Equal(dy * Size * ShapesObject.Travel, last.Y - first.Y, 1.0);
    }

    [Fact]
    public void GrowingDoublesTheSizeAndShrinkingHalvesIt()
    {
        foreach (var (motion, ratio) in new[] { (ObjectMotion.Grows, 4.0), (ObjectMotion.Shrinks, 0.25) }) // area goes with the square of the size
        {
            var video = OneObject(new ShapesObject(ObjectSize.Big, ObjectColor.Yellow, ObjectShape.Circle, motion, 0.5, 0.5));
            double actual = Centroid(video, 31, ObjectColor.Yellow).Area / (double)Centroid(video, 0, ObjectColor.Yellow).Area;
            Assert.InRange(actual, ratio * 0.8, ratio * 1.25);
        }
    }

    [Theory]
    [InlineData(ObjectShape.Square)]
    [InlineData(ObjectShape.Triangle)]
    [InlineData(ObjectShape.Star)]
    [InlineData(ObjectShape.Diamond)]
    [InlineData(ObjectShape.Cross)]
    public void SpinningVisiblyRotatesInPlace(ObjectShape shape)
    {
        var video = OneObject(new ShapesObject(ObjectSize.Big, ObjectColor.White, shape, ObjectMotion.Spins, 0.5, 0.5), frames: 10); // the shortest default segment
        for (int f = 1; f < 10; f++)
        {
            var before = PixelsOf(ShapesRenderer.RenderFrameBgr(video, f - 1, Size), ObjectColor.White).ToHashSet();
            var after = PixelsOf(ShapesRenderer.RenderFrameBgr(video, f, Size), ObjectColor.White).ToHashSet();
            double iou = before.Intersect(after).Count() / (double)before.Union(after).Count();
            Assert.True(iou < 0.9, $"{shape} frame {f}: consecutive frames overlap {iou:0.00}");
            var c = Centroid(video, f, ObjectColor.White);
            Assert.Equal(Size / 2.0 - 0.5, c.X, 2.0);
        }
    }

    [Fact]
    public void GeneratedMotionsShowInTheirSegments()
    {
        // Every single-object segment of a planned corpus: moves go half the frame their way, sizes change.
        var corpus = ShapesGenerator.Plan(new ShapesOptions { Seed = 5, Videos = 120 });
        int checkedSegments = 0;
        foreach (var v in corpus.Videos)
            foreach (var seg in v.Segments.Where(s => s.Objects.Count == 1))
            {
                var o = seg.Objects[0];
                var (first, last) = (Centroid(v, seg.StartFrame, o.Color), Centroid(v, seg.EndFrame - 1, o.Color));
                double half = Size * ShapesObject.Travel;
                switch (o.Motion)
                {
                    case ObjectMotion.MovesLeft: Assert.Equal(-half, last.X - first.X, 1.5); break;
                    case ObjectMotion.MovesRight: Assert.Equal(half, last.X - first.X, 1.5); break;
                    case ObjectMotion.MovesUp: Assert.Equal(-half, last.Y - first.Y, 1.5); break;
                    case ObjectMotion.MovesDown: Assert.Equal(half, last.Y - first.Y, 1.5); break;
                    case ObjectMotion.Grows: Assert.True(last.Area > 2.5 * first.Area, $"{v.VideoId}: {o} grows {first.Area} -> {last.Area}"); break;
                    case ObjectMotion.Shrinks: Assert.True(last.Area < first.Area / 2.5, $"{v.VideoId}: {o} shrinks {first.Area} -> {last.Area}"); break;
                    case ObjectMotion.StaysStill: Assert.Equal((first.X, first.Y, first.Area), (last.X, last.Y, last.Area)); break;
                }
                checkedSegments++;
            }
        Assert.True(checkedSegments > 50, $"only {checkedSegments} single-object segments");
    }

    [Fact]
    public void BackgroundFillsTheFrameAndNeverMatchesAnObjectColour()
    {
        var video = OneObject(new ShapesObject(ObjectSize.Small, ObjectColor.Green, ObjectShape.Cross, ObjectMotion.StaysStill, 0.2, 0.2), BackgroundColor.Brown);
        var bgr = ShapesRenderer.RenderFrameBgr(video, 0, Size);
        var (r, g, b) = ShapesPalette.Rgb(BackgroundColor.Brown);
        Assert.Equal((b, g, r), (bgr[^3], bgr[^2], bgr[^1])); // bottom-right corner
        foreach (var bg in Enum.GetValues<BackgroundColor>())
            foreach (var c in Enum.GetValues<ObjectColor>())
            {
                var (x, y) = (ShapesPalette.Rgb(bg), ShapesPalette.Rgb(c));
                double distance = Math.Sqrt(Math.Pow(x.R - y.R, 2) + Math.Pow(x.G - y.G, 2) + Math.Pow(x.B - y.B, 2));
                Assert.True(distance >= 100, $"{bg} vs {c}: {distance:0}");
            }
    }
}
