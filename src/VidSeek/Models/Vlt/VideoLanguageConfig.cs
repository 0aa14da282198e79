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

    /// <summary>
    /// Checks this config against the header of the weights file before any module is built, as
    /// <see cref="Clip.ClipConfig.CheckAgainst"/> does for dual encoders: the header says how many video and text layers exist and
    /// how wide the projections are, so a <c>config.json</c> claiming <c>num_hidden_layers: 100000</c> or a huge
    /// <c>hidden_size</c> is an error here instead of gigabytes of freshly initialised weights. Only a config that would build a
    /// model much larger than the file is stopped; smaller disagreements build a small model, and the loader then names every
    /// missing, unexpected and misshapen key.
    /// </summary>
    public void CheckAgainst(Tensors.SafeTensors.Header header, string configPath, string weightsPath)
    {
        var shapes = header.Entries.ToDictionary(e => e.Name, e => e.Shape);
        var problems = new List<string>();
        void Shape(string key, params long[] expected)
        {
            if (shapes.TryGetValue(key, out var actual) && !actual.SequenceEqual(expected))
                problems.Add($"{key} is [{string.Join(", ", actual)}] in the weights but the config makes it [{string.Join(", ", expected)}]");
        }
        void Layers(string what, string prefix, int configured)
        {
            int inFile = header.Entries.Select(e => e.Name).Where(n => n.StartsWith(prefix, StringComparison.Ordinal))
                .Select(n => n[prefix.Length..].Split('.')[0]).Distinct().Count();
            if (inFile != configured) problems.Add($"{what} is {configured} but the weights have {inFile} layers");
        }
        var (v, t) = (Video, TextModelConfig);
        Layers("video.num_hidden_layers", "video_encoder.encoder.layers.", v.NumHiddenLayers);
        Layers("text.num_hidden_layers", "text_encoder.encoder.layer.", t.NumHiddenLayers);
        Shape("video_encoder.embeddings.patch_embedding.weight", v.HiddenSize, v.NumChannels, v.PatchSize, v.PatchSize);
        Shape("text_encoder.embeddings.word_embeddings.weight", t.VocabSize, t.HiddenSize);
        Shape("text_encoder.embeddings.position_embeddings.weight", t.MaxPositionEmbeddings, t.HiddenSize);
        Shape("video_encoder.encoder.layers.0.mlp.fc1.weight", v.IntermediateSize, v.HiddenSize);
        Shape("text_encoder.encoder.layer.0.intermediate.dense.weight", t.IntermediateSize, t.HiddenSize);
        Shape("proj_v.weight", EmbedDim, v.HiddenSize);
        Shape("proj_t.weight", EmbedDim, Text.HiddenSize);
        // Parameters the config would build, roughly: attention and MLP per layer (a fusion layer's cross-attention counted
        // once more), embeddings and projections. An estimate within a factor of two is all the gate needs.
        static double Layer(double h, double inter) => 4 * h * h + 2 * h * inter + 9 * h;
        double side = v.ImageSize / Math.Max(1, v.PatchSize);
        double configured = (double)v.NumHiddenLayers * (Layer(v.HiddenSize, v.IntermediateSize) + 4.0 * v.HiddenSize * v.HiddenSize)
            + (double)v.HiddenSize * v.NumChannels * v.PatchSize * v.PatchSize + (side * side + 1) * v.HiddenSize
            + (double)Text.NumHiddenLayers * Layer(Text.HiddenSize, Text.IntermediateSize)
            + (double)Text.FusionLayerCount() * 4.0 * Text.HiddenSize * Math.Max(Text.HiddenSize, Text.VideoWidth)
            + ((double)Text.VocabSize + Text.MaxPositionEmbeddings) * Text.HiddenSize
            + (double)EmbedDim * (v.HiddenSize + Text.HiddenSize);
        double inFile = header.Entries.Sum(e => (double)e.ElementCount);
        if (problems.Count > 0 && configured > 2 * inFile + 1_000_000)
            throw new VidSeekException($"{configPath} does not match {weightsPath}: {string.Join("; ", problems.Take(4))}{(problems.Count > 4 ? $" ({problems.Count - 4} more)" : "")}");
    }

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
