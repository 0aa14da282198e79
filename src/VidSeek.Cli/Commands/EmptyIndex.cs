using VidSeek.Index;

namespace VidSeek.Cli.Commands;

/// <summary>search and serve over an index without videos: one clear error instead of an empty answer.</summary>
internal static class EmptyIndex
{
    public static void Check(VideoSearcher searcher)
    {
        if (searcher.Index.VideoCount > 0) return;
        throw new VidSeekException($"the index {searcher.Index.Location} holds no videos; add some with: vidseek index DIR --model MODEL --out {searcher.Index.Location}");
    }
}
