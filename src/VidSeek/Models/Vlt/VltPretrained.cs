using System.Text.Json;
using TorchSharp;
using VidSeek.Models.Clip;
using VidSeek.Tensors;
using static TorchSharp.torch;

namespace VidSeek.Models.Vlt;

/// <summary>
/// Starts a <see cref="VideoLanguageModel"/> from pretrained encoders, as VindLU starts from <c>bert-base-uncased</c> and an
/// image ViT: a Hugging Face BERT folder (<c>BertModel</c>, or <c>BertForMaskedLM</c>/<c>BertForPreTraining</c> with their
/// <c>bert.</c> prefix and <c>cls.*</c> heads) initialises the text encoder and the fusion layers, a Hugging Face CLIP folder
/// (<c>CLIPModel</c> or <c>CLIPVisionModel</c>, keys <c>vision_model.*</c>) the spatial part of the video encoder.
/// </summary>
/// <remarks>
/// <para>Text: BERT layer i initialises VLT text layer i. As in VindLU/ALBEF, the first <c>num_hidden_layers - n_fusion</c> layers
/// are the text encoder and the remaining ones are the fusion layers, whose cross-attention (<c>crossattention.*</c>) starts new;
/// with self-attention fusion, BERT's remaining layers initialise the joint encoder's layers (<c>joint.layer.{i - fusion_layer}</c>)
/// instead. A checkpoint without a pooler (<c>BertForMaskedLM</c>) leaves <c>text_encoder.pooler</c> new (the VLT does not use it).</para>
/// <para>Video: the patch embedding, class token, position embedding, <c>pre_layrnorm</c>, every layer's attention and MLP and
/// <c>post_layernorm</c> come from the ViT; the temporal blocks (gate 0), the temporal embedding (0) and <c>frame_layernorm</c>
/// start new, so the initial video encoder is the image ViT applied to each frame.</para>
/// <para>The projections, temperature, T2V layers and ITM head always start new.</para>
/// </remarks>
public static class VltPretrained
{
    /// <summary>A BERT folder: its config, weights file and the prefix its keys carry (<c>""</c> or <c>"bert."</c>).</summary>
    public sealed record TextSource(string Folder, string ConfigPath, string WeightsPath, BertConfig Config, string Prefix);

    /// <summary>A CLIP folder (<c>CLIPModel</c> or <c>CLIPVisionModel</c>): the vision tower's config and the weights file.</summary>
    public sealed record VisionSource(string Folder, string ConfigPath, string WeightsPath, ClipVisionConfig Config);

    /// <summary>What <see cref="Load"/> copied: the VLT keys filled from each source.</summary>
    public sealed record Report(IReadOnlyList<string> FromText, IReadOnlyList<string> FromVision);

    // ---- Key tables. Source key -> VLT key; "{i}" is a layer index, "{L}" the VLT layer that source layer i becomes. ----

    /// <summary>HF <c>BertModel</c> keys (a <c>bert.</c> prefix removed first) -> VLT keys.</summary>
    private static readonly (string From, string To)[] TextKeys =
    [
        ("embeddings.word_embeddings.weight",                   "text_encoder.embeddings.word_embeddings.weight"),
        ("embeddings.position_embeddings.weight",               "text_encoder.embeddings.position_embeddings.weight"),
        ("embeddings.token_type_embeddings.weight",             "text_encoder.embeddings.token_type_embeddings.weight"),
        ("embeddings.LayerNorm.weight",                         "text_encoder.embeddings.LayerNorm.weight"),
        ("embeddings.LayerNorm.bias",                           "text_encoder.embeddings.LayerNorm.bias"),
        ("encoder.layer.{i}.attention.self.query.weight",       "{L}.attention.self.query.weight"),
        ("encoder.layer.{i}.attention.self.query.bias",         "{L}.attention.self.query.bias"),
        ("encoder.layer.{i}.attention.self.key.weight",         "{L}.attention.self.key.weight"),
        ("encoder.layer.{i}.attention.self.key.bias",           "{L}.attention.self.key.bias"),
        ("encoder.layer.{i}.attention.self.value.weight",       "{L}.attention.self.value.weight"),
        ("encoder.layer.{i}.attention.self.value.bias",         "{L}.attention.self.value.bias"),
        ("encoder.layer.{i}.attention.output.dense.weight",     "{L}.attention.output.dense.weight"),
        ("encoder.layer.{i}.attention.output.dense.bias",       "{L}.attention.output.dense.bias"),
        ("encoder.layer.{i}.attention.output.LayerNorm.weight", "{L}.attention.output.LayerNorm.weight"),
        ("encoder.layer.{i}.attention.output.LayerNorm.bias",   "{L}.attention.output.LayerNorm.bias"),
        ("encoder.layer.{i}.intermediate.dense.weight",         "{L}.intermediate.dense.weight"),
        ("encoder.layer.{i}.intermediate.dense.bias",           "{L}.intermediate.dense.bias"),
        ("encoder.layer.{i}.output.dense.weight",               "{L}.output.dense.weight"),
        ("encoder.layer.{i}.output.dense.bias",                 "{L}.output.dense.bias"),
        ("encoder.layer.{i}.output.LayerNorm.weight",           "{L}.output.LayerNorm.weight"),
        ("encoder.layer.{i}.output.LayerNorm.bias",             "{L}.output.LayerNorm.bias"),
        ("pooler.dense.weight",                                 "text_encoder.pooler.dense.weight"),   // absent in BertForMaskedLM
        ("pooler.dense.bias",                                   "text_encoder.pooler.dense.bias"),
    ];

    /// <summary>HF <c>CLIPModel</c>/<c>CLIPVisionModel</c> vision keys -> VLT keys; {L} is <c>video_encoder.encoder.layers.{i}</c>.</summary>
    private static readonly (string From, string To)[] VisionKeys =
    [
        ("vision_model.embeddings.class_embedding",               "video_encoder.embeddings.class_embedding"),
        ("vision_model.embeddings.patch_embedding.weight",        "video_encoder.embeddings.patch_embedding.weight"),
        ("vision_model.embeddings.position_embedding.weight",     "video_encoder.embeddings.position_embedding.weight"),
        ("vision_model.pre_layrnorm.weight",                      "video_encoder.pre_layrnorm.weight"),
        ("vision_model.pre_layrnorm.bias",                        "video_encoder.pre_layrnorm.bias"),
        ("vision_model.encoder.layers.{i}.layer_norm1.weight",    "{L}.layer_norm1.weight"),
        ("vision_model.encoder.layers.{i}.layer_norm1.bias",      "{L}.layer_norm1.bias"),
        ("vision_model.encoder.layers.{i}.self_attn.q_proj.weight", "{L}.self_attn.q_proj.weight"),
        ("vision_model.encoder.layers.{i}.self_attn.q_proj.bias", "{L}.self_attn.q_proj.bias"),
        ("vision_model.encoder.layers.{i}.self_attn.k_proj.weight", "{L}.self_attn.k_proj.weight"),
        ("vision_model.encoder.layers.{i}.self_attn.k_proj.bias", "{L}.self_attn.k_proj.bias"),
        ("vision_model.encoder.layers.{i}.self_attn.v_proj.weight", "{L}.self_attn.v_proj.weight"),
        ("vision_model.encoder.layers.{i}.self_attn.v_proj.bias", "{L}.self_attn.v_proj.bias"),
        ("vision_model.encoder.layers.{i}.self_attn.out_proj.weight", "{L}.self_attn.out_proj.weight"),
        ("vision_model.encoder.layers.{i}.self_attn.out_proj.bias", "{L}.self_attn.out_proj.bias"),
        ("vision_model.encoder.layers.{i}.layer_norm2.weight",    "{L}.layer_norm2.weight"),
        ("vision_model.encoder.layers.{i}.layer_norm2.bias",      "{L}.layer_norm2.bias"),
        ("vision_model.encoder.layers.{i}.mlp.fc1.weight",        "{L}.mlp.fc1.weight"),
        ("vision_model.encoder.layers.{i}.mlp.fc1.bias",          "{L}.mlp.fc1.bias"),
        ("vision_model.encoder.layers.{i}.mlp.fc2.weight",        "{L}.mlp.fc2.weight"),
        ("vision_model.encoder.layers.{i}.mlp.fc2.bias",          "{L}.mlp.fc2.bias"),
        ("vision_model.post_layernorm.weight",                    "video_encoder.post_layernorm.weight"),
        ("vision_model.post_layernorm.bias",                      "video_encoder.post_layernorm.bias"),
    ];

    /// <summary>Keys a BERT checkpoint may carry that the VLT has no use for: the MLM/NSP heads and HF's index buffers.</summary>
    private static bool IgnorableText(string key) =>
        key.StartsWith("cls.", StringComparison.Ordinal) || key.EndsWith(".position_ids", StringComparison.Ordinal) || key.EndsWith(".token_type_ids", StringComparison.Ordinal);

    /// <summary>Keys a CLIP checkpoint carries beside the vision tower: the text tower, the projections, the logit scale, buffers.</summary>
    private static bool IgnorableVision(string key) =>
        key.StartsWith("text_model.", StringComparison.Ordinal) || key is "text_projection.weight" or "visual_projection.weight" or "logit_scale"
        || key.EndsWith(".position_ids", StringComparison.Ordinal);

    /// <summary>Source keys that may be absent (the VLT keeps its fresh initialisation there).</summary>
    private static bool Optional(string sourceKey) => sourceKey.StartsWith("pooler.", StringComparison.Ordinal);

    // ---- Opening the sources. ----

    /// <summary>Reads a BERT folder's config and weights header; the key layout (with or without <c>bert.</c>) is detected from the keys.</summary>
    public static TextSource OpenText(string folder)
    {
        string configPath = Path.Combine(folder, "config.json");
        var config = BertConfig.Load(configPath);
        string weights = WeightsFile(folder, allowLegacyName: true);
        var keys = SafeTensors.ReadHeader(weights).Entries.Select(e => e.Name).ToList();
        string prefix = keys.Any(k => k.StartsWith("bert.embeddings.", StringComparison.Ordinal)) ? "bert."
            : keys.Any(k => k.StartsWith("embeddings.", StringComparison.Ordinal)) ? ""
            : throw new VidSeekException($"{weights} is not a BERT checkpoint: it has neither embeddings.* (BertModel) nor bert.embeddings.* (BertForMaskedLM) keys");
        return new TextSource(folder, configPath, weights, config, prefix);
    }

    /// <summary>Reads a CLIP folder's vision config (<c>CLIPModel</c>: <c>vision_config</c>; <c>CLIPVisionModel</c>: the top level) and weights header.</summary>
    public static VisionSource OpenVision(string folder)
    {
        string configPath = Path.Combine(folder, "config.json");
        if (!File.Exists(configPath)) throw new VidSeekException($"config.json not found: {configPath}");
        string? type;
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(configPath), new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
            type = doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("model_type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
        }
        catch (JsonException e) { throw new VidSeekException($"cannot parse {configPath}: {e.Message}"); }
        ClipVisionConfig vision = type switch
        {
            "clip" => ClipConfig.Load(configPath).VisionConfig,
            "clip_vision_model" => ParseVisionConfig(configPath),
            _ => throw new VidSeekException($"{configPath}: model_type is '{type}', expected 'clip' (CLIPModel) or 'clip_vision_model' (CLIPVisionModel)"),
        };
        string weights = WeightsFile(folder, allowLegacyName: false);
        if (!SafeTensors.ReadHeader(weights).Entries.Any(e => e.Name.StartsWith("vision_model.", StringComparison.Ordinal)))
            throw new VidSeekException($"{weights} has no vision_model.* keys (a Hugging Face CLIPModel or CLIPVisionModel checkpoint)");
        return new VisionSource(folder, configPath, weights, vision);
    }

    private static ClipVisionConfig ParseVisionConfig(string path)
    {
        ClipVisionConfig? c;
        try { c = JsonSerializer.Deserialize<ClipVisionConfig>(File.ReadAllText(path), new JsonSerializerOptions { ReadCommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true }); }
        catch (JsonException e) { throw new VidSeekException($"cannot parse {path}: {e.Message}"); }
        if (c is null) throw new VidSeekException($"cannot parse {path}: empty document");
        return c;
    }

    private static string WeightsFile(string folder, bool allowLegacyName)
    {
        var names = allowLegacyName ? new[] { "model.safetensors", "weights.safetensors" } : ["model.safetensors"];
        return names.Select(n => Path.Combine(folder, n)).FirstOrDefault(File.Exists)
            ?? throw new VidSeekException($"model.safetensors not found in {folder}");
    }

    // ---- The architecture. ----

    /// <summary>
    /// The VLT architecture: <paramref name="baseConfig"/> with the encoders' sizes taken from the sources where given. The
    /// number of fusion layers, the ITC width, T2V layers, temperature and <c>max_frames</c> stay the base's; the text encoder's
    /// <c>fusion_layer</c> becomes <c>num_hidden_layers - n_fusion</c>, and (unless the base was chosen explicitly)
    /// <c>encoder_width</c> the video width.
    /// </summary>
    /// <param name="explicitBase">The <c>--vlt-config</c> the user named, or null when the base is the default. When named, every
    /// size the sources define must equal the base's; a difference is an error that names the key.</param>
    public static VideoLanguageConfig Derive(VideoLanguageConfig baseConfig, string? explicitBase, TextSource? text, VisionSource? vision)
    {
        var video = baseConfig.Video;
        var bert = baseConfig.Text;
        if (vision is not null)
        {
            var v = vision.Config;
            if (explicitBase is not null)
                Agree(vision.ConfigPath, explicitBase, "video",
                [
                    ("image_size", v.ImageSize, video.ImageSize), ("patch_size", v.PatchSize, video.PatchSize), ("num_channels", v.NumChannels, video.NumChannels),
                    ("hidden_size", v.HiddenSize, video.HiddenSize), ("num_hidden_layers", v.NumHiddenLayers, video.NumHiddenLayers),
                    ("num_attention_heads", v.NumAttentionHeads, video.NumAttentionHeads), ("intermediate_size", v.IntermediateSize, video.IntermediateSize),
                    ("hidden_act", v.HiddenAct, video.HiddenAct), ("layer_norm_eps", v.LayerNormEps, video.LayerNormEps),
                ]);
            video = video with
            {
                ImageSize = v.ImageSize, PatchSize = v.PatchSize, NumChannels = v.NumChannels, HiddenSize = v.HiddenSize, NumHiddenLayers = v.NumHiddenLayers,
                NumAttentionHeads = v.NumAttentionHeads, IntermediateSize = v.IntermediateSize, HiddenAct = v.HiddenAct, LayerNormEps = v.LayerNormEps,
            };
        }
        if (text is not null)
        {
            var s = text.Config;
            if (explicitBase is not null)
                Agree(text.ConfigPath, explicitBase, "text",
                [
                    ("vocab_size", s.VocabSize, bert.VocabSize), ("hidden_size", s.HiddenSize, bert.HiddenSize), ("num_hidden_layers", s.NumHiddenLayers, bert.NumHiddenLayers),
                    ("num_attention_heads", s.NumAttentionHeads, bert.NumAttentionHeads), ("intermediate_size", s.IntermediateSize, bert.IntermediateSize),
                    ("hidden_act", s.HiddenAct, bert.HiddenAct), ("max_position_embeddings", s.MaxPositionEmbeddings, bert.MaxPositionEmbeddings),
                    ("type_vocab_size", s.TypeVocabSize, bert.TypeVocabSize), ("layer_norm_eps", s.LayerNormEps, bert.LayerNormEps),
                ]);
            int fusion = baseConfig.FusionLayers;
            if (s.NumHiddenLayers <= fusion)
                throw new VidSeekException($"{text.ConfigPath}: num_hidden_layers is {s.NumHiddenLayers}, which leaves no text-only layer beside the {fusion} fusion layers");
            bert = bert with
            {
                VocabSize = s.VocabSize, HiddenSize = s.HiddenSize, NumHiddenLayers = s.NumHiddenLayers, NumAttentionHeads = s.NumAttentionHeads,
                IntermediateSize = s.IntermediateSize, HiddenAct = s.HiddenAct, MaxPositionEmbeddings = s.MaxPositionEmbeddings, TypeVocabSize = s.TypeVocabSize,
                LayerNormEps = s.LayerNormEps, PadTokenId = s.PadTokenId, InitializerRange = s.InitializerRange, PositionEmbeddingType = s.PositionEmbeddingType,
                FusionLayer = s.NumHiddenLayers - fusion,
            };
        }
        if (explicitBase is null) bert = bert with { EncoderWidth = video.HiddenSize };
        var config = baseConfig with { Video = video, Text = bert };
        config.Validate(explicitBase is null ? "the architecture derived from --init-text/--init-vision" : $"--vlt-config {explicitBase} with --init-text/--init-vision");
        return config;
    }

    private static void Agree(string sourceConfig, string baseName, string part, (string Key, object Source, object Base)[] pairs)
    {
        foreach (var (key, source, value) in pairs)
            if (!source.Equals(value))
                throw new VidSeekException($"{sourceConfig}: {key} is {Show(source)}, but --vlt-config {baseName} has {part}.{key} = {Show(value)} "
                    + "(leave out --vlt-config to take the encoders' sizes from the checkpoints)");
    }

    private static string Show(object v) => v is double d ? d.ToString("R", System.Globalization.CultureInfo.InvariantCulture) : v is string s ? $"'{s}'" : $"{v}";

    // ---- The weights. ----

    /// <summary>
    /// Copies the sources' weights into <paramref name="model"/> (built from <see cref="Derive"/>'s config), through the key
    /// tables. Every source key is either mapped or known to be unused; a missing, unexpected or misshapen key is an error that
    /// names it, and nothing is copied unless every key checks out.
    /// </summary>
    public static Report Load(VideoLanguageModel model, TextSource? text, VisionSource? vision)
    {
        var targets = model.state_dict();
        var fromText = new List<(string Source, string Target)>();
        var fromVision = new List<(string Source, string Target)>();
        if (text is not null)
        {
            int textLayers = model.Config.Text.TextLayers;
            bool selfAttention = model.Config.Fusion == FusionKind.SelfAttention;
            string Layer(int i) => selfAttention && i >= textLayers ? $"joint.layer.{i - textLayers}" : $"text_encoder.encoder.layer.{i}";
            fromText = Plan(text.WeightsPath, TextKeys, text.Config.NumHiddenLayers, Layer, key => TextKey(key, text.Prefix), IgnorableText, targets);
        }
        if (vision is not null)
            fromVision = Plan(vision.WeightsPath, VisionKeys, vision.Config.NumHiddenLayers, i => $"video_encoder.encoder.layers.{i}", key => key, IgnorableVision, targets);

        using var _ = torch.no_grad();
        foreach (var (path, plan) in new[] { (text?.WeightsPath, fromText), (vision?.WeightsPath, fromVision) })
        {
            if (path is null) continue;
            var loaded = SafeTensors.Load(path);
            try
            {
                foreach (var (source, target) in plan) targets[target].copy_(loaded[source]); // copy_ converts F16/BF16 to the model's dtype
            }
            finally
            {
                foreach (var t in loaded.Values) t.Dispose();
            }
        }
        return new Report(fromText.Select(p => p.Target).ToList(), fromVision.Select(p => p.Target).ToList());
    }

    /// <summary>
    /// A BERT file key as a <c>BertModel</c> key: the <c>bert.</c> prefix of <c>BertForMaskedLM</c> removed, and the
    /// <c>LayerNorm.gamma</c>/<c>beta</c> names of the original TF-converted checkpoints (bert-base-uncased keeps them) read as
    /// <c>weight</c>/<c>bias</c>, as HF's loader does. Keys outside the prefix (the <c>cls.*</c> heads) are returned as they are.
    /// </summary>
    private static string TextKey(string key, string prefix)
    {
        if (prefix.Length > 0 && key.StartsWith(prefix, StringComparison.Ordinal)) key = key[prefix.Length..];
        if (key.EndsWith(".LayerNorm.gamma", StringComparison.Ordinal)) key = key[..^"gamma".Length] + "weight";
        else if (key.EndsWith(".LayerNorm.beta", StringComparison.Ordinal)) key = key[..^"beta".Length] + "bias";
        return key;
    }

    /// <summary>Source file key -> VLT key for every tensor to copy, after checking that each key and shape fits.</summary>
    private static List<(string Source, string Target)> Plan(string path, (string From, string To)[] table, int layers, Func<int, string> layer,
        Func<string, string> normalise, Func<string, bool> ignorable, IDictionary<string, Tensor> targets)
    {
        // The table expanded over the source's layers: normalised source key -> VLT key.
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (from, to) in table)
        {
            if (!from.Contains("{i}")) { map[from] = to; continue; }
            for (int i = 0; i < layers; i++)
                map[from.Replace("{i}", i.ToString())] = to.Replace("{L}", layer(i));
        }
        var entries = SafeTensors.ReadHeader(path).Entries;
        var fileKeys = new Dictionary<string, (string Raw, long[] Shape)>(StringComparer.Ordinal);
        var unexpected = new List<string>();
        foreach (var e in entries)
        {
            string key = normalise(e.Name);
            if (map.ContainsKey(key)) fileKeys[key] = (e.Name, e.Shape);
            else if (!ignorable(key) && !ignorable(e.Name)) unexpected.Add(e.Name);
        }
        var missing = map.Keys.Where(k => !fileKeys.ContainsKey(k) && !Optional(k)).ToList();
        var problems = new List<string>();
        var plan = new List<(string, string)>();
        foreach (var (key, (raw, shape)) in fileKeys)
        {
            string target = map[key];
            if (!targets.TryGetValue(target, out var t))
                throw new InvalidOperationException($"the key table maps {key} to {target}, which the model does not have");
            if (!shape.SequenceEqual(t.shape))
                problems.Add($"{raw} is [{string.Join(", ", shape)}] in the file but {target} is [{string.Join(", ", t.shape)}]");
            else plan.Add((raw, target));
        }
        if (missing.Count + unexpected.Count + problems.Count > 0)
        {
            var parts = new List<string>();
            if (missing.Count > 0) parts.Add($"{missing.Count} missing key(s): {List(missing)}");
            if (unexpected.Count > 0) parts.Add($"{unexpected.Count} unexpected key(s): {List(unexpected)}");
            if (problems.Count > 0) parts.Add($"{problems.Count} shape mismatch(es): {List(problems)}");
            throw new VidSeekException($"{path} does not fit the VLT it should initialise: {string.Join("; ", parts)}");
        }
        return plan;
    }

    private static string List(List<string> items) => string.Join(", ", items.Take(8)) + (items.Count > 8 ? $", ... ({items.Count - 8} more)" : "");
}
