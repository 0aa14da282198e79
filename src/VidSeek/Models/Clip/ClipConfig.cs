using System.Text.Json;
using System.Text.Json.Serialization;

namespace VidSeek.Models.Clip;

/// <summary>
/// The text tower's part of a Hugging Face <c>CLIPConfig</c> (<c>text_config</c>). Defaults are HF's,
/// which real checkpoints rely on: <c>openai/clip-vit-base-patch32</c> writes only a few fields.
/// </summary>
public sealed record ClipTextConfig
{
    [JsonPropertyName("vocab_size")] public int VocabSize { get; init; } = 49408;
    [JsonPropertyName("hidden_size")] public int HiddenSize { get; init; } = 512;
    [JsonPropertyName("intermediate_size")] public int IntermediateSize { get; init; } = 2048;
    [JsonPropertyName("num_attention_heads")] public int NumAttentionHeads { get; init; } = 8;
    [JsonPropertyName("num_hidden_layers")] public int NumHiddenLayers { get; init; } = 12;
    [JsonPropertyName("max_position_embeddings")] public int MaxPositionEmbeddings { get; init; } = 77;
    [JsonPropertyName("hidden_act")] public string HiddenAct { get; init; } = "quick_gelu";
    [JsonPropertyName("layer_norm_eps")] public double LayerNormEps { get; init; } = 1e-5;
    [JsonPropertyName("pad_token_id")] public int PadTokenId { get; init; } = 1;
    [JsonPropertyName("bos_token_id")] public int BosTokenId { get; init; } = 49406;
    /// <summary>2 in legacy configs (openai/clip-*), meaning "pool at argmax(input_ids)" as HF does.</summary>
    [JsonPropertyName("eos_token_id")] public int EosTokenId { get; init; } = 49407;
}

/// <summary>The vision tower's part of a Hugging Face <c>CLIPConfig</c> (<c>vision_config</c>), HF defaults.</summary>
public sealed record ClipVisionConfig
{
    [JsonPropertyName("hidden_size")] public int HiddenSize { get; init; } = 768;
    [JsonPropertyName("intermediate_size")] public int IntermediateSize { get; init; } = 3072;
    [JsonPropertyName("num_attention_heads")] public int NumAttentionHeads { get; init; } = 12;
    [JsonPropertyName("num_hidden_layers")] public int NumHiddenLayers { get; init; } = 12;
    [JsonPropertyName("num_channels")] public int NumChannels { get; init; } = 3;
    [JsonPropertyName("image_size")] public int ImageSize { get; init; } = 224;
    [JsonPropertyName("patch_size")] public int PatchSize { get; init; } = 32;
    [JsonPropertyName("hidden_act")] public string HiddenAct { get; init; } = "quick_gelu";
    [JsonPropertyName("layer_norm_eps")] public double LayerNormEps { get; init; } = 1e-5;

    [JsonIgnore] public int NumPatches => (ImageSize / PatchSize) * (ImageSize / PatchSize);
}

/// <summary>A Hugging Face <c>CLIPConfig</c> (<c>config.json</c> of a <c>CLIPModel</c> folder).</summary>
public sealed record ClipConfig
{
    [JsonPropertyName("model_type")] public string? ModelType { get; init; } = "clip";
    [JsonPropertyName("projection_dim")] public int ProjectionDim { get; init; } = 512;
    [JsonPropertyName("logit_scale_init_value")] public double LogitScaleInitValue { get; init; } = 2.6592;
    [JsonPropertyName("text_config")] public ClipTextConfig TextConfig { get; init; } = new();
    [JsonPropertyName("vision_config")] public ClipVisionConfig VisionConfig { get; init; } = new();

    private static readonly JsonSerializerOptions Json = new() { ReadCommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true };

    /// <summary>Parses a <c>config.json</c>; errors name the file and what is wrong with it.</summary>
    public static ClipConfig Load(string path)
    {
        if (!File.Exists(path)) throw new VidSeekException($"config.json not found: {path}");
        ClipConfig? config;
        try { config = JsonSerializer.Deserialize<ClipConfig>(File.ReadAllText(path), Json); }
        catch (JsonException e) { throw new VidSeekException($"cannot parse {path}: {e.Message}"); }
        if (config is null) throw new VidSeekException($"cannot parse {path}: empty document");
        if (config.ModelType is not null and not "clip")
            throw new VidSeekException($"{path}: model_type is '{config.ModelType}', expected 'clip' (a Hugging Face CLIPModel folder)");
        config.Validate(path);
        return config;
    }

    /// <summary>Checks the numbers that the architecture needs to be consistent.</summary>
    public void Validate(string source)
    {
        void Check(bool ok, string what) { if (!ok) throw new VidSeekException($"{source}: {what}"); }
        Check(TextConfig.HiddenSize % TextConfig.NumAttentionHeads == 0, "text_config.hidden_size must be a multiple of text_config.num_attention_heads");
        Check(VisionConfig.HiddenSize % VisionConfig.NumAttentionHeads == 0, "vision_config.hidden_size must be a multiple of vision_config.num_attention_heads");
        Check(VisionConfig.ImageSize % VisionConfig.PatchSize == 0, "vision_config.image_size must be a multiple of vision_config.patch_size");
        Check(TextConfig.HiddenAct is "quick_gelu" or "gelu", $"text_config.hidden_act '{TextConfig.HiddenAct}' is not supported (quick_gelu, gelu)");
        Check(VisionConfig.HiddenAct is "quick_gelu" or "gelu", $"vision_config.hidden_act '{VisionConfig.HiddenAct}' is not supported (quick_gelu, gelu)");
        Check(ProjectionDim > 0 && TextConfig.NumHiddenLayers > 0 && VisionConfig.NumHiddenLayers > 0, "projection_dim and layer counts must be positive");
    }
}
