using TorchSharp;
using VidSeek.Models.DualEncoder;
using VidSeek.Models.XPool;
using static TorchSharp.torch;

namespace VidSeek.Index;

/// <summary>One search result.</summary>
/// <param name="Rank">1-based.</param>
/// <param name="Score">The model's text-video similarity (cosine, as in <c>eval</c>).</param>
/// <param name="FrameWeights">X-Pool: the attention the query gave each sampled frame (mean over heads, sums to 1); null for mean pooling.</param>
/// <param name="FrameScores">Cosine of the query with each frame embedding.</param>
/// <param name="BestFrame">The frame with the most attention (X-Pool) or the highest cosine (mean pooling).</param>
/// <param name="IsGroundTruth">The query is one of this video's ground-truth captions (indexes built from a dataset).</param>
public sealed record SearchHit(int Rank, IndexedVideo Video, float Score, float[]? FrameWeights, float[] FrameScores, int BestFrame, bool IsGroundTruth)
{
    public double BestFrameTime => Video.FrameTimes[BestFrame];
}

/// <summary>
/// Text-to-video search over a <see cref="VideoIndex"/> with the model that built it: every video is scored (brute force,
/// in blocks), exactly as <c>eval</c> scores a split, so the ranking is eval's ranking. The per-video coarse vectors in the
/// index are there for a first, approximate stage on large collections; this searcher does not need them yet.
/// </summary>
public sealed class VideoSearcher : IDisposable
{
    private readonly RetrievalCheckpoint checkpoint;
    private readonly Tensor frames; // [V, F, E]
    private readonly Dictionary<string, List<int>> byCaption;

    public VideoIndex Index { get; }
    public IReadOnlyList<IndexedVideo> Videos { get; }
    public DualEncoderModel Model => checkpoint.Model;
    /// <summary>Whether the index came from an annotated dataset (ground truth is known).</summary>
    public bool HasCaptions => byCaption.Count > 0;

    private VideoSearcher(VideoIndex index, RetrievalCheckpoint checkpoint, List<IndexedVideo> videos)
    {
        Index = index;
        this.checkpoint = checkpoint;
        Videos = videos;
        int f = index.Manifest.Frames, e = index.Manifest.EmbedDim;
        var flat = new float[(long)videos.Count * f * e];
        for (int i = 0; i < videos.Count; i++)
        {
            if (videos[i].FrameEmbeddings.Length != f * e)
                throw new VidSeekException($"{index.File}: {videos[i].Path} holds {videos[i].FrameEmbeddings.Length} values, expected {f} x {e}");
            videos[i].FrameEmbeddings.CopyTo(flat, (long)i * f * e);
        }
        frames = torch.tensor(flat, [videos.Count, f, e]);
        byCaption = new Dictionary<string, List<int>>(StringComparer.Ordinal);
        for (int i = 0; i < videos.Count; i++)
            foreach (var c in videos[i].Captions)
            {
                if (!byCaption.TryGetValue(Normalize(c), out var list)) byCaption[Normalize(c)] = list = [];
                if (!list.Contains(i)) list.Add(i);
            }
    }

    /// <summary>Opens an index and the model it was built with (or <paramref name="modelOverride"/>, which must hold the same weights).</summary>
    public static VideoSearcher Open(string indexFile, string? modelOverride = null)
    {
        var index = VideoIndex.Open(indexFile);
        try
        {
            string model = modelOverride is null ? index.Manifest.Model : Path.GetFullPath(modelOverride);
            string weights = Path.Combine(model, "model.safetensors");
            if (!File.Exists(weights))
                throw new VidSeekException($"{indexFile} was built with the model in {model}, which is not there any more (model.safetensors missing); give --model FOLDER with the same weights");
            string sha = IndexBuilder.Sha256(weights);
            if (sha != index.Manifest.ModelSha256)
                throw new VidSeekException($"{weights} is not the model {indexFile} was built with (sha256 {sha[..12]}, expected {index.Manifest.ModelSha256[..12]}); index again with this model");
            var checkpoint = RetrievalCheckpoint.Open(model, numFrames: index.Manifest.Frames);
            try { return new VideoSearcher(index, checkpoint, index.LoadAll()); }
            catch { checkpoint.Dispose(); throw; }
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
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        var text = checkpoint.Texts.Embed([query]);                                              // [1, E]
        var sims = Model.SimilarityMatrix(text, frames);                                          // [V]
        var order = Enumerable.Range(0, Videos.Count).OrderByDescending(i => sims[i]).ThenBy(i => i).Take(k).ToList(); // stable: index order on ties
        var truth = byCaption.GetValueOrDefault(Normalize(query)) ?? [];

        var top = torch.tensor(order.Select(i => (long)i).ToArray());
        var topFrames = frames.index_select(0, top);                                              // [k, F, E]
        var weights = Model.Similarity(text, topFrames).FrameWeights;                             // [k, 1, F] or null
        var frameScores = torch.einsum("e,kfe->kf", nn.functional.normalize(text[0], dim: -1), nn.functional.normalize(topFrames, dim: -1));
        var hits = new List<SearchHit>();
        for (int r = 0; r < order.Count; r++)
        {
            float[]? w = weights?[r, 0].data<float>().ToArray();
            float[] s = frameScores[r].data<float>().ToArray();
            var best = w ?? s;
            int bestFrame = Array.IndexOf(best, best.Max());
            hits.Add(new SearchHit(r + 1, Videos[order[r]], sims[order[r]], w, s, bestFrame, truth.Contains(order[r])));
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
        checkpoint.Dispose();
        Index.Dispose();
    }
}
