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
    /// Cosine similarities <c>[T, V]</c> of texts <c>[T, E]</c> against videos' frames <c>[V, F, E]</c>.
    /// Memory grows with T x V x E for X-Pool: for all pairs of a large split use <see cref="SimilarityMatrix"/>.
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
        var pooled = pool.forward(text, frames);                                                 // [V, T, E]
        var s = TextConditionedPooling.Similarity(text, pooled.Pooled);                          // [T, V]
        var weights = pooled.Weights.mean(new long[] { 2 });                                     // [V, T, F]
        return new Similarities(s.MoveToOuterDisposeScope(), weights.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// All-pairs similarities as a row-major <c>float[T * V]</c>, computed in blocks of
    /// <paramref name="textChunk"/> texts x <paramref name="videoChunk"/> videos, so peak memory depends on the
    /// block size and the output, not on T x V x E (X-Pool's reference materialises <c>[V, V, captions, D]</c>).
    /// </summary>
    public float[] SimilarityMatrix(Tensor text, Tensor frames, int textChunk = 512, int videoChunk = 32)
    {
        long t = text.shape[0], v = frames.shape[0];
        var result = new float[t * v];
        using var _ = torch.no_grad();
        for (long v0 = 0; v0 < v; v0 += videoChunk)
        {
            long vn = Math.Min(videoChunk, v - v0);
            for (long t0 = 0; t0 < t; t0 += textChunk)
            {
                long tn = Math.Min(textChunk, t - t0);
                using var scope = torch.NewDisposeScope();
                var block = Similarity(text.narrow(0, t0, tn), frames.narrow(0, v0, vn)).Sims.contiguous(); // [tn, vn]
                var values = block.data<float>().ToArray();
                for (long i = 0; i < tn; i++)
                    Array.Copy(values, i * vn, result, (t0 + i) * v + v0, vn);
            }
        }
        return result;
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
