namespace VidSeek.Data.Shapes;

/// <summary>The split names of a Shapes corpus, as written to the <c>split</c> field of <c>MSRVTT_data.json</c>.</summary>
public static class ShapesSplit
{
    public const string Train = "train";
    public const string Val = "val";
    public const string Test = "test";

    /// <summary>Videos that contain at least one held-out colour-shape pair, which no train/val/test video contains.</summary>
    public const string TestNovel = "test-novel";

    /// <summary>All four, in the order reports list them.</summary>
    public static IReadOnlyList<string> All { get; } = [Train, Val, Test, TestNovel];
}
