using VidSeek.Tensors;
using TorchSharp;
using TorchSharp.Modules;
using VidSeek.Models.Clip.Module;
using VidSeek.Models.Vlt.Module;
using static TorchSharp.torch;

namespace VidSeek.Models.Vlt;

/// <summary>What the video encoder returns.</summary>
/// <param name="Tokens"><c>F_V</c>, <c>[B, T, L, D]</c> after the final LayerNorm (L = 1 + patches, class token first): the fusion's video tokens.</param>
/// <param name="FrameVectors"><c>[B, T, D]</c>, <c>frame_layernorm(mean of the frame's patch tokens of F_V)</c>: the per-frame vectors for ITC.</param>
public sealed record VideoEncoderOutput(Tensor Tokens, Tensor FrameVectors);

/// <summary>
/// A ViT over each frame with gated temporal attention after every spatial block. Keys: <c>embeddings.*</c>,
/// <c>pre_layrnorm.*</c>, <c>encoder.layers.{i}.*</c> and <c>post_layernorm.*</c> are those of a CLIP vision tower (so CLIP
/// ViT weights initialise the spatial part by name); <c>temporal_embedding</c>, <c>encoder.temporal.{i}.*</c> and
/// <c>frame_layernorm.*</c> are the video additions. Pixels <c>[B, T, C, S, S]</c> -> <see cref="VideoEncoderOutput"/>.
/// With the temporal embedding and the gates at their initial 0 every frame is encoded exactly as the image ViT would.
/// </summary>
public sealed class VideoEncoder : nn.Module<Tensor, VideoEncoderOutput>
{
    private readonly ClipVisionEmbeddings embeddings;
    private readonly Parameter temporal_embedding; // [max_frames, D]
    private readonly LayerNorm pre_layrnorm; // sic: CLIP's key
    private readonly SpatioTemporalEncoder encoder;
    private readonly LayerNorm post_layernorm;
    private readonly LayerNorm frame_layernorm;

    public VideoEncoderConfig Config { get; }

    /// <summary>Builds the architecture of <paramref name="config"/> with freshly initialised weights.</summary>
    public VideoEncoder(VideoEncoderConfig config) : base(nameof(VideoEncoder))
    {
        config.Validate("video encoder config");
        Config = config;
        embeddings = new ClipVisionEmbeddings(config.ToClipVision());
        temporal_embedding = nn.Parameter(torch.zeros(config.MaxFrames, config.HiddenSize));
        pre_layrnorm = nn.LayerNorm(config.HiddenSize, config.LayerNormEps);
        encoder = new SpatioTemporalEncoder(config);
        post_layernorm = nn.LayerNorm(config.HiddenSize, config.LayerNormEps);
        frame_layernorm = nn.LayerNorm(config.HiddenSize, config.LayerNormEps);
        RegisterComponents();
        InitWeights();
    }

    /// <summary>
    /// CLIP's initialisation for the ViT (as <c>ClipModel</c>: small normal embeddings, depth-scaled attention and MLP
    /// weights, zero biases, unit LayerNorms), the same for the temporal attention. The temporal embedding and the gates
    /// stay 0, so an untrained video encoder is the image encoder applied frame by frame.
    /// </summary>
    private void InitWeights()
    {
        using var _ = torch.no_grad();
        int d = Config.HiddenSize;
        double inProj = Math.Pow(d, -0.5) * Math.Pow(2 * Config.NumHiddenLayers, -0.5), outProj = Math.Pow(d, -0.5);
        foreach (var (name, p) in named_parameters())
        {
            string leaf = name[(name.LastIndexOf('.') + 1)..];
            if (name is "temporal_embedding" || leaf == "gate") p.zero_();
            else if (name.Contains("layer_norm") || name.Contains("layrnorm") || name.Contains("layernorm"))
            {
                if (leaf == "weight") p.fill_(Scalars.One); else p.zero_();
            }
            else if (leaf == "bias") p.zero_();
            else if (name == "embeddings.class_embedding") nn.init.normal_(p, 0, Math.Pow(d, -0.5));
            else if (name.StartsWith("embeddings.", StringComparison.Ordinal)) nn.init.normal_(p, 0, 0.02);
            else if (name.Contains("self_attn.out_proj")) nn.init.normal_(p, 0, outProj);
            else if (name.Contains("self_attn.")) nn.init.normal_(p, 0, inProj);
            else if (name.Contains("mlp.fc1")) nn.init.normal_(p, 0, Math.Pow(2 * d, -0.5));
            else if (name.Contains("mlp.fc2")) nn.init.normal_(p, 0, inProj);
            else throw new InvalidOperationException($"no initialisation rule for {name}");
        }
    }

    /// <summary>The temporal blocks in layer order.</summary>
    public IReadOnlyList<TemporalAttentionBlock> TemporalBlocks => encoder.Temporal;

    /// <summary>
    /// The temporal position embedding for <paramref name="frames"/> frames, <c>[T, D]</c>. Up to <c>max_frames</c> it is
    /// the first T rows (training on fewer frames uses the leading rows, as a checkpoint trained on T frames has them).
    /// Beyond, the <c>max_frames</c> rows are linearly interpolated with the ends aligned: frame t reads position
    /// <c>t * (max_frames - 1) / (T - 1)</c>, so the first and last frames keep the first and last rows.
    /// </summary>
    public Tensor TemporalEmbedding(int frames)
    {
        if (frames <= 0) throw new ArgumentException($"frame count must be positive, got {frames}");
        int m = Config.MaxFrames;
        if (frames <= m) return temporal_embedding.narrow(0, 0, frames);
        using var scope = torch.NewDisposeScope();
        using var count = frames.ToScalar();
        var pos = torch.arange(count, dtype: ScalarType.Float64).Times((m - 1) / (double)(frames - 1));
        using var last = (m - 1).ToScalar();
        var lo = pos.floor().to(ScalarType.Int64).clamp(Scalars.Zero, last);
        var hi = lo.add(Scalars.One).clamp(max: last);
        var w = (pos - lo.to(ScalarType.Float64)).to(temporal_embedding.dtype).unsqueeze(1);   // [T, 1]
        var a = temporal_embedding.index_select(0, lo);
        var b = temporal_embedding.index_select(0, hi);
        return a.Plus((b - a) * w).MoveToOuterDisposeScope();
    }

    /// <param name="pixelValues"><c>[B, T, C, S, S]</c>, any T (see <see cref="TemporalEmbedding"/>).</param>
    public override VideoEncoderOutput forward(Tensor pixelValues)
    {
        if (pixelValues.dim() != 5) throw new ArgumentException($"expected pixel values [B, T, C, S, S], got [{string.Join(", ", pixelValues.shape)}]");
        long b = pixelValues.shape[0], t = pixelValues.shape[1];
        using var scope = torch.NewDisposeScope();
        var frames = pixelValues.reshape(b * t, pixelValues.shape[2], pixelValues.shape[3], pixelValues.shape[4]);
        var tokens = embeddings.forward(frames);                                    // [B*T, L, D]
        long l = tokens.shape[1], d = tokens.shape[2];
        // Added once, beside the spatial position embedding (before pre_layrnorm, as CLIP adds that one).
        var temporal = TemporalEmbedding((int)t).view(1, t, 1, d);
        var x = pre_layrnorm.forward(tokens.view(b, t, l, d).Plus(temporal));
        var fv = post_layernorm.forward(encoder.forward(x));                        // [B, T, L, D]
        var patches = fv.narrow(2, 1, l - 1).mean(new long[] { 2 });                // [B, T, D]
        var frameVectors = frame_layernorm.forward(patches);
        return new VideoEncoderOutput(fv.MoveToOuterDisposeScope(), frameVectors.MoveToOuterDisposeScope());
    }
}
