using System.Text.Json;
using TorchSharp;
using TorchSharp.Modules;
using VidSeek.Models.Clip.Module;
using VidSeek.Tensors;
using static TorchSharp.torch;

namespace VidSeek.Models.Clip;

/// <summary>Logits and embeddings of a CLIP forward pass.</summary>
/// <param name="LogitsPerImage"><c>[B_img, B_txt]</c> = exp(logit_scale) * cosine.</param>
/// <param name="LogitsPerText"><c>[B_txt, B_img]</c>, the transpose.</param>
/// <param name="TextEmbeds"><c>[B_txt, E]</c>, projected, not normalised.</param>
/// <param name="ImageEmbeds"><c>[B_img, E]</c>, projected, not normalised.</param>
public sealed record ClipOutput(Tensor LogitsPerImage, Tensor LogitsPerText, Tensor TextEmbeds, Tensor ImageEmbeds);

/// <summary>
/// OpenAI CLIP in the Hugging Face <c>CLIPModel</c> layout: field names are the checkpoint keys
/// (<c>text_model.*</c>, <c>vision_model.*</c>, <c>visual_projection.weight</c>, <c>text_projection.weight</c>,
/// <c>logit_scale</c>), so <see cref="FromPretrained"/> is a name lookup.
/// </summary>
public sealed class ClipModel : nn.Module<Tensor, Tensor, ClipOutput>
{
    private readonly ClipTextTransformer text_model;
    private readonly ClipVisionTransformer vision_model;
    private readonly Linear visual_projection;
    private readonly Linear text_projection;
    private readonly Parameter logit_scale;

    public ClipConfig Config { get; }

    /// <summary>Builds the architecture of <paramref name="config"/> with freshly initialised weights.</summary>
    public ClipModel(ClipConfig config) : base(nameof(ClipModel))
    {
        Config = config;
        text_model = new ClipTextTransformer(config.TextConfig);
        vision_model = new ClipVisionTransformer(config.VisionConfig);
        visual_projection = nn.Linear(config.VisionConfig.HiddenSize, config.ProjectionDim, hasBias: false);
        text_projection = nn.Linear(config.TextConfig.HiddenSize, config.ProjectionDim, hasBias: false);
        logit_scale = nn.Parameter(torch.tensor((float)config.LogitScaleInitValue));
        RegisterComponents();
        InitWeights();
    }

    /// <summary>
    /// Hugging Face's CLIP initialisation (<c>CLIPPreTrainedModel._init_weights</c>, factor 1): small normal
    /// embeddings, depth-scaled attention and MLP weights, zero biases, unit LayerNorms. TorchSharp's defaults
    /// (N(0,1) embeddings) drown the image content in the position embedding, which matters when a model is
    /// trained from scratch; loading a checkpoint overwrites all of it.
    /// </summary>
    private void InitWeights()
    {
        using var _ = torch.no_grad();
        foreach (var (name, p) in named_parameters())
        {
            bool vision = name.StartsWith("vision_model.", StringComparison.Ordinal);
            int d = vision ? Config.VisionConfig.HiddenSize : Config.TextConfig.HiddenSize;
            int layers = vision ? Config.VisionConfig.NumHiddenLayers : Config.TextConfig.NumHiddenLayers;
            double inProj = Math.Pow(d, -0.5) * Math.Pow(2 * layers, -0.5), outProj = Math.Pow(d, -0.5);
            string leaf = name[(name.LastIndexOf('.') + 1)..];
            if (name == "logit_scale") continue;
            if (name.Contains("layer_norm") || name.Contains("layrnorm") || name.Contains("layernorm"))
            {
                if (leaf == "weight") p.fill_(Scalars.One); else p.zero_();
            }
            else if (leaf == "bias") p.zero_();
            else if (name.EndsWith("class_embedding", StringComparison.Ordinal)) nn.init.normal_(p, 0, Math.Pow(d, -0.5));
            else if (name.Contains("embedding")) nn.init.normal_(p, 0, 0.02);
            else if (name.Contains("self_attn.out_proj")) nn.init.normal_(p, 0, outProj);
            else if (name.Contains("self_attn.")) nn.init.normal_(p, 0, inProj);
            else if (name.Contains("mlp.fc1")) nn.init.normal_(p, 0, Math.Pow(2 * d, -0.5));
            else if (name.Contains("mlp.fc2")) nn.init.normal_(p, 0, inProj);
            else if (name == "visual_projection.weight") nn.init.normal_(p, 0, Math.Pow(Config.VisionConfig.HiddenSize, -0.5));
            else if (name == "text_projection.weight") nn.init.normal_(p, 0, Math.Pow(Config.TextConfig.HiddenSize, -0.5));
            else throw new InvalidOperationException($"no initialisation rule for {name}");
        }
    }

    public ClipTextTransformer TextModel => text_model;
    public ClipVisionTransformer VisionModel => vision_model;
    public Tensor LogitScale => logit_scale;

    /// <summary>The image size the vision tower takes (224 for ViT-B/32, 32 for the golden tiny model).</summary>
    public int ImageSize => Config.VisionConfig.ImageSize;

    /// <summary>The number of text positions (77 for OpenAI CLIP).</summary>
    public int ContextLength => Config.TextConfig.MaxPositionEmbeddings;

    /// <summary>
    /// Loads a Hugging Face <c>CLIPModel</c> folder: <c>config.json</c> and <c>model.safetensors</c>.
    /// Every key and shape is checked; HF's <c>position_ids</c> buffers are accepted and ignored.
    /// </summary>
    public static ClipModel FromPretrained(string folder)
    {
        if (!Directory.Exists(folder)) throw new VidSeekException($"model folder not found: {folder}");
        var config = ClipConfig.Load(Path.Combine(folder, "config.json"));
        string weights = Path.Combine(folder, "model.safetensors");
        if (!File.Exists(weights))
        {
            string hint = File.Exists(Path.Combine(folder, "pytorch_model.bin"))
                ? " (only pytorch_model.bin is there: VidSeek reads safetensors; download model.safetensors from the same repository)" : "";
            throw new VidSeekException($"model.safetensors not found in {folder}{hint}");
        }
        config.CheckAgainst(Tensors.SafeTensors.ReadHeader(weights), "", Path.Combine(folder, "config.json"), weights); // before building anything
        var model = new ClipModel(config);
        StateDictLoader.Load(model, weights, $"the CLIP architecture of {Path.Combine(folder, "config.json")}", key => key.EndsWith(".position_ids", StringComparison.Ordinal));
        model.eval();
        return model;
    }

    /// <summary>The precision of the towers' matrix multiplications (<see cref="SetPrecision"/>).</summary>
    public Precision Precision { get; private set; } = Precision.Fp32;

    /// <summary>
    /// Inference in <paramref name="precision"/>: for bf16, every Linear (attention, MLP, the two projections) and the
    /// patch convolution hold their weights in bfloat16 and run on bf16 inputs, while LayerNorms, embeddings, the
    /// residual stream and the returned features stay float32 (PyTorch's CPU autocast does the same split: matmuls in
    /// bf16, normalisation in float). Back to fp32 converts the weights back (the bf16 rounding stays: reload for exact
    /// fp32 weights). For inference only: training, saving and loading expect fp32.
    /// </summary>
    public ClipModel SetPrecision(Precision precision)
    {
        if (precision == Precision) return this;
        var dtype = precision.ScalarType();
        foreach (var (_, module) in named_modules())
            if (module is Linear or Conv2d)
                module.to(dtype);
        Precision = precision;
        return this;
    }

    /// <summary>Writes <c>config.json</c> and <c>model.safetensors</c> in the Hugging Face layout.</summary>
    public void SavePretrained(string folder) =>
        PretrainedFolder.Save(folder, this, JsonSerializer.Serialize(Config, new JsonSerializerOptions { WriteIndented = true }));

    /// <summary>Image embeddings <c>[B, E]</c> (projected, not normalised; HF <c>get_image_features</c>) of pixels <c>[B, 3, S, S]</c>.</summary>
    public Tensor GetImageFeatures(Tensor pixelValues)
    {
        using var scope = torch.NewDisposeScope();
        var pooled = vision_model.forward(pixelValues).PooledOutput;
        return visual_projection.forward(pooled.to(visual_projection.weight!.dtype)).to(pooled.dtype).MoveToOuterDisposeScope();
    }

    /// <summary>Text embeddings <c>[B, E]</c> (projected, not normalised; HF <c>get_text_features</c>) of ids <c>[B, N]</c>.</summary>
    public Tensor GetTextFeatures(Tensor inputIds)
    {
        using var scope = torch.NewDisposeScope();
        var pooled = text_model.forward(inputIds).PooledOutput;
        return text_projection.forward(pooled.to(text_projection.weight!.dtype)).to(pooled.dtype).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Frame embeddings <c>[B, F, E]</c> of clips <c>[B, F, 3, S, S]</c>: every frame through the image tower
    /// independently, <paramref name="microBatch"/> frames at a time (large batches run slower per frame on
    /// a CPU; see docs/PERFORMANCE.md).
    /// </summary>
    public Tensor EncodeFrames(Tensor clips, int microBatch = 16)
    {
        if (clips.dim() != 5) throw new ArgumentException($"expected clips [B, F, 3, S, S], got [{string.Join(", ", clips.shape)}]");
        long b = clips.shape[0], f = clips.shape[1];
        using var scope = torch.NewDisposeScope();
        var frames = clips.reshape(b * f, clips.shape[2], clips.shape[3], clips.shape[4]);
        return EncodeImages(frames, microBatch).view(b, f, -1).MoveToOuterDisposeScope();
    }

    /// <summary>Image embeddings <c>[N, E]</c> of pixels <c>[N, 3, S, S]</c>, <paramref name="microBatch"/> images at a time.</summary>
    public Tensor EncodeImages(Tensor pixels, int microBatch = 16)
    {
        using var scope = torch.NewDisposeScope();
        long n = pixels.shape[0];
        var parts = new List<Tensor>();
        for (long i = 0; i < n; i += microBatch)
            parts.Add(GetImageFeatures(pixels.narrow(0, i, Math.Min(microBatch, n - i))));
        return (parts.Count == 1 ? parts[0] : torch.cat(parts, 0)).MoveToOuterDisposeScope();
    }

    /// <summary>Both towers and the scaled cosine logits, as HF <c>CLIPModel.forward</c>.</summary>
    public override ClipOutput forward(Tensor inputIds, Tensor pixelValues)
    {
        using var scope = torch.NewDisposeScope();
        var img = GetImageFeatures(pixelValues);
        var txt = GetTextFeatures(inputIds);
        var imgN = nn.functional.normalize(img, dim: -1);
        var txtN = nn.functional.normalize(txt, dim: -1);
        var logitsPerText = txtN.matmul(imgN.T) * logit_scale.exp();
        var logitsPerImage = logitsPerText.T.contiguous();
        return new ClipOutput(logitsPerImage.MoveToOuterDisposeScope(), logitsPerText.MoveToOuterDisposeScope(),
            txt.MoveToOuterDisposeScope(), img.MoveToOuterDisposeScope());
    }
}
