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
    public Tensor LogitScale() => clip.LogitScale.clamp(max: Math.Log(100));

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

    // The factored form's per-video data for the last frames tensor SimilarityMatrix saw: a search process scores
    // every query against the same [V, F, E] tensor, and this is what makes each query cost two GEMMs instead of
    // re-deriving keys and Grams of every frame. Keyed by the tensor object and its shape (an in-place change of its
    // values is not noticed: callers pass frames they do not modify); dropped when the
    // model runs in training mode (its weights change) and by DropCache.
    private (WeakReference<Tensor> Frames, long[] Shape, XPoolFactored Model, XPoolFactored.Videos Videos)? cache;

    /// <summary>Forgets the cached per-video data of <see cref="SimilarityMatrix"/> (call after changing weights outside training).</summary>
    public void DropCache()
    {
        if (cache is { } c) { c.Videos.Dispose(); c.Model.Dispose(); }
        cache = null;
    }

    private (XPoolFactored Model, XPoolFactored.Videos Videos) FactoredVideos(Tensor frames)
    {
        if (cache is { } c && c.Frames.TryGetTarget(out var seen) && ReferenceEquals(seen, frames) && !frames.IsInvalid
            && c.Shape.SequenceEqual(frames.shape))
            return (c.Model, c.Videos);
        DropCache();
        // Made outside any caller's dispose scope: the cache outlives the call.
        var model = new XPoolFactored(pool!).DetachFromDisposeScope();
        var videos = model.PrepareVideos(frames).DetachFromDisposeScope();
        cache = (new WeakReference<Tensor>(frames), frames.shape, model, videos);
        return (model, videos);
    }

    /// <summary>
    /// All-pairs similarities as a row-major <c>float[T * V]</c>, computed in blocks of
    /// <paramref name="textChunk"/> texts x <paramref name="videoChunk"/> videos, so peak memory depends on the
    /// block size and the output, not on T x V x E (X-Pool's reference materialises <c>[V, V, captions, D]</c>).
    /// The factored X-Pool form prepares every video once (and keeps it for the next call with the same tensor) and
    /// by default uses blocks of 512 texts x 1024 videos: large blocks keep the number of tensor operations small, and
    /// each [512, 1024, F] intermediate is 24 MiB at F = 12 (the direct form: 512 x 32).
    /// </summary>
    public float[] SimilarityMatrix(Tensor text, Tensor frames, int? textChunk = null, int? videoChunk = null)
    {
        long t = text.shape[0], v = frames.shape[0];
        var result = new float[t * v];
        using var _ = torch.no_grad();
        if (UseFactored)
        {
            var (model, videos) = FactoredVideos(frames);
            using var texts = model.PrepareTexts(text);
            int tc = textChunk ?? 512, vc = videoChunk ?? 1024;
            for (long t0 = 0; t0 < t; t0 += tc)
            {
                long tn = Math.Min(tc, t - t0);
                for (long v0 = 0; v0 < v; v0 += vc)
                {
                    long vn = Math.Min(vc, v - v0);
                    using var scope = torch.NewDisposeScope();
                    var block = model.Score(texts, videos, t0, tn, v0, vn).Sims.to(ScalarType.Float32).contiguous(); // [tn, vn]
                    Copy(block, result, t0, tn, v0, vn, v);
                }
            }
            return result;
        }
        int dtc = textChunk ?? 512, dvc = videoChunk ?? 32;
        for (long v0 = 0; v0 < v; v0 += dvc)
        {
            long vn = Math.Min(dvc, v - v0);
            for (long t0 = 0; t0 < t; t0 += dtc)
            {
                long tn = Math.Min(dtc, t - t0);
                using var scope = torch.NewDisposeScope();
                var block = Similarity(text.narrow(0, t0, tn), frames.narrow(0, v0, vn)).Sims.contiguous(); // [tn, vn]
                Copy(block, result, t0, tn, v0, vn, v);
            }
        }
        return result;
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
        var model = new DualEncoderModel(config);
        StateDictLoader.Load(model, weights, $"the {config.Pooling} dual encoder of {Path.Combine(folder, "config.json")}");
        model.eval();
        return model;
    }
}
