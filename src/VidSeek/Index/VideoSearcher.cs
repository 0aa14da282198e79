using TorchSharp;
using static TorchSharp.torch;

namespace VidSeek.Index;

/// <summary>One search result.</summary>
/// <param name="Rank">1-based.</param>
/// <param name="Score">The ranking score: the dual encoder's text-video cosine (as in <c>eval</c>), or for a VLT model its ITC similarity.</param>
/// <param name="FrameWeights">X-Pool: the attention the query gave each sampled frame (mean over heads, sums to 1); null for other models.</param>
/// <param name="FrameScores">Cosine of the query with each frame (the VLT's per-frame ITC cosine).</param>
/// <param name="BestFrame">The frame with the most attention (X-Pool) or the highest cosine (others).</param>
/// <param name="IsGroundTruth">The query is one of this video's ground-truth captions (indexes built from a dataset).</param>
/// <param name="MatchScore">VLT: the ITM match score when this video was among the re-ranked top k; null otherwise.</param>
public sealed record SearchHit(int Rank, IndexedVideo Video, float Score, float[]? FrameWeights, float[] FrameScores, int BestFrame, bool IsGroundTruth,
    float? MatchScore = null)
{
    public double BestFrameTime => Video.FrameTimes[BestFrame];
}

/// <summary>
/// Text-to-video search over a <see cref="VideoIndex"/> with the model that built it: every video is scored (brute force,
/// in blocks) exactly as <c>eval</c> scores a split, so the ranking is eval's ranking (for a VLT model, the re-ranked one).
/// The per-video coarse vectors in the index are there for a first, approximate stage on large collections; this
/// searcher does not need them yet.
/// </summary>
public sealed class VideoSearcher : IDisposable
{
    private readonly IndexModel model;
    private readonly Tensor frames;  // [V, F, E]
    private readonly Tensor? tokens; // VLT: [V, F, L, D]
    private readonly Dictionary<string, List<int>> byCaption;

    public VideoIndex Index { get; }
    public IReadOnlyList<IndexedVideo> Videos { get; }
    public IndexModel Model => model;
    /// <summary>Whether the index came from an annotated dataset (ground truth is known).</summary>
    public bool HasCaptions => byCaption.Count > 0;
    /// <summary>"xpool", "meanp" or "vlt": what the per-frame numbers of a hit mean.</summary>
    public string Kind => model is IndexModel.Dual d ? (d.Model.Config.Pooling == Models.DualEncoder.VideoPooling.XPool ? "xpool" : "meanp") : "vlt";

    private VideoSearcher(VideoIndex index, IndexModel model, List<IndexedVideo> videos)
    {
        Index = index;
        this.model = model;
        Videos = videos;
        var m = index.Manifest;
        frames = Stack(videos, v => v.FrameEmbeddings, [m.Frames, m.EmbedDim], index.File);
        if (m.ModelType == IndexModel.VltType) tokens = Stack(videos, v => v.Tokens, [m.Frames, m.TokensPerFrame, m.TokenDim], index.File);
        byCaption = new Dictionary<string, List<int>>(StringComparer.Ordinal);
        for (int i = 0; i < videos.Count; i++)
            foreach (var c in videos[i].Captions)
            {
                if (!byCaption.TryGetValue(Normalize(c), out var list)) byCaption[Normalize(c)] = list = [];
                if (!list.Contains(i)) list.Add(i);
            }
    }

    /// <summary>One <c>[V, ...shape]</c> tensor of a per-video array, each checked against the shape.</summary>
    private static Tensor Stack(List<IndexedVideo> videos, Func<IndexedVideo, float[]?> field, long[] shape, string file)
    {
        long per = shape.Aggregate(1L, (a, b) => a * b);
        var flat = new float[videos.Count * per];
        for (int i = 0; i < videos.Count; i++)
        {
            var values = field(videos[i]);
            if (values is null || values.Length != per)
                throw new VidSeekException($"{file}: {videos[i].Path} holds {values?.Length ?? 0} values where [{string.Join(", ", shape)}] = {per} were expected; build the index again");
            values.CopyTo(flat, i * per);
        }
        return torch.tensor(flat, [videos.Count, .. shape]);
    }

    /// <summary>Opens an index and the model it was built with (or <paramref name="modelOverride"/>, which must hold the same weights).</summary>
    /// <param name="rerankK">VLT: videos per query re-scored by ITM.</param>
    public static VideoSearcher Open(string indexFile, string? modelOverride = null, int rerankK = 128)
    {
        var index = VideoIndex.Open(indexFile);
        try
        {
            string folder = modelOverride is null ? index.Manifest.Model : Path.GetFullPath(modelOverride);
            string weights = Path.Combine(folder, "model.safetensors");
            if (!File.Exists(weights))
                throw new VidSeekException($"{indexFile} was built with the model in {folder}, which is not there any more (model.safetensors missing); give --model FOLDER with the same weights");
            string sha = IndexBuilder.Sha256(weights);
            if (sha != index.Manifest.ModelSha256)
                throw new VidSeekException($"{weights} is not the model {indexFile} was built with (sha256 {sha[..12]}, expected {index.Manifest.ModelSha256[..12]}); index again with this model");
            var model = IndexModel.Open(folder, index.Manifest.Frames, rerankK);
            try { return new VideoSearcher(index, model, index.LoadAll()); }
            catch { model.Dispose(); throw; }
        }
        catch
        {
            index.Dispose();
            throw;
        }
    }

    /// <summary>The top <paramref name="k"/> videos for <paramref name="query"/>, best first (ties: index order, as eval's stable policy).</summary>
    public List<SearchHit> Search(string query, int k = 5)
    {
        if (string.IsNullOrWhiteSpace(query)) throw new VidSeekException("the query is empty");
        if (k < 1) throw new VidSeekException($"k must be at least 1, got {k}");
        if (Videos.Count == 0) return [];
        var scores = model.Score(query, frames, tokens);
        var order = Enumerable.Range(0, Videos.Count).OrderByDescending(i => scores.Scores[i]).ThenBy(i => i).Take(k).ToList();
        var truth = byCaption.GetValueOrDefault(Normalize(query)) ?? [];

        using var top = torch.tensor(order.Select(i => (long)i).ToArray());
        using var topFrames = frames.index_select(0, top);                                        // [k, F, E]
        var (weights, frameScores) = model.Explain(query, topFrames);
        var hits = new List<SearchHit>();
        for (int r = 0; r < order.Count; r++)
        {
            int v = order[r];
            var best = weights?[r] ?? frameScores[r];
            float? itm = scores.Itm is { } m && float.IsFinite(m[v]) ? m[v] : null;
            hits.Add(new SearchHit(r + 1, Videos[v], scores.Itc?[v] ?? scores.Scores[v], weights?[r], frameScores[r], Array.IndexOf(best, best.Max()),
                truth.Contains(v), itm));
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
