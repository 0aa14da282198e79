namespace VidSeek.Data.Shapes;

/// <summary>A planned (or generated) Shapes corpus: its settings, the held-out pairs, and every video's scene.</summary>
/// <param name="Options">The settings it was made with.</param>
/// <param name="HeldOutPairs">The colour-shape pairs that appear only in <c>test-novel</c>, sorted by colour then shape.</param>
/// <param name="Videos">Every video in index order (<c>video0</c>, <c>video1</c>, ...).</param>
public sealed record ShapesCorpus(ShapesOptions Options, IReadOnlyList<ColorShapePair> HeldOutPairs, IReadOnlyList<ShapesVideoSpec> Videos)
{
    /// <summary>The videos of one split, in index order.</summary>
    public IEnumerable<ShapesVideoSpec> InSplit(string split) => Videos.Where(v => v.Split == split);

    /// <summary>Number of videos in each split, every name of <see cref="ShapesSplit.All"/> present.</summary>
    public IReadOnlyDictionary<string, int> SplitCounts =>
        ShapesSplit.All.ToDictionary(s => s, s => Videos.Count(v => v.Split == s));
}
