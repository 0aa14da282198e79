using System.Text.Json;
using System.Text.Json.Serialization;

namespace VidSeek.Models.Vlt;

/// <summary>
/// A Hugging Face <c>BertConfig</c> (<c>config.json</c> of a <c>BertModel</c> folder) plus the two fields of
/// VindLU/ALBEF's "xbert" that add cross-attention: <c>fusion_layer</c> and <c>encoder_width</c>.
/// Defaults are HF's (BERT-base), so a checkpoint that writes only some fields reads as HF would read it.
/// </summary>
public sealed record BertConfig
{
    [JsonPropertyName("model_type")] public string? ModelType { get; init; } = "bert";
    [JsonPropertyName("vocab_size")] public int VocabSize { get; init; } = 30522;
    [JsonPropertyName("hidden_size")] public int HiddenSize { get; init; } = 768;
    [JsonPropertyName("num_hidden_layers")] public int NumHiddenLayers { get; init; } = 12;
    [JsonPropertyName("num_attention_heads")] public int NumAttentionHeads { get; init; } = 12;
    [JsonPropertyName("intermediate_size")] public int IntermediateSize { get; init; } = 3072;
    /// <summary><c>gelu</c> is the exact erf form, as in BERT.</summary>
    [JsonPropertyName("hidden_act")] public string HiddenAct { get; init; } = "gelu";
    [JsonPropertyName("max_position_embeddings")] public int MaxPositionEmbeddings { get; init; } = 512;
    [JsonPropertyName("type_vocab_size")] public int TypeVocabSize { get; init; } = 2;
    [JsonPropertyName("layer_norm_eps")] public double LayerNormEps { get; init; } = 1e-12;
    /// <summary>Recorded for HF compatibility only: VidSeek masks padding by the attention mask, never by id.</summary>
    [JsonPropertyName("pad_token_id")] public int PadTokenId { get; init; } = 0;
    /// <summary>Standard deviation of the initial weights when training from scratch.</summary>
    [JsonPropertyName("initializer_range")] public double InitializerRange { get; init; } = 0.02;
    /// <summary>Only <c>absolute</c> is supported; HF's relative variants would need other weights.</summary>
    [JsonPropertyName("position_embedding_type")] public string PositionEmbeddingType { get; init; } = "absolute";

    /// <summary>
    /// Index of the first layer with cross-attention; layers below it are the text-only encoder.
    /// Absent (a plain BERT checkpoint) means no fusion layers: <see cref="NumHiddenLayers"/>.
    /// </summary>
    [JsonPropertyName("fusion_layer"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? FusionLayer { get; init; }

    /// <summary>Width of the video tokens the cross-attention reads; absent means <see cref="HiddenSize"/>.</summary>
    [JsonPropertyName("encoder_width"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? EncoderWidth { get; init; }

    /// <summary>Number of text-only layers (the first fusion layer's index).</summary>
    [JsonIgnore] public int TextLayers => FusionLayer ?? NumHiddenLayers;

    /// <summary>Width of the video tokens.</summary>
    [JsonIgnore] public int VideoWidth => EncoderWidth ?? HiddenSize;

    /// <summary>Layers with cross-attention (the fusion layers): <c>num_hidden_layers - fusion_layer</c>, at least 0.</summary>
    public int FusionLayerCount() => Math.Max(0, NumHiddenLayers - TextLayers);

    private static readonly JsonSerializerOptions Json = new() { ReadCommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true };

    /// <summary>Parses a <c>config.json</c>; errors name the file and what is wrong with it.</summary>
    public static BertConfig Load(string path)
    {
        if (!File.Exists(path)) throw new VidSeekException($"config.json not found: {path}");
        BertConfig? config;
        try { config = JsonSerializer.Deserialize<BertConfig>(File.ReadAllText(path), Json); }
        catch (JsonException e) { throw new VidSeekException($"cannot parse {path}: {e.Message}"); }
        if (config is null) throw new VidSeekException($"cannot parse {path}: empty document");
        if (config.ModelType is not null and not "bert")
            throw new VidSeekException($"{path}: model_type is '{config.ModelType}', expected 'bert' (a Hugging Face BertModel folder)");
        config.Validate(path);
        return config;
    }

    /// <summary>Checks the numbers that the architecture needs to be consistent.</summary>
    public void Validate(string source)
    {
        void Check(bool ok, string what) { if (!ok) throw new VidSeekException($"{source}: {what}"); }
        Check(VocabSize > 0 && HiddenSize > 0 && IntermediateSize > 0 && NumHiddenLayers > 0 && NumAttentionHeads > 0,
            "vocab_size, hidden_size, intermediate_size, num_hidden_layers and num_attention_heads must be positive");
        Check(HiddenSize % NumAttentionHeads == 0, "hidden_size must be a multiple of num_attention_heads");
        Check(MaxPositionEmbeddings > 0 && TypeVocabSize > 0, "max_position_embeddings and type_vocab_size must be positive");
        Check(LayerNormEps > 0, "layer_norm_eps must be positive");
        Check(HiddenAct is "gelu" or "quick_gelu", $"hidden_act '{HiddenAct}' is not supported (gelu, quick_gelu)");
        Check(PositionEmbeddingType == "absolute", $"position_embedding_type '{PositionEmbeddingType}' is not supported (absolute)");
        Check(TextLayers >= 0 && TextLayers <= NumHiddenLayers, $"fusion_layer {FusionLayer} must lie in 0..num_hidden_layers ({NumHiddenLayers})");
        Check(VideoWidth > 0, "encoder_width must be positive");
    }
}
