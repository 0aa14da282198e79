using VidSeek.Tensors;
using TorchSharp;
using TorchSharp.Modules;
using VidSeek.Models.Vlt.Module;
using static TorchSharp.torch;

namespace VidSeek.Models.Vlt;

/// <summary>
/// The video-language transformer (SPEC section 3): video encoder (<c>video_encoder.*</c>), BERT text encoder with its
/// fusion layers (<c>text_encoder.*</c>, HF layout), ITC projections <c>proj_v</c> / <c>proj_t</c> (D -> E) and temperature
/// <c>temp</c>, the joint encoder of <see cref="VideoLanguageConfig.Fusion"/> (<c>joint.*</c>) and the ITM head (<c>itm_head.*</c>).
/// ITC ranks with <see cref="ItcSimilarity"/>; the joint encoder and <see cref="ItmLogits"/> re-score pairs.
/// </summary>
public sealed class VideoLanguageModel : nn.Module
{
    private readonly VideoEncoder video_encoder;
    private readonly BertModel text_encoder;
    private readonly Linear proj_v, proj_t;
    private readonly Parameter temp;
    // The ITC temperature's range (rooted scalars: see Tensors/Scalars.cs).
    private static readonly Scalar TemperatureMin = 0.001.ToScalar(), TemperatureMax = 0.5.ToScalar();
    private readonly JointEncoder joint;
    private readonly ItmHead itm_head;

    public VideoLanguageConfig Config { get; }

    /// <summary>Builds the architecture of <paramref name="config"/> with freshly initialised weights.</summary>
    public VideoLanguageModel(VideoLanguageConfig config) : base(nameof(VideoLanguageModel))
    {
        config.Validate("video-language config");
        Config = config;
        video_encoder = new VideoEncoder(config.Video);
        text_encoder = new BertModel(config.TextModelConfig);
        proj_v = nn.Linear(config.Video.HiddenSize, config.EmbedDim);
        proj_t = nn.Linear(config.Text.HiddenSize, config.EmbedDim);
        temp = nn.Parameter(torch.tensor((float)config.Temperature));
        joint = JointEncoder.Create(config);
        itm_head = new ItmHead(config.Text.HiddenSize);
        RegisterComponents();
        foreach (var m in new nn.Module[] { proj_v, proj_t, itm_head }) VltInit.Normal(m, config.Text.InitializerRange);
    }

    /// <summary>The precision of the encoders' matrix multiplications (<see cref="SetPrecision"/>).</summary>
    public Precision Precision { get; private set; } = Precision.Fp32;

    /// <summary>
    /// Inference in <paramref name="precision"/>: for bf16, every Linear and the patch convolution of the video encoder,
    /// the text encoder with its fusion layers, and the joint encoder hold their weights in bfloat16 and run on bf16
    /// inputs (attention through SDPA, whose CPU kernel keeps the softmax in float), while LayerNorms, embeddings, the
    /// residual streams, the temporal gates and the outputs stay float32, as <see cref="Clip.ClipModel.SetPrecision"/>
    /// does for CLIP. The small heads on top (the ITC projections and the ITM head) stay float32: they cost nothing and
    /// feed the scores directly. Back to fp32 converts the weights back (the bf16 rounding stays: reload for exact fp32
    /// weights). For inference only: training, saving and loading expect fp32.
    /// </summary>
    public VideoLanguageModel SetPrecision(Precision precision)
    {
        if (precision == Precision) return this;
        var dtype = precision.ScalarType();
        foreach (var encoder in new nn.Module[] { video_encoder, text_encoder, joint })
            foreach (var (_, module) in encoder.named_modules())
                if (module is Linear or Conv2d)
                    module.to(dtype);
        Precision = precision;
        return this;
    }

    public VideoEncoder VideoEncoder => video_encoder;
    public BertModel TextEncoder => text_encoder;
    public JointEncoder Joint => joint;
    public ItmHead ItmHead => itm_head;

    /// <summary>Pixels <c>[B, T, C, S, S]</c> -> <c>F_V</c> <c>[B, T, L, D]</c> and the per-frame ITC vectors <c>[B, T, D]</c>.</summary>
    public VideoEncoderOutput EncodeVideo(Tensor pixelValues) => video_encoder.forward(pixelValues);

    /// <summary>The unimodal text encoder: ids and mask <c>[B, N]</c> -> <c>F_T</c> <c>[B, N, D]</c>; row 0 is the ITC [CLS].</summary>
    public Tensor EncodeText(Tensor inputIds, Tensor attentionMask) => text_encoder.TextEncoder(inputIds, attentionMask);

    /// <summary>
    /// The ITC temperature, a 0-d tensor in [0.001, 0.5]. The parameter itself is clamped in place first (as ALBEF does):
    /// a clamp in the graph would leave a parameter that strayed outside with no gradient to bring it back.
    /// </summary>
    public Tensor Temperature()
    {
        using (torch.no_grad()) temp.clamp_(TemperatureMin, TemperatureMax);
        return temp.alias();
    }

    /// <summary>The ITC projection of frame vectors <c>[..., D]</c> -> <c>[..., E]</c> (not normalised): what <see cref="ItcSimilarity"/> compares.</summary>
    public Tensor ProjectFrames(Tensor frameVectors) => proj_v.forward(frameVectors);

    /// <summary>The ITC projection of text [CLS] vectors <c>[T, D]</c> -> <c>[T, E]</c> (not normalised).</summary>
    public Tensor ProjectText(Tensor textCls) => proj_t.forward(textCls);

    /// <summary>
    /// ITC similarity: the mean over frames of <c>cosine(proj_t(cls), proj_v(frame_i))</c>, in [-1, 1], not divided by the temperature.
    /// </summary>
    /// <param name="textCls"><c>[Tn, D]</c>, the text [CLS] of <see cref="EncodeText"/>.</param>
    /// <param name="frameVectors"><c>[V, Tf, D]</c>, <see cref="VideoEncoderOutput.FrameVectors"/>.</param>
    /// <returns><c>[Tn, V]</c>.</returns>
    public Tensor ItcSimilarity(Tensor textCls, Tensor frameVectors)
    {
        if (textCls.dim() != 2) throw new ArgumentException($"expected text [CLS] [T, D], got [{string.Join(", ", textCls.shape)}]");
        if (frameVectors.dim() != 3) throw new ArgumentException($"expected frame vectors [V, T, D], got [{string.Join(", ", frameVectors.shape)}]");
        using var scope = torch.NewDisposeScope();
        var t = nn.functional.normalize(proj_t.forward(textCls), dim: -1);                  // [Tn, E]
        var f = nn.functional.normalize(proj_v.forward(frameVectors), dim: -1);             // [V, Tf, E]
        var perFrame = torch.einsum("te,vfe->tvf", t, f);                                   // [Tn, V, Tf]
        return perFrame.mean(new long[] { 2 }).MoveToOuterDisposeScope();
    }

    /// <summary>The fused text [CLS] <c>[B, D]</c> of paired texts and videos (row b with row b).</summary>
    /// <param name="textHidden"><c>F_T</c> <c>[B, N, D]</c> of <see cref="EncodeText"/>.</param>
    /// <param name="textMask"><c>[B, N]</c>.</param>
    /// <param name="videoTokens"><c>F_V</c> <c>[B, T, L, D]</c>.</param>
    public Tensor FusedCls(Tensor textHidden, Tensor textMask, Tensor videoTokens) => joint.FuseCls(text_encoder, textHidden, textMask, videoTokens);

    /// <summary>ITM logits <c>[B, 2]</c> (column 1 = match) of paired texts and videos; arguments as <see cref="FusedCls"/>.</summary>
    public Tensor ItmLogits(Tensor textHidden, Tensor textMask, Tensor videoTokens)
    {
        using var cls = FusedCls(textHidden, textMask, videoTokens);
        return itm_head.forward(cls);
    }

    /// <summary>The ITM score <c>[B]</c>, the logit of "match"; arguments as <see cref="FusedCls"/>.</summary>
    public Tensor MatchScore(Tensor textHidden, Tensor textMask, Tensor videoTokens)
    {
        using var cls = FusedCls(textHidden, textMask, videoTokens);
        return itm_head.MatchLogit(cls);
    }

    /// <summary>Writes <c>model.safetensors</c> + <c>config.json</c> (<see cref="VideoLanguageConfig"/>) into <paramref name="folder"/>.</summary>
    public void Save(string folder) => PretrainedFolder.Save(folder, this, Config.ToJson());

    /// <summary>Loads a folder written by <see cref="Save"/>, in eval mode; every key and shape is checked first.</summary>
    public static VideoLanguageModel Load(string folder)
    {
        if (!Directory.Exists(folder)) throw new VidSeekException($"checkpoint folder not found: {folder}");
        string configPath = Path.Combine(folder, "config.json");
        var config = VideoLanguageConfig.Load(configPath);
        string weights = Path.Combine(folder, "model.safetensors");
        if (!File.Exists(weights)) throw new VidSeekException($"model.safetensors not found in {folder}");
        config.CheckAgainst(Tensors.SafeTensors.ReadHeader(weights), configPath, weights); // before building anything
        var model = new VideoLanguageModel(config);
        StateDictLoader.Load(model, weights, $"the {config.Fusion} video-language model of {configPath}");
        model.eval();
        return model;
    }
}
