using TorchSharp;
using VidSeek.Data;
using VidSeek.Models.Vlt;
using VidSeek.Training;
using static TorchSharp.torch;

namespace VidSeek.Retrieval;

/// <summary>Texts to BERT input: ids and attention mask, both <c>[n, N]</c> int64 (the caller disposes them).</summary>
public delegate (Tensor Ids, Tensor Mask) VltTokenize(IReadOnlyList<string> texts);

/// <summary>How to run <see cref="TwoStageRetrieval"/>.</summary>
public sealed record TwoStageOptions
{
    /// <summary>Videos per text re-scored by ITM (SPEC 3.3's k); clamped to the number of videos.</summary>
    public int TopK { get; init; } = 128;
    /// <summary>(text, video) pairs per joint-encoder forward pass: the memory bound of re-ranking.</summary>
    public int PairBatch { get; init; } = 32;
    /// <summary>Block sizes of the ITC matrix.</summary>
    public int TextChunk { get; init; } = 512;
    public int VideoChunk { get; init; } = 32;
    /// <summary>Videos / texts encoded per forward pass.</summary>
    public int VideoBatch { get; init; } = 8;
    public int TextBatch { get; init; } = 64;
}

/// <summary>Both score matrices, row-major <c>[Texts, Videos]</c>: ITC only, and with the top k re-ranked by ITM.</summary>
/// <param name="TopVideos">Row-major <c>[Texts, TopK]</c>: the videos each text re-scored by ITM, in ITC order.</param>
/// <param name="Offset">Added to the ITM scores in <see cref="Reranked"/>: the ITM score of a re-scored pair is <c>Reranked - Offset</c>.</param>
public sealed record TwoStageScores(float[] Itc, float[] Reranked, int Texts, int Videos, int TopK, long[] TopVideos, float Offset);

/// <summary>
/// Two-stage VLT retrieval (SPEC 3.3): ITC similarity ranks every video for every text; each text's top k are
/// re-scored by the joint encoder's ITM match score; outside the top k the ITC order stands.
/// </summary>
public static class TwoStageRetrieval
{
    /// <summary>
    /// Scores from cached encodings: nothing is re-encoded per pair; the joint encoder sees <see cref="TwoStageOptions.PairBatch"/>
    /// pairs at a time, so memory holds at most <c>[PairBatch, T, L, D]</c> video tokens beyond the cache, never <c>[Tn, V, L, D]</c>.
    /// The cache itself, <c>[V, T, L, D]</c>, is the caller's (ViT-B/16, 12 frames: about 7 MB a video in float32).
    /// </summary>
    /// <param name="textHidden"><c>F_T</c> <c>[Tn, N, D]</c> of every text.</param>
    /// <param name="textMask"><c>[Tn, N]</c>.</param>
    /// <param name="videoTokens"><c>F_V</c> <c>[V, T, L, D]</c> of every video.</param>
    /// <param name="frameVectors"><c>[V, T, D]</c>.</param>
    /// <remarks>
    /// The re-ranked matrix holds <c>ITM + offset</c> at each text's top k and the ITC similarity elsewhere, with
    /// <c>offset = max(ITC) - min(ITM) + 1</c>: every re-scored video ranks above every other one, the re-scored keep
    /// the ITM order among themselves, and the rest keep the ITC order (and values). The offset is that small, not
    /// e.g. 1e4, so that adding it loses no float precision of the ITM scores.
    /// </remarks>
    public static TwoStageScores Score(VideoLanguageModel model, Tensor textHidden, Tensor textMask, Tensor videoTokens, Tensor frameVectors,
        TwoStageOptions? options = null, Action<string, int, int>? progress = null)
    {
        options ??= new TwoStageOptions();
        int nt = (int)textHidden.shape[0], nv = (int)videoTokens.shape[0], k = Math.Min(options.TopK, nv);
        using var _ = torch.no_grad();
        var itc = ItcMatrix(model, textHidden, frameVectors, options);

        // The top k of each text by ITC, then their ITM scores, PairBatch pairs at a time.
        var pairText = new long[(long)nt * k];
        var pairVideo = new long[(long)nt * k];
        for (int t0 = 0; t0 < nt; t0 += options.TextChunk)
        {
            using var scope = torch.NewDisposeScope();
            int n = Math.Min(options.TextChunk, nt - t0);
            var block = torch.tensor(itc.AsSpan(t0 * nv, n * nv).ToArray(), n, nv);
            block.topk(k, dim: 1).indexes.data<long>().CopyTo(pairVideo.AsSpan(t0 * k, n * k));
            for (int r = 0; r < n; r++) pairText.AsSpan((t0 + r) * k, k).Fill(t0 + r);
        }
        var itm = new float[pairText.Length];
        for (int p0 = 0; p0 < itm.Length; p0 += options.PairBatch)
        {
            using var scope = torch.NewDisposeScope();
            int n = Math.Min(options.PairBatch, itm.Length - p0);
            var ti = torch.tensor(pairText.AsSpan(p0, n).ToArray());
            var vi = torch.tensor(pairVideo.AsSpan(p0, n).ToArray());
            var scores = model.MatchScore(textHidden.index_select(0, ti), textMask.index_select(0, ti), videoTokens.index_select(0, vi));
            scores.to(ScalarType.Float32).data<float>().CopyTo(itm, p0);
            progress?.Invoke("re-ranking", p0 + n, itm.Length);
        }

        var reranked = (float[])itc.Clone();
        float offset = 0;
        if (itm.Length > 0)
        {
            offset = itc.Max() - itm.Min() + 1;
            for (int i = 0; i < itm.Length; i++) reranked[pairText[i] * nv + pairVideo[i]] = itm[i] + offset;
        }
        return new TwoStageScores(itc, reranked, nt, nv, k, pairVideo, offset);
    }

    /// <summary>Row-major <c>[Tn, V]</c> ITC similarities in blocks of <see cref="TwoStageOptions.TextChunk"/> x <see cref="TwoStageOptions.VideoChunk"/>.</summary>
    public static float[] ItcMatrix(VideoLanguageModel model, Tensor textHidden, Tensor frameVectors, TwoStageOptions options)
    {
        int nt = (int)textHidden.shape[0], nv = (int)frameVectors.shape[0];
        var sims = new float[(long)nt * nv];
        using var _ = torch.no_grad();
        for (int t0 = 0; t0 < nt; t0 += options.TextChunk)
            for (int v0 = 0; v0 < nv; v0 += options.VideoChunk)
            {
                using var scope = torch.NewDisposeScope();
                int tn = Math.Min(options.TextChunk, nt - t0), vn = Math.Min(options.VideoChunk, nv - v0);
                var block = model.ItcSimilarity(textHidden.narrow(0, t0, tn).select(1, 0), frameVectors.narrow(0, v0, vn))
                    .to(ScalarType.Float32).contiguous().data<float>().ToArray();
                for (int r = 0; r < tn; r++) Array.Copy(block, r * vn, sims, (long)(t0 + r) * nv + v0, vn);
            }
        return sims;
    }

    /// <summary>Encodes a split (uniform frames, centre crop) and scores it; returns the ITC-only and the re-ranked metrics.</summary>
    public static (EvalResult Itc, EvalResult Reranked, TwoStageScores Scores) Evaluate(VideoLanguageModel model, RetrievalSplit split,
        VideoFrameSource frames, VltTokenize tokenize, TwoStageOptions? options = null, EvalOptions? evalOptions = null,
        Action<string, int, int>? progress = null)
    {
        options ??= new TwoStageOptions();
        bool wasTraining = model.training;
        model.eval();
        try
        {
            using var scope = torch.NewDisposeScope();
            using var _ = torch.no_grad();
            var captions = split.Captions.Select(c => c.Text).ToList();
            var hidden = new List<Tensor>(); var masks = new List<Tensor>();
            for (int t0 = 0; t0 < captions.Count; t0 += options.TextBatch)
            {
                var (ids, mask) = tokenize(captions.Skip(t0).Take(options.TextBatch).ToList());
                hidden.Add(model.EncodeText(ids, mask));
                masks.Add(mask);
            }
            var tokens = new List<Tensor>(); var vectors = new List<Tensor>();
            for (int v0 = 0; v0 < split.Videos.Count; v0 += options.VideoBatch)
            {
                int n = Math.Min(options.VideoBatch, split.Videos.Count - v0);
                var output = model.EncodeVideo(torch.stack(Enumerable.Range(v0, n).Select(frames.EvalClip).ToList(), 0));
                tokens.Add(output.Tokens); vectors.Add(output.FrameVectors);
                progress?.Invoke("encoding videos", v0 + n, split.Videos.Count);
            }
            // Texts tokenized in batches may differ in padded length: pad every batch to the longest.
            long len = hidden.Max(h => h.shape[1]);
            var textHidden = torch.cat(hidden.Select(h => nn.functional.pad(h, new long[] { 0, 0, 0, len - h.shape[1] })).ToList(), 0);
            var textMask = torch.cat(masks.Select(m => nn.functional.pad(m, new long[] { 0, len - m.shape[1] })).ToList(), 0);
            var scores = Score(model, textHidden, textMask, torch.cat(tokens, 0), torch.cat(vectors, 0), options, progress);
            return (Evaluator.Score(scores.Itc, split, evalOptions), Evaluator.Score(scores.Reranked, split, evalOptions), scores);
        }
        finally
        {
            model.train(wasTraining);
        }
    }
}
