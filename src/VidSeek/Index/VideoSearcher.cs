using TorchSharp;
using static TorchSharp.torch;

namespace VidSeek.Index;

/// <summary>One search result: a segment (a moment) of a video.</summary>
/// <param name="Rank">1-based.</param>
/// <param name="Video">The file the moment is in.</param>
/// <param name="Segment">The moment: its time range, frame times and embeddings.</param>
/// <param name="Score">The ranking score: the dual encoder's text-video cosine (as in <c>eval</c>), or for a VLT model its ITC similarity.</param>
/// <param name="FrameWeights">X-Pool: the attention the query gave each sampled frame (mean over heads, sums to 1); null for other models.</param>
/// <param name="FrameScores">Cosine of the query with each frame (the VLT's per-frame ITC cosine).</param>
/// <param name="BestFrame">The frame with the most attention (X-Pool) or the highest cosine (others).</param>
/// <param name="IsGroundTruth">The query is one of this video's ground-truth captions (indexes built from a dataset).</param>
/// <param name="MatchScore">VLT: the ITM match score when this segment was among the re-ranked top k; null otherwise.</param>
public sealed record SearchHit(int Rank, IndexedVideo Video, IndexedSegment Segment, float Score, float[]? FrameWeights, float[] FrameScores, int BestFrame,
    bool IsGroundTruth, float? MatchScore = null)
{
    public double BestFrameTime => Segment.FrameTimes[BestFrame];
}

/// <summary>
/// Text-to-video search over an <see cref="IIndexStore"/> with the model that built it: every segment is scored (brute force,
/// in blocks) exactly as <c>eval</c> scores a split, so the ranking is eval's ranking (for a VLT model, the re-ranked one).
/// The per-segment coarse vectors in the index are there for a first, approximate stage on large collections.
/// </summary>
public sealed class VideoSearcher : IDisposable
{
    private readonly IndexModel model;
    private readonly Tensor frames;  // [S, F, E]
    private readonly Tensor? tokens; // VLT: [S, F, L, D]
    private readonly Dictionary<string, List<long>> videosByCaption;
    private readonly Dictionary<long, IndexedVideo> videosById;
    private readonly Dictionary<long, int> positions; // segment id -> position in Segments

    public IIndexStore Index { get; }
    /// <summary>Every indexed video, in path order.</summary>
    public IReadOnlyList<IndexedVideo> Videos { get; }
    /// <summary>Every segment, in index order (the ranking's tie-break).</summary>
    public IReadOnlyList<IndexedSegment> Segments { get; }
    public IndexModel Model => model;
    /// <summary>The index's <see cref="IIndexStore.Generation"/> when this searcher read it.</summary>
    public long Generation { get; }
    /// <summary>Whether the index came from an annotated dataset (ground truth is known).</summary>
    public bool HasCaptions => videosByCaption.Count > 0;
    /// <summary>"xpool", "meanp" or "vlt": what the per-frame numbers of a hit mean.</summary>
    public string Kind => model is IndexModel.Dual d ? (d.Model.Config.Pooling == Models.DualEncoder.VideoPooling.XPool ? "xpool" : "meanp") : "vlt";

    private VideoSearcher(IIndexStore index, IndexModel model)
    {
        Index = index;
        this.model = model;
        Generation = index.Generation;
        Videos = index.Videos();
        videosById = Videos.ToDictionary(v => v.Id);
        var m = index.Manifest;
        bool vlt = m.ModelType == IndexModel.VltType;
        var segments = index.Segments(withTokens: vlt).ToList();
        frames = Stack(segments, s => s.FrameEmbeddings, [m.Frames, m.EmbedDim], index.Location);
        if (vlt) tokens = Stack(segments, s => s.Tokens, [m.Frames, m.TokensPerFrame, m.TokenDim], index.Location);
        // The tensors hold the embeddings; the segment records keep only what a hit shows.
        Segments = segments.Select(s => s with { FrameEmbeddings = [], Tokens = null }).ToList();
        positions = new Dictionary<long, int>(Segments.Count);
        for (int i = 0; i < Segments.Count; i++) positions[Segments[i].Id] = i;
        videosByCaption = new Dictionary<string, List<long>>(StringComparer.Ordinal);
        foreach (var v in Videos)
            foreach (var c in v.Captions)
            {
                if (!videosByCaption.TryGetValue(Normalize(c), out var list)) videosByCaption[Normalize(c)] = list = [];
                if (!list.Contains(v.Id)) list.Add(v.Id);
            }
    }

    /// <summary>One <c>[S, ...shape]</c> tensor of a per-segment array, each checked against the shape.</summary>
    private static Tensor Stack(List<IndexedSegment> segments, Func<IndexedSegment, float[]?> field, long[] shape, string location)
    {
        long per = shape.Aggregate(1L, (a, b) => a * b);
        var flat = new float[segments.Count * per];
        for (int i = 0; i < segments.Count; i++)
        {
            var values = field(segments[i]);
            if (values is null || values.Length != per)
                throw new VidSeekException($"{location}: segment {segments[i].Id} holds {values?.Length ?? 0} values where [{string.Join(", ", shape)}] = {per} were expected; build the index again");
            values.CopyTo(flat, i * per);
        }
        return torch.tensor(flat, [segments.Count, .. shape]);
    }

    /// <summary>Opens an index and the model it was built with (or <paramref name="modelOverride"/>, which must hold the same weights).</summary>
    /// <param name="rerankK">VLT: segments per query re-scored by ITM.</param>
    public static VideoSearcher Open(string location, string? modelOverride = null, int rerankK = 128)
    {
        var index = IndexStore.Open(location);
        try
        {
            string folder = modelOverride is null ? index.Manifest.Model : Path.GetFullPath(modelOverride);
            string weights = Path.Combine(folder, "model.safetensors");
            if (!File.Exists(weights))
                throw new VidSeekException($"{index.Location} was built with the model in {folder}, which is not there any more (model.safetensors missing); give --model FOLDER with the same weights");
            string sha = IndexBuilder.Sha256(weights);
            if (sha != index.Manifest.ModelSha256)
                throw new VidSeekException($"{weights} is not the model {index.Location} was built with (sha256 {sha[..12]}, expected {index.Manifest.ModelSha256[..Math.Min(12, index.Manifest.ModelSha256.Length)]}); index again with this model");
            var model = IndexModel.Open(folder, index.Manifest.Frames, rerankK);
            try { return new VideoSearcher(index, model); }
            catch { model.Dispose(); throw; }
        }
        catch
        {
            index.Dispose();
            throw;
        }
    }

    /// <summary>The video with this id, or null.</summary>
    public IndexedVideo? Video(long id) => videosById.GetValueOrDefault(id);

    /// <summary>The top <paramref name="k"/> segments for <paramref name="query"/>, best first (ties: index order, as eval's stable policy).</summary>
    /// <param name="perVideo">At most one hit per video: its best moment (the rest of the ranking moves up).</param>
    public List<SearchHit> Search(string query, int k = 5, bool perVideo = false)
    {
        if (string.IsNullOrWhiteSpace(query)) throw new VidSeekException("the query is empty");
        if (k < 1) throw new VidSeekException($"k must be at least 1, got {k}");
        if (Segments.Count == 0) return [];
        var scores = model.Score(query, frames, tokens);
        var ranked = Enumerable.Range(0, Segments.Count).OrderByDescending(i => scores.Scores[i]).ThenBy(i => i);
        var order = (perVideo ? ranked.DistinctBy(i => Segments[i].VideoId) : ranked).Take(k).ToList();
        return Hits(query, order, scores);
    }

    /// <summary>One segment (e.g. a neighbour of a hit) scored and explained for <paramref name="query"/>, or null for an unknown id; its rank is 0.</summary>
    public SearchHit? Moment(string query, long segmentId)
    {
        if (string.IsNullOrWhiteSpace(query)) throw new VidSeekException("the query is empty");
        if (!positions.TryGetValue(segmentId, out int s)) return null;
        using var one = torch.tensor(new long[] { s });
        using var f = frames.index_select(0, one);                                                 // [1, F, E]
        using var t = tokens?.index_select(0, one);
        var scores = model.Score(query, f, t);
        var hit = Hits(query, [0], scores, offset: s)[0];
        return hit with { Rank = 0 };
    }

    /// <summary>The segments just before and after <paramref name="segmentId"/> in the same video (null at its ends).</summary>
    public (IndexedSegment? Previous, IndexedSegment? Next) Neighbours(long segmentId)
    {
        if (!positions.TryGetValue(segmentId, out int s)) return (null, null);
        long video = Segments[s].VideoId;
        return (s > 0 && Segments[s - 1].VideoId == video ? Segments[s - 1] : null,
                s + 1 < Segments.Count && Segments[s + 1].VideoId == video ? Segments[s + 1] : null);
    }

    /// <param name="order">Positions in <paramref name="scores"/>; segment = position + <paramref name="offset"/>.</param>
    private List<SearchHit> Hits(string query, List<int> order, QueryScores scores, int offset = 0)
    {
        var truth = videosByCaption.GetValueOrDefault(Normalize(query)) ?? [];

        using var top = torch.tensor(order.Select(i => (long)(i + offset)).ToArray());
        using var topFrames = frames.index_select(0, top);                                        // [k, F, E]
        var (weights, frameScores) = model.Explain(query, topFrames);
        var hits = new List<SearchHit>();
        for (int r = 0; r < order.Count; r++)
        {
            int s = order[r];
            var segment = Segments[s + offset];
            var best = weights?[r] ?? frameScores[r];
            float? itm = scores.Itm is { } m && float.IsFinite(m[s]) ? m[s] : null;
            hits.Add(new SearchHit(r + 1, videosById[segment.VideoId], segment, scores.Itc?[s] ?? scores.Scores[s], weights?[r], frameScores[r],
                Array.IndexOf(best, best.Max()), truth.Contains(segment.VideoId), itm));
        }
        return hits;
    }

    /// <summary>Some captions of the indexed dataset, for example queries (empty for a plain folder).</summary>
    public IReadOnlyList<string> ExampleCaptions(int count) =>
        Videos.SelectMany(v => v.Captions).Distinct().Take(count).ToList();

    private static string Normalize(string s) => string.Join(' ', s.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)).ToLowerInvariant();

    public void Dispose()
    {
        frames.Dispose();
        tokens?.Dispose();
        model.Dispose();
        Index.Dispose();
    }
}
