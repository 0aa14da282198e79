using System.Text.Json;
using System.Text.Json.Serialization;

namespace VidSeek.Models.Vlt;

/// <summary>
/// Architecture of a <see cref="VideoLanguageModel"/>: the two encoders, the ITC space, and the joint encoder variant.
/// </summary>
public sealed record VideoLanguageConfig
{
    /// <summary>Marks a VidSeek VLT checkpoint folder, so a CLIP or dual-encoder folder is refused by name, not by key lists.</summary>
    [JsonPropertyName("model_type")] public string ModelType { get; init; } = "vidseek-vlt";
    [JsonPropertyName("video")] public VideoEncoderConfig Video { get; init; } = VideoEncoderPresets.VitB16;
    /// <summary>The BERT text encoder; its layers from <c>fusion_layer</c> on are the n_fusion fusion layers.</summary>
    [JsonPropertyName("text")] public BertConfig Text { get; init; } = BertPresets.Base;
    [JsonPropertyName("fusion")] public FusionKind Fusion { get; init; } = FusionKind.T2V2T;
    /// <summary>E, the width of the ITC space of <c>proj_v</c> and <c>proj_t</c>.</summary>
    [JsonPropertyName("embed_dim")] public int EmbedDim { get; init; } = 256;
    /// <summary>n_t2v, the T2V layers of the two T2V2T variants.</summary>
    [JsonPropertyName("t2v_layers")] public int T2VLayers { get; init; } = 1;
    /// <summary>Initial ITC temperature (ALBEF/VindLU's 0.07); it is learned and clamped to [0.001, 0.5].</summary>
    [JsonPropertyName("temperature")] public double Temperature { get; init; } = 0.07;
    /// <summary>
    /// The text encoder's tokenizer, whose files sit beside the weights: <c>clip-bpe</c> (<c>vocab.json</c> + <c>merges.txt</c>)
    /// or <c>wordpiece</c> (BERT's <c>vocab.txt</c> + <c>tokenizer_config.json</c>). Absent in checkpoints written before it
    /// existed, which all used the CLIP BPE.
    /// </summary>
    [JsonPropertyName("tokenizer"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Tokenizer { get; init; }

    /// <summary>n_fusion: the BERT layers from <c>fusion_layer</c> on (self-attention layers instead, in that variant).</summary>
    [JsonIgnore] public int FusionLayers => Text.NumHiddenLayers - Text.TextLayers;

    /// <summary>
    /// The BERT model to build: as configured, except for self-attention fusion, where the fusion layers are replaced
    /// by the joint encoder's own and the BERT model keeps only its text-only layers.
    /// </summary>
    [JsonIgnore] public BertConfig TextModelConfig => Fusion == FusionKind.SelfAttention
        ? Text with { NumHiddenLayers = Text.TextLayers, FusionLayer = null } : Text;

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, ReadCommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>Parses and validates the <c>config.json</c> of a VLT folder; errors name the file.</summary>
    public static VideoLanguageConfig Load(string path)
    {
        if (!File.Exists(path)) throw new VidSeekException($"config.json not found: {path}");
        VideoLanguageConfig? config;
        try { config = JsonSerializer.Deserialize<VideoLanguageConfig>(File.ReadAllText(path), Json); }
        catch (JsonException e) { throw new VidSeekException($"cannot parse {path}: {e.Message}"); }
        if (config is null || config.ModelType != "vidseek-vlt")
            throw new VidSeekException($"{path} is not a VidSeek video-language checkpoint config (model_type '{config?.ModelType}')");
        config.Validate(path);
        return config;
    }

    /// <summary>Checks each part and that the widths fit together for the chosen variant.</summary>
    public void Validate(string source)
    {
        void Check(bool ok, string what) { if (!ok) throw new VidSeekException($"{source}: {what}"); }
        Video.Validate($"{source} (video)");
        Text.Validate($"{source} (text)");
        Check(EmbedDim > 0, "embed_dim must be positive");
        Check(Tokenizer is null or "clip-bpe" or "wordpiece", $"tokenizer '{Tokenizer}' is not supported (clip-bpe, wordpiece)");
        Check(Temperature is >= 0.001 and <= 0.5, "temperature must lie in [0.001, 0.5]");
        Check(FusionLayers > 0, "the text config needs fusion layers (fusion_layer < num_hidden_layers)");
        Check(Fusion != FusionKind.SelfAttention || Text.TextLayers > 0, "self-attention fusion needs at least one text-only layer");
        Check(Fusion is not (FusionKind.NaiveT2V2T or FusionKind.T2V2T) || T2VLayers > 0, "t2v_layers must be positive for the T2V2T variants");
        Check(Fusion == FusionKind.SelfAttention || Text.VideoWidth == Video.HiddenSize,
            $"the fusion layers read video tokens of width {Text.VideoWidth} (encoder_width) but the video encoder's is {Video.HiddenSize}");
        // T2V mixes text and frame tokens in one attention, self-attention fusion in one sequence: one width for both.
        Check(Fusion == FusionKind.V2T || Text.HiddenSize == Video.HiddenSize,
            $"{Fusion} needs the text and video widths equal, got {Text.HiddenSize} and {Video.HiddenSize}");
    }
}

/// <summary>Named video-language architectures.</summary>
public static class VideoLanguagePresets
{
    /// <summary>For Shapes on a CPU: <see cref="VideoEncoderPresets.ShapesSmall"/>, <see cref="BertPresets.ShapesSmall"/> (2 text + 2 fusion layers), E = 128.</summary>
    public static VideoLanguageConfig ShapesSmall(FusionKind fusion) => new()
    {
        Video = VideoEncoderPresets.ShapesSmall, Text = BertPresets.ShapesSmall, Fusion = fusion, EmbedDim = 128,
    };

    /// <summary>
    /// VindLU-B sizes (VindLU's <c>configs/model.py</c>: <c>bert-base-uncased</c> with <c>fusion_layer=9</c>, a ViT-B/16 at 224 px,
    /// <c>embed_dim=256</c>, temperature 0.07): ViT-B/16 video encoder with CLIP's activation and LayerNorm epsilon (so
    /// <c>openai/clip-vit-base-patch16</c> initialises it), BERT-base (9 text + 3 fusion layers, WordPiece vocabulary of 30522), E = 256.
    /// </summary>
    public static VideoLanguageConfig VindluB(FusionKind fusion) => new()
    {
        Video = VideoEncoderPresets.VitB16, Text = BertPresets.Base, Fusion = fusion, EmbedDim = 256,
    };

    /// <summary>The same as <see cref="VindluB"/> (its earlier name).</summary>
    public static VideoLanguageConfig Base(FusionKind fusion) => VindluB(fusion);

    public static IReadOnlyDictionary<string, Func<FusionKind, VideoLanguageConfig>> All { get; } = new Dictionary<string, Func<FusionKind, VideoLanguageConfig>>
    {
        ["shapes-small"] = ShapesSmall,
        ["vindlu-b"] = VindluB,
        ["base"] = Base,
    };

    /// <summary>A preset name with the chosen fusion, or a VLT <c>config.json</c> (whose fusion <paramref name="fusion"/> replaces).</summary>
    public static VideoLanguageConfig Resolve(string nameOrFile, FusionKind fusion)
    {
        var config = All.TryGetValue(nameOrFile, out var make) ? make(fusion)
            : File.Exists(nameOrFile) ? VideoLanguageConfig.Load(nameOrFile) with { Fusion = fusion }
            : throw new VidSeekException($"--vlt-config '{nameOrFile}' is neither a preset ({string.Join(", ", All.Keys)}) nor a config.json file");
        config.Validate(nameOrFile);
        return config;
    }
}
