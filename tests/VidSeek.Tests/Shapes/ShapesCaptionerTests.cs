using VidSeek.Data.Shapes;

namespace VidSeek.Tests.Shapes;

/// <summary>Captions against the scene they describe, without any video.</summary>
public class ShapesCaptionerTests
{
    private static ShapesObject Obj(ObjectSize size, ObjectColor color, ObjectShape shape, ObjectMotion motion) => new(size, color, shape, motion, 0.5, 0.5);

    private static readonly ShapesObject BigRedCircleLeft = Obj(ObjectSize.Big, ObjectColor.Red, ObjectShape.Circle, ObjectMotion.MovesLeft);
    private static readonly ShapesObject SmallBlueSquareGrows = Obj(ObjectSize.Small, ObjectColor.Blue, ObjectShape.Square, ObjectMotion.Grows);

    [Theory]
    [InlineData(0, "a big red circle moves to the left while a small blue square grows")]
    [InlineData(1, "a big red circle moves to the left and a small blue square grows")]
    [InlineData(2, "there is a big red circle that moves to the left; a small blue square grows")]
    [InlineData(3, "a big red circle and a small blue square; the red circle moves to the left and the blue square grows")]
    public void TwoObjectTemplates(int phrasing, string expected) =>
        Assert.Equal(expected, ShapesCaptioner.Describe(new ShapesSegment(0, 32, BackgroundColor.Black, [BigRedCircleLeft, SmallBlueSquareGrows], phrasing)));

    [Theory]
    [InlineData(0, "a small blue square grows")]
    [InlineData(1, "there is a small blue square; it grows")]
    [InlineData(2, "a small blue square that grows")]
    public void OneObjectTemplates(int phrasing, string expected) =>
        Assert.Equal(expected, ShapesCaptioner.Describe(new ShapesSegment(0, 32, BackgroundColor.Black, [SmallBlueSquareGrows], phrasing)));

    [Fact]
    public void FullCaptionJoinsSegmentsWithThenAndOneSegmentVideosHaveOnlyIt()
    {
        var two = new ShapesVideoSpec(0, "video0", ShapesSplit.Train, 32,
        [
            new ShapesSegment(0, 16, BackgroundColor.Black, [BigRedCircleLeft], 0),
            new ShapesSegment(16, 32, BackgroundColor.Navy, [SmallBlueSquareGrows], 1),
        ]);
        Assert.Equal(
        [
            new ShapesCaption("a big red circle moves to the left, then there is a small blue square; it grows", "full", null),
            new ShapesCaption("a big red circle moves to the left", "segment", 0),
            new ShapesCaption("there is a small blue square; it grows", "segment", 1),
        ], ShapesCaptioner.Captions(two));

        var one = two with { Segments = [two.Segments[0] with { EndFrame = 32 }] };
        Assert.Equal([new ShapesCaption("a big red circle moves to the left", "full", null)], ShapesCaptioner.Captions(one));
    }

    [Fact]
    public void EveryCaptionNamesTheColourShapeSizeAndMotionOfItsObjects()
    {
        var corpus = ShapesGenerator.Plan(new ShapesOptions { Seed = 9, Videos = 300 });
        var templatesSeen = new HashSet<(int, int)>();
        foreach (var v in corpus.Videos)
            foreach (var c in ShapesCaptioner.Captions(v))
            {
                var segments = c.Segment is int s ? [v.Segments[s]] : v.Segments;
                foreach (var o in segments.SelectMany(x => x.Objects))
                {
                    Assert.Contains($"{ShapesVocabulary.Word(o.Size)} {ShapesVocabulary.Word(o.Color)} {ShapesVocabulary.Word(o.Shape)}", c.Text);
                    Assert.Contains(ShapesVocabulary.Phrase(o.Motion), c.Text);
                }
                // A segment caption names nothing from other segments' objects unless they share it.
                if (c.Segment is int only)
                    foreach (var other in v.Segments.Where((_, i) => i != only).SelectMany(x => x.Objects))
                        if (!v.Segments[only].Objects.Any(o => o.Color == other.Color))
                            Assert.DoesNotContain(ShapesVocabulary.Word(other.Color), c.Text);
                Assert.Equal(c.Text.ToLowerInvariant(), c.Text);
                Assert.Equal(c.Type == "full" ? v.Segments.Count - 1 : 0, CountThen(c.Text));
            }
        foreach (var seg in corpus.Videos.SelectMany(v => v.Segments)) templatesSeen.Add((seg.Objects.Count, seg.Phrasing));
        Assert.Equal(ShapesCaptioner.OneObjectTemplates + ShapesCaptioner.TwoObjectTemplates, templatesSeen.Count);
    }

    private static int CountThen(string text) => text.Split(", then ").Length - 1;
}
