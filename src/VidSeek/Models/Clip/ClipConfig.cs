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
        // Positive first: the divisibility checks below would divide by zero.
        Check(TextConfig is { VocabSize: > 0, HiddenSize: > 0, IntermediateSize: > 0, NumAttentionHeads: > 0, MaxPositionEmbeddings: > 0 }
            && VisionConfig is { HiddenSize: > 0, IntermediateSize: > 0, NumAttentionHeads: > 0, NumChannels: > 0, ImageSize: > 0, PatchSize: > 0 },
            "sizes (vocab_size, hidden_size, intermediate_size, num_attention_heads, max_position_embeddings, num_channels, image_size, patch_size) must be positive");
        Check(double.IsFinite(LogitScaleInitValue) && double.IsFinite(TextConfig.LayerNormEps) && double.IsFinite(VisionConfig.LayerNormEps),
            "logit_scale_init_value and layer_norm_eps must be finite numbers");
        Check(TextConfig.HiddenSize % TextConfig.NumAttentionHeads == 0, "text_config.hidden_size must be a multiple of text_config.num_attention_heads");
        Check(VisionConfig.HiddenSize % VisionConfig.NumAttentionHeads == 0, "vision_config.hidden_size must be a multiple of vision_config.num_attention_heads");
        Check(VisionConfig.ImageSize % VisionConfig.PatchSize == 0, "vision_config.image_size must be a multiple of vision_config.patch_size");
        Check(TextConfig.HiddenAct is "quick_gelu" or "gelu", $"text_config.hidden_act '{TextConfig.HiddenAct}' is not supported (quick_gelu, gelu)");
        Check(VisionConfig.HiddenAct is "quick_gelu" or "gelu", $"vision_config.hidden_act '{VisionConfig.HiddenAct}' is not supported (quick_gelu, gelu)");
        Check(ProjectionDim > 0 && TextConfig.NumHiddenLayers > 0 && VisionConfig.NumHiddenLayers > 0, "projection_dim and layer counts must be positive");
    }

    /// <summary>
    /// Checks this config against the header of the weights file before any module is built: the header says how many layers
    /// exist and how wide they are, so a config.json claiming <c>num_hidden_layers: 100000</c> or a huge <c>hidden_size</c>
    /// is an error here instead of gigabytes of freshly initialised weights. Key names are Hugging Face's, under
    /// <paramref name="prefix"/> (<c>clip.</c> inside a VidSeek dual encoder).
    /// </summary>
    public void CheckAgainst(Tensors.SafeTensors.Header header, string prefix, string configPath, string weightsPath)
    {
        var shapes = header.Entries.ToDictionary(e => e.Name, e => e.Shape);
        var problems = new List<string>();
        void Shape(string key, params long[] expected)
        {
            if (!shapes.TryGetValue(prefix + key, out var actual)) return; // StateDictLoader lists missing keys
            else if (!actual.SequenceEqual(expected))
                problems.Add($"{prefix + key} is [{string.Join(", ", actual)}] in the weights but the config makes it [{string.Join(", ", expected)}]");
        }
        void Layers(string tower, int configured)
        {
            string layers = $"{prefix}{tower}_model.encoder.layers.";
            int inFile = header.Entries.Select(e => e.Name).Where(n => n.StartsWith(layers, StringComparison.Ordinal))
                .Select(n => n[layers.Length..].Split('.')[0]).Distinct().Count();
            if (inFile != configured) problems.Add($"{tower}_config.num_hidden_layers is {configured} but the weights have {inFile} layers");
        }
        var (t, v) = (TextConfig, VisionConfig);
        Shape("text_model.embeddings.token_embedding.weight", t.VocabSize, t.HiddenSize);
        Shape("text_model.embeddings.position_embedding.weight", t.MaxPositionEmbeddings, t.HiddenSize);
        Shape("text_model.encoder.layers.0.mlp.fc1.weight", t.IntermediateSize, t.HiddenSize);
        Layers("text", t.NumHiddenLayers);
        Shape("vision_model.embeddings.class_embedding", v.HiddenSize);
        Shape("vision_model.embeddings.patch_embedding.weight", v.HiddenSize, v.NumChannels, v.PatchSize, v.PatchSize);
        long side = v.ImageSize / v.PatchSize;
        Shape("vision_model.embeddings.position_embedding.weight", side * side + 1, v.HiddenSize);
        Shape("vision_model.encoder.layers.0.mlp.fc1.weight", v.IntermediateSize, v.HiddenSize);
        Layers("vision", v.NumHiddenLayers);
        Shape("text_projection.weight", ProjectionDim, t.HiddenSize);
        Shape("visual_projection.weight", ProjectionDim, v.HiddenSize);
        // Only a config that would build a model much larger than the file is stopped here; smaller disagreements build a
        // small model and StateDictLoader then names every missing, unexpected and misshapen key.
        static double Tower(double h, double inter, double layers) => layers * (4 * h * h + 2 * h * inter + 9 * h);
        double configured = (double)t.VocabSize * t.HiddenSize + (double)t.MaxPositionEmbeddings * t.HiddenSize + Tower(t.HiddenSize, t.IntermediateSize, t.NumHiddenLayers)
            + (double)v.HiddenSize * v.NumChannels * v.PatchSize * v.PatchSize + ((double)side * side + 1) * v.HiddenSize + Tower(v.HiddenSize, v.IntermediateSize, v.NumHiddenLayers)
            + (double)ProjectionDim * (t.HiddenSize + v.HiddenSize);
        double inFile = header.Entries.Sum(e => (double)e.ElementCount);
        if (problems.Count > 0 && configured > 2 * inFile + 1_000_000)
            throw new VidSeekException($"{configPath} does not match {weightsPath}: {string.Join("; ", problems.Take(4))}{(problems.Count > 4 ? $" ({problems.Count - 4} more)" : "")}");
    }
}
