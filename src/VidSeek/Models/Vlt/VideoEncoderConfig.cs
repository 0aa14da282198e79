using System.Text.Json.Serialization;
using VidSeek.Models.Clip;

namespace VidSeek.Models.Vlt;

/// <summary>
/// Architecture of the <see cref="VideoEncoder"/>: a ViT over each frame (the spatial part has the CLIP vision tower's
/// sizes and key layout, so CLIP ViT weights can initialise it) plus one gated temporal attention block per layer.
/// </summary>
public sealed record VideoEncoderConfig
{
    [JsonPropertyName("image_size")] public int ImageSize { get; init; } = 224;
    [JsonPropertyName("patch_size")] public int PatchSize { get; init; } = 16;
    [JsonPropertyName("num_channels")] public int NumChannels { get; init; } = 3;
    [JsonPropertyName("hidden_size")] public int HiddenSize { get; init; } = 768;
    [JsonPropertyName("num_hidden_layers")] public int NumHiddenLayers { get; init; } = 12;
    [JsonPropertyName("num_attention_heads")] public int NumAttentionHeads { get; init; } = 12;
    [JsonPropertyName("intermediate_size")] public int IntermediateSize { get; init; } = 3072;
    /// <summary><c>quick_gelu</c> as CLIP, or <c>gelu</c>.</summary>
    [JsonPropertyName("hidden_act")] public string HiddenAct { get; init; } = "quick_gelu";
    [JsonPropertyName("layer_norm_eps")] public double LayerNormEps { get; init; } = 1e-5;
    /// <summary>Rows of the learned temporal position embedding; other frame counts slice or interpolate it.</summary>
    [JsonPropertyName("max_frames")] public int MaxFrames { get; init; } = 16;

    /// <summary>Patches per frame, <c>(S/p)^2</c>.</summary>
    [JsonIgnore] public int NumPatches => (ImageSize / PatchSize) * (ImageSize / PatchSize);

    /// <summary>Tokens per frame, <c>L = 1 + patches</c> (class token first).</summary>
    [JsonIgnore] public int TokensPerFrame => 1 + NumPatches;

    /// <summary>The per-frame ViT as a CLIP vision config, so the spatial modules are CLIP's own.</summary>
    public ClipVisionConfig ToClipVision() => new()
    {
        ImageSize = ImageSize, PatchSize = PatchSize, NumChannels = NumChannels, HiddenSize = HiddenSize,
        NumHiddenLayers = NumHiddenLayers, NumAttentionHeads = NumAttentionHeads, IntermediateSize = IntermediateSize,
        HiddenAct = HiddenAct, LayerNormEps = LayerNormEps,
    };

    /// <summary>Checks the numbers that the architecture needs to be consistent.</summary>
    public void Validate(string source)
    {
        void Check(bool ok, string what) { if (!ok) throw new VidSeekException($"{source}: {what}"); }
        Check(ImageSize > 0 && PatchSize > 0 && NumChannels > 0 && HiddenSize > 0 && NumHiddenLayers > 0 && NumAttentionHeads > 0
              && IntermediateSize > 0 && MaxFrames > 0, "sizes, layer, head and frame counts must be positive");
        Check(ImageSize % PatchSize == 0, "image_size must be a multiple of patch_size");
        Check(HiddenSize % NumAttentionHeads == 0, "hidden_size must be a multiple of num_attention_heads");
        Check(HiddenAct is "quick_gelu" or "gelu", $"hidden_act '{HiddenAct}' is not supported (quick_gelu, gelu)");
        Check(LayerNormEps > 0, "layer_norm_eps must be positive");
    }
}

/// <summary>Named video encoder architectures.</summary>
public static class VideoEncoderPresets
{
    /// <summary>For the 64x64 Shapes videos on a CPU, beside <c>BertPresets.ShapesSmall</c>: 8 px patches (65 tokens a frame), 4 layers of width 128, 4 heads.</summary>
    public static VideoEncoderConfig ShapesSmall => new()
    {
        ImageSize = 64, PatchSize = 8, HiddenSize = 128, NumHiddenLayers = 4, NumAttentionHeads = 4, IntermediateSize = 512, MaxFrames = 16,
    };

    /// <summary>ViT-B/16 at 224 px (197 tokens a frame), the sizes of CLIP ViT-B/16 and of VindLU's video encoder.</summary>
    public static VideoEncoderConfig VitB16 => new()
    {
        ImageSize = 224, PatchSize = 16, HiddenSize = 768, NumHiddenLayers = 12, NumAttentionHeads = 12, IntermediateSize = 3072, MaxFrames = 16,
    };

    public static IReadOnlyDictionary<string, Func<VideoEncoderConfig>> All { get; } = new Dictionary<string, Func<VideoEncoderConfig>>
    {
        ["shapes-small"] = () => ShapesSmall,
        ["vit-b16"] = () => VitB16,
    };
}
