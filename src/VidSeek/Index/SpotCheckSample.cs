namespace VidSeek.Index;

/// <summary>
/// The few segments that a file kept beside the index (the ANN file, the frame sidecar) is compared with on every open:
/// spread evenly over the ids the file lists, fetched from the store. A file of another index, or a stale one whose
/// generation does not reveal it, fails the comparison that the caller then makes with these segments.
/// </summary>
internal static class SpotCheckSample
{
    /// <summary>How many segments are compared.</summary>
    public const int Size = 8;

    /// <summary>
    /// The sampled segments of <paramref name="sortedIds"/> (the ids the file lists, ascending), or the problem that already
    /// rules the file out: it lists nothing while the store (of the same generation) has segments, or, at the same
    /// generation, lists segments the store does not have. At another generation missing segments are the caller's
    /// catch-up to do, not a mismatch.
    /// </summary>
    public static (string? Problem, IReadOnlyList<IndexedSegment> Segments) Fetch(IIndexStore store, long[] sortedIds, bool sameGeneration)
    {
        int count = sortedIds.Length;
        if (count == 0) return (store.SegmentCount == 0 || !sameGeneration ? null : "it is empty", []);
        var sample = Enumerable.Range(0, Math.Min(Size, count)).Select(i => sortedIds[(int)((long)i * (count - 1) / Math.Max(1, Size - 1))]).Distinct().ToList();
        var segments = store.Segments(sample, withTokens: false);
        return (sameGeneration && segments.Count != sample.Count ? "segments it lists are not in the index" : null, segments);
    }
}
