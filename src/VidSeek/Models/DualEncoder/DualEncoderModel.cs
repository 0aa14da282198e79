using TorchSharp;
using TorchSharp.Modules;
using VidSeek.Models.Clip;
using VidSeek.Models.XPool;
using VidSeek.Tensors;
using static TorchSharp.torch;

namespace VidSeek.Models.DualEncoder;

/// <summary>Similarities of texts against videos, and (X-Pool only) how each text weighed each video's frames.</summary>
/// <param name="Sims"><c>[T, V]</c> cosine similarities (not scaled by the temperature).</param>
/// <param name="FrameWeights"><c>[V, T, F]</c> X-Pool attention averaged over heads; null for mean pooling.</param>
public sealed record Similarities(Tensor Sims, Tensor? FrameWeights);

/// <summary>
/// A CLIP-based dual encoder for text-to-video retrieval: the CLIP towers encode texts and frames
/// independently; a pooling head scores a text against a video's frames (<see cref="VideoPooling"/>).
/// Checkpoint keys: <c>clip.*</c> (the HF CLIPModel keys) and, for X-Pool, <c>pool.*</c> (X-Pool's keys).
/// </summary>
public sealed class DualEncoderModel : nn.Module
{
    private readonly ClipModel clip;
    private readonly TextConditionedPooling? pool;

    public DualEncoderConfig Config { get; }
    public ClipModel Clip => clip;

    /// <summary>The X-Pool head (keys <c>pool.*</c>); null for mean pooling.</summary>
    public TextConditionedPooling? Pool => pool;

    /// <summary>Fresh weights for the head; the CLIP backbone from <paramref name="backbone"/> (or fresh when null).</summary>
    public DualEncoderModel(DualEncoderConfig config, ClipModel? backbone = null) : base(nameof(DualEncoderModel))
    {
        Config = config;
        clip = backbone ?? new ClipModel(config.Clip);
        if (config.Pooling == VideoPooling.XPool)
            pool = new TextConditionedPooling(config.Clip.ProjectionDim, config.XPoolHeads, config.XPoolDropout);
        RegisterComponents();
    }

    /// <summary>The CLIP parameters (the "backbone" learning-rate group).</summary>
    public IEnumerable<Parameter> BackboneParameters() => clip.parameters();

    /// <summary>Parameters added on top of CLIP (the "new modules" learning-rate group); empty for mean pooling.</summary>
    public IEnumerable<Parameter> HeadParameters() => pool?.parameters() ?? [];

    /// <summary>The learned temperature, clamped to at most ln(100) as in CLIP.</summary>
    public Tensor LogitScale() => clip.LogitScale.clamp(max: MaxLogitScale);

    /// <summary>log 100: CLIP caps the learned temperature at 100 (rooted: see Tensors/Scalars.cs).</summary>
    private static readonly Scalar MaxLogitScale = Math.Log(100).ToScalar();

    /// <summary>Text embeddings <c>[T, E]</c> of token ids <c>[T, N]</c>.</summary>
    public Tensor EncodeText(Tensor inputIds) => clip.GetTextFeatures(inputIds);

    /// <summary>Frame embeddings <c>[V, F, E]</c> of clips <c>[V, F, 3, S, S]</c>.</summary>
    public Tensor EncodeVideo(Tensor clips) => clip.EncodeFrames(clips);

    /// <summary>
    /// How X-Pool pairs are scored outside training: <see cref="XPoolSimilarity.Factored"/> (the default, the same numbers
    /// at matrix-multiply speed) or <see cref="XPoolSimilarity.Direct"/> (X-Pool's own order, the reference). In training
    /// mode the direct form always runs, since dropout then acts between <c>linear_proj</c> and the residual.
    /// </summary>
    public XPoolSimilarity XPoolForm { get; set; } = XPoolSimilarity.Factored;

    private bool UseFactored => pool is not null && XPoolForm == XPoolSimilarity.Factored && !pool.training;

    /// <summary>
    /// Cosine similarities <c>[T, V]</c> of texts <c>[T, E]</c> against videos' frames <c>[V, F, E]</c>.
    /// Memory grows with T x V x F (factored) or T x V x E (direct) for X-Pool: for all pairs of a large split use
    /// <see cref="SimilarityMatrix"/>.
    /// </summary>
    public Similarities Similarity(Tensor text, Tensor frames)
    {
        using var scope = torch.NewDisposeScope();
        if (pool is null)
        {
            var video = frames.mean(new long[] { 1 });                                          // [V, E]
            var sims = nn.functional.normalize(text, dim: -1).matmul(nn.functional.normalize(video, dim: -1).T);
            return new Similarities(sims.MoveToOuterDisposeScope(), null);
        }
        if (pool.training) DropCache();                                                         // weights are about to change
        if (UseFactored)
        {
            using var factored = new XPoolFactored(pool, text.dtype == ScalarType.Float64 ? ScalarType.Float64 : ScalarType.Float32);
            using var videos = factored.PrepareVideos(frames);
            using var texts = factored.PrepareTexts(text);
            var (sims, weights) = factored.Score(texts, videos, 0, texts.Count, 0, videos.Count);  // [T, V], [T, V, H, F]
            return new Similarities(sims.MoveToOuterDisposeScope(),
                weights.mean(new long[] { 2 }).transpose(0, 1).contiguous().MoveToOuterDisposeScope()); // [V, T, F]
        }
        var pooled = pool.forward(text, frames);                                                 // [V, T, E]
        var s = TextConditionedPooling.Similarity(text, pooled.Pooled);                          // [T, V]
        var w = pooled.Weights.mean(new long[] { 2 });                                            // [V, T, F]
        return new Similarities(s.MoveToOuterDisposeScope(), w.MoveToOuterDisposeScope());
    }

    // The factored form's folded weights, made once: a search scores each query's shortlist (a new frames tensor every
    // time) with them, and folding them again took most of that step (42 segments at D = 128: 1.9-2.0 ms with the fold,
    // 0.7-0.8 ms without, fastest of 10 in search-query).
    // Dropped, with the per-video data below, when the model runs in training mode (its weights change) and by DropCache.
    private XPoolFactored? folded;

    // The factored form's per-video data for the last frames tensor SimilarityMatrix saw: a search process scores
    // every query against the same [V, F, E] tensor, and this is what makes each query cost two GEMMs instead of
    // re-deriving keys and Grams of every frame. Keyed by the tensor object and its shape (an in-place change of its
    // values is not noticed: callers pass frames they do not modify).
    private (WeakReference<Tensor> Frames, long[] Shape, XPoolFactored.Videos Videos)? cache;

    /// <summary>Forgets the folded weights and cached per-video data of <see cref="SimilarityMatrix"/> (call after changing weights outside training).</summary>
    public void DropCache()
    {
        cache?.Videos.Dispose();
        cache = null;
        folded?.Dispose();
        folded = null;
    }

    private (XPoolFactored Model, XPoolFactored.Videos Videos) FactoredVideos(Tensor frames)
    {
        // Made outside any caller's dispose scope: both outlive the call.
        var model = folded ??= new XPoolFactored(pool!).DetachFromDisposeScope();
        if (cache is { } c && c.Frames.TryGetTarget(out var seen) && ReferenceEquals(seen, frames) && !frames.IsInvalid
            && c.Shape.SequenceEqual(frames.shape))
            return (model, c.Videos);
        cache?.Videos.Dispose();
        cache = null;
        var videos = model.PrepareVideos(frames).DetachFromDisposeScope();
        cache = (new WeakReference<Tensor>(frames), frames.shape, videos);
        return (model, videos);
    }

    /// <summary>
    /// All-pairs similarities as a row-major <c>float[T * V]</c>, computed in blocks of
    /// <paramref name="textChunk"/> texts x <paramref name="videoChunk"/> videos, so peak memory depends on the
    /// block size and the output, not on T x V x E (X-Pool's reference materialises <c>[V, V, captions, D]</c>).
    /// The factored X-Pool form prepares every video once (and keeps it for the next call with the same tensor) and by
    /// default uses blocks of 1024 texts x 64 videos: its two GEMM outputs per block, <c>[64·n, 1024]</c> each (3 MiB at
    /// n = 12), are read back by the fused pair kernel while still in cache, and the GEMMs stay large (768 x 512 x 1024).
    /// The direct form uses 512 x 32 (its intermediates are <c>[32, 512, D]</c>).
    /// </summary>
    public float[] SimilarityMatrix(Tensor text, Tensor frames, int? textChunk = null, int? videoChunk = null)
    {
        long t = text.shape[0], v = frames.shape[0];
        var result = new float[t * v];
        using var _ = torch.no_grad();
        if (pool is { training: true }) DropCache();                                            // weights are about to change
        XPoolFactored.Texts? texts = null;
        try
        {
            int tc, vc;
            Action<long, long, long, long> score;                                               // (t0, tn, v0, vn) into result
            if (UseFactored)
            {
                var (model, videos) = FactoredVideos(frames);
                var prepared = texts = model.PrepareTexts(text);
                (tc, vc) = (textChunk ?? FactoredTextChunk, videoChunk ?? FactoredVideoChunk);
                score = (t0, tn, v0, vn) => model.ScoreInto(prepared, videos, t0, tn, v0, vn, result, v);
            }
            else
            {
                (tc, vc) = (textChunk ?? 512, videoChunk ?? 32);
                score = (t0, tn, v0, vn) =>
                {
                    var block = Similarity(text.narrow(0, t0, tn), frames.narrow(0, v0, vn)).Sims.to(ScalarType.Float32).contiguous(); // [tn, vn]
                    Copy(block, result, t0, tn, v0, vn, v);
                };
            }
            foreach (var (t0, tn, v0, vn) in Blocks(t, v, tc, vc))
            {
                using var scope = torch.NewDisposeScope();
                score(t0, tn, v0, vn);
            }
        }
        finally { texts?.Dispose(); }
        return result;
    }

    /// <summary>Default block of <see cref="SimilarityMatrix"/> for the factored X-Pool form (texts, videos).</summary>
    public const int FactoredTextChunk = 1024, FactoredVideoChunk = 64;

    /// <summary>The blocks of a <c>[T, V]</c> matrix, video-major: a block of videos stays in cache while every text block passes it.</summary>
    public static IEnumerable<(long T0, long Tn, long V0, long Vn)> Blocks(long t, long v, int textChunk, int videoChunk)
    {
        if (textChunk <= 0 || videoChunk <= 0) throw new ArgumentOutOfRangeException(nameof(textChunk), "block sizes must be positive");
        for (long v0 = 0; v0 < v; v0 += videoChunk)
            for (long t0 = 0; t0 < t; t0 += textChunk)
                yield return (t0, Math.Min(textChunk, t - t0), v0, Math.Min(videoChunk, v - v0));
    }

    private static void Copy(Tensor block, float[] result, long t0, long tn, long v0, long vn, long v)
    {
        var values = block.data<float>().ToArray();
        for (long i = 0; i < tn; i++)
            Array.Copy(values, i * vn, result, (t0 + i) * v + v0, vn);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) DropCache();
        base.Dispose(disposing);
    }

    /// <summary>Writes <c>config.json</c> and <c>model.safetensors</c> into <paramref name="folder"/>.</summary>
    public void Save(string folder) => PretrainedFolder.Save(folder, this, Config.ToJson());

    /// <summary>Loads a checkpoint folder written by <see cref="Save"/>; every key and shape is checked.</summary>
    public static DualEncoderModel Load(string folder)
    {
        if (!Directory.Exists(folder)) throw new VidSeekException($"checkpoint folder not found: {folder}");
        var config = DualEncoderConfig.Load(Path.Combine(folder, "config.json"));
        string weights = Path.Combine(folder, "model.safetensors");
        if (!File.Exists(weights)) throw new VidSeekException($"model.safetensors not found in {folder}");
        config.Clip.CheckAgainst(Tensors.SafeTensors.ReadHeader(weights), "clip.", Path.Combine(folder, "config.json"), weights); // before building anything
        var model = new DualEncoderModel(config);
        StateDictLoader.Load(model, weights, $"the {config.Pooling} dual encoder of {Path.Combine(folder, "config.json")}");
        model.eval();
        return model;
    }
}
