using VidSeek.Tensors;
using TorchSharp;
using VidSeek.Data;
using VidSeek.Models.Clip;
using VidSeek.Models.DualEncoder;
using VidSeek.Text;
using VidSeek.Training;
using static TorchSharp.torch;

namespace VidSeek.Retrieval;

/// <summary>How to score a split.</summary>
public sealed record EvalOptions
{
    /// <summary>Dual softmax at inference (DSL): <c>sims' = sims * softmax(100 * sims)</c> over the query axis.</summary>
    public bool DualSoftmax { get; init; }
    public TiePolicy Ties { get; init; } = TiePolicy.Stable;
    /// <summary>Videos encoded per forward pass.</summary>
    public int VideoBatch { get; init; } = 8;
    /// <summary>Block sizes of the all-pairs similarity; memory is bounded by them, not by the split size. Null: the model's default (<see cref="DualEncoderModel.SimilarityMatrix"/>).</summary>
    public int? TextChunk { get; init; }
    public int? VideoChunk { get; init; }
}

/// <summary>Metrics of a split, overall and per caption type.</summary>
public sealed record EvalResult(RetrievalReport Overall, IReadOnlyDictionary<string, RetrievalReport> ByType, int Texts, int Videos);

/// <summary>Encodes a split with a dual encoder, computes all text-video similarities in blocks, and scores them.</summary>
public static class Evaluator
{
    /// <summary>Progress callback: (what, done, total).</summary>
    public static EvalResult Evaluate(DualEncoderModel model, RetrievalSplit split, VideoFrameSource frames, ClipTextEmbedder texts,
        EvalOptions? options = null, Action<string, int, int>? progress = null)
    {
        options ??= new EvalOptions();
        float[] sims = SimilarityMatrix(model, split, frames, texts, options, progress);
        return Score(sims, split, options);
    }

    /// <summary>Row-major <c>[T, V]</c> similarities of every caption of the split against every video.</summary>
    public static float[] SimilarityMatrix(DualEncoderModel model, RetrievalSplit split, VideoFrameSource frames, ClipTextEmbedder texts,
        EvalOptions options, Action<string, int, int>? progress = null)
    {
        bool wasTraining = model.training;
        model.eval();
        try
        {
            using var scope = torch.NewDisposeScope();
            using var _ = torch.no_grad();
            var textEmb = texts.Embed(split.Captions.Select(c => c.Text).ToList());               // [T, E]
            var parts = new List<Tensor>();
            for (int v0 = 0; v0 < split.Videos.Count; v0 += options.VideoBatch)
            {
                int n = Math.Min(options.VideoBatch, split.Videos.Count - v0);
                using var batch = torch.stack(Enumerable.Range(v0, n).Select(frames.EvalClip).ToList(), 0); // [n, F, 3, S, S]
                parts.Add(model.EncodeVideo(batch));                                                 // [n, F, E]
                progress?.Invoke("encoding videos", v0 + n, split.Videos.Count);
            }
            var frameEmb = torch.cat(parts, 0);                                                      // [V, F, E]
            return model.SimilarityMatrix(textEmb, frameEmb, options.TextChunk, options.VideoChunk);
        }
        finally
        {
            model.train(wasTraining);
        }
    }

    /// <summary>Metrics from a similarity matrix <c>[T, V]</c>, overall and for each caption type of the split.</summary>
    public static EvalResult Score(float[] sims, RetrievalSplit split, EvalOptions? options = null)
    {
        options ??= new EvalOptions();
        int t = split.Captions.Count, v = split.Videos.Count;
        var overall = Report(sims, t, v, split.VideoOfCaption, options);
        var byType = new Dictionary<string, RetrievalReport>();
        foreach (var type in split.CaptionTypes)
        {
            // Queries of this type against every video (t2v); the type's captions as the only candidates (v2t),
            // for the videos that have such a caption.
            var rows = Enumerable.Range(0, t).Where(i => split.Captions[i].Type == type).ToArray();
            var cols = rows.Select(i => split.Captions[i].VideoIndex).Distinct().Order().ToArray();
            var colOf = cols.Select((c, j) => (c, j)).ToDictionary(x => x.c, x => x.j);
            var rowSims = new float[rows.Length * v];
            for (int r = 0; r < rows.Length; r++) Array.Copy(sims, (long)rows[r] * v, rowSims, (long)r * v, v);
            var t2v = Report(rowSims, rows.Length, v, rows.Select(i => split.Captions[i].VideoIndex).ToArray(), options);
            var sub = new float[rows.Length * cols.Length];
            for (int r = 0; r < rows.Length; r++)
                for (int c = 0; c < cols.Length; c++) sub[r * cols.Length + c] = sims[(long)rows[r] * v + cols[c]];
            var v2t = Report(sub, rows.Length, cols.Length, rows.Select(i => colOf[split.Captions[i].VideoIndex]).ToArray(), options);
            byType[type] = t2v with { VideoToText = v2t.VideoToText, VideoToTextRanks = v2t.VideoToTextRanks };
        }
        return new EvalResult(overall, byType, t, v);
    }

    private static RetrievalReport Report(float[] sims, int t, int v, int[] videoOfText, EvalOptions options)
    {
        if (!options.DualSoftmax) return RetrievalMetrics.Compute(sims, t, v, videoOfText, options.Ties);
        var t2v = RetrievalMetrics.Compute(DualSoftmax(sims, t, v, queryAxis: 0), t, v, videoOfText, options.Ties);
        var v2t = RetrievalMetrics.Compute(DualSoftmax(sims, t, v, queryAxis: 1), t, v, videoOfText, options.Ties);
        return t2v with { VideoToText = v2t.VideoToText, VideoToTextRanks = v2t.VideoToTextRanks };
    }

    /// <summary>
    /// DSL: <c>sims * softmax(100 * sims)</c> with the softmax over the query axis (texts for t2v, videos for v2t),
    /// so a candidate that many queries like is discounted.
    /// </summary>
    public static float[] DualSoftmax(float[] sims, int t, int v, int queryAxis)
    {
        using var scope = torch.NewDisposeScope();
        var s = torch.tensor(sims, t, v);
        var prior = s.Times(100).softmax(queryAxis);
        return (s * prior).contiguous().data<float>().ToArray();
    }
}
