namespace VidSeek.Data.Shapes;

/// <summary>
/// Draws the scene of one video from its own random stream, (seed, video index): videos can be sampled and
/// rendered in any order, on any number of threads, and come out the same.
/// </summary>
/// <remarks>The draws happen in one fixed order; changing that order, or any constant here, changes every
/// corpus, so it needs a new <see cref="ShapesOptions.GeneratorVersion"/>.</remarks>
internal static class ShapesSceneSampler
{
    /// <summary>Stream id of the per-video generators (the corpus-level draws use stream 0).</summary>
    public const ulong VideoStream = 1;

    /// <summary>Gap kept between an object and the frame edge, and between two objects, fraction of the frame.</summary>
    private const double Margin = 0.02;

    /// <summary>Placements tried for a second object before settling for the one that overlaps the first least.</summary>
    private const int PlacementTries = 50;

    private static readonly ObjectMotion[] Motions = Enum.GetValues<ObjectMotion>();
    private static readonly ObjectMotion[] CircleMotions = Motions.Where(m => m != ObjectMotion.Spins).ToArray(); // a spinning circle is invisible
    private static readonly BackgroundColor[] Backgrounds = Enum.GetValues<BackgroundColor>();

    /// <summary>The scene of video <paramref name="index"/>, which belongs to <paramref name="split"/>.</summary>
    /// <param name="options">Seed and frame count.</param>
    /// <param name="index">The video's index.</param>
    /// <param name="split">A <c>test-novel</c> video gets a held-out pair in one random segment and may use any pair
    /// elsewhere; every other video uses only pairs outside <paramref name="heldOut"/>.</param>
    /// <param name="heldOut">The held-out pairs.</param>
    public static ShapesVideoSpec Sample(ShapesOptions options, int index, string split, IReadOnlyList<ColorShapePair> heldOut)
    {
        var rng = ShapesRandom.ForStream(options.Seed, VideoStream, (ulong)index);
        bool novel = split == ShapesSplit.TestNovel;
        var allowed = novel ? ColorShapePair.All : ColorShapePair.All.Except(heldOut).ToList();

        int k = 1 + rng.Next(3);
        int novelSegment = novel ? rng.Next(k) : -1;
        var segments = new List<ShapesSegment>(k);
        BackgroundColor? previous = null;
        for (int s = 0; s < k; s++)
        {
            // Consecutive segments never share a background, so every segment boundary is a visible cut.
            var background = rng.Pick(Backgrounds.Where(b => b != previous).ToList());
            previous = background;
            int count = 1 + rng.Next(2);

            var pairs = new List<ColorShapePair> { s == novelSegment ? rng.Pick(heldOut) : rng.Pick(allowed) };
            if (count == 2)
            {
                // Different colours, so "the red circle" in a caption and a colour in the frame each name one object.
                pairs.Add(rng.Pick(allowed.Where(p => p.Color != pairs[0].Color).ToList()));
                if (s == novelSegment && rng.Next(2) == 1) pairs.Reverse(); // the held-out object is not always named first
            }

            var objects = new List<ShapesObject>(count);
            foreach (var pair in pairs)
            {
                var size = rng.Next(2) == 0 ? ObjectSize.Small : ObjectSize.Big;
                var motion = rng.Pick(pair.Shape == ObjectShape.Circle ? CircleMotions : Motions);
                int spin = rng.Next(2) == 0 ? 1 : -1;
                var placed = Place(rng, new ShapesObject(size, pair.Color, pair.Shape, motion, 0, 0, spin));
                if (objects.Count == 1)
                {
                    // Avoid overlap: take the first of PlacementTries placements that keeps clear of the first
                    // object, or else the one that overlaps it least. All the candidates are drawn either way, so
                    // the random stream (and with it every later draw, captions included) never depends on
                    // floating-point comparisons that could round differently on another machine.
                    var candidates = new ShapesObject[PlacementTries];
                    candidates[0] = placed;
                    for (int i = 1; i < PlacementTries; i++) candidates[i] = Place(rng, placed);
                    double best = double.NegativeInfinity;
                    foreach (var candidate in candidates)
                    {
                        double clearance = Clearance(objects[0], candidate);
                        if (clearance > best) (placed, best) = (candidate, clearance);
                        if (clearance >= Margin) { placed = candidate; break; }
                    }
                }
                objects.Add(placed);
            }

            int phrasing = rng.Next(count == 1 ? ShapesCaptioner.OneObjectTemplates : ShapesCaptioner.TwoObjectTemplates);
            segments.Add(new ShapesSegment(
                (int)((long)s * options.Frames / k), (int)((long)(s + 1) * options.Frames / k), background, objects, phrasing));
        }
        return new ShapesVideoSpec(index, $"video{index}", split, options.Frames, segments);
    }

    /// <summary>A random start position from which the whole motion stays inside the frame.</summary>
    private static ShapesObject Place(ShapesRandom rng, ShapesObject o)
    {
        double r = o.MaxRadius + Margin;
        double xLo = r, xHi = 1 - r, yLo = r, yHi = 1 - r;
        switch (o.Motion)
        {
            case ObjectMotion.MovesLeft: xLo += ShapesObject.Travel; break;
            case ObjectMotion.MovesRight: xHi -= ShapesObject.Travel; break;
            case ObjectMotion.MovesUp: yLo += ShapesObject.Travel; break;
            case ObjectMotion.MovesDown: yHi -= ShapesObject.Travel; break;
        }
        return o with { X = rng.Uniform(xLo, xHi), Y = rng.Uniform(yLo, yHi) };
    }

    /// <summary>The smallest gap between the two objects' enclosing circles over the segment (negative: they overlap).</summary>
    private static double Clearance(ShapesObject a, ShapesObject b)
    {
        const int Steps = 8;
        double min = double.MaxValue;
        for (int i = 0; i <= Steps; i++)
        {
            double t = i / (double)Steps;
            var (pa, pb) = (a.PoseAt(t), b.PoseAt(t));
            double gap = Math.Sqrt((pa.X - pb.X) * (pa.X - pb.X) + (pa.Y - pb.Y) * (pa.Y - pb.Y)) - pa.Radius - pb.Radius;
            min = Math.Min(min, gap);
        }
        return min;
    }
}
