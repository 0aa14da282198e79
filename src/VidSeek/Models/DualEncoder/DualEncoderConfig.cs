using System.Text.Json;
using System.Text.Json.Serialization;
using VidSeek.Models.Clip;

namespace VidSeek.Models.DualEncoder;

/// <summary>How a dual encoder turns a video's frame embeddings into a score against a text.</summary>
public enum VideoPooling
{
    /// <summary>CLIP4Clip "meanP": the mean of the frame embeddings, then cosine with the text.</summary>
    MeanP,
    /// <summary>X-Pool: text-conditioned attention over the frames (<see cref="XPool.TextConditionedPooling"/>), then cosine.</summary>
    XPool,
}

/// <summary>The checkpoint's <c>config.json</c>: the CLIP backbone, the pooling head and the input it was trained on.</summary>
public sealed record DualEncoderConfig
{
    [JsonPropertyName("model_type")] public string ModelType { get; init; } = "vidseek-dual-encoder";
    [JsonPropertyName("pooling")][JsonConverter(typeof(JsonStringEnumConverter<VideoPooling>))] public VideoPooling Pooling { get; init; } = VideoPooling.XPool;
    [JsonPropertyName("clip")] public ClipConfig Clip { get; init; } = new();
    [JsonPropertyName("num_frames")] public int NumFrames { get; init; } = 12;
    [JsonPropertyName("xpool_heads")] public int XPoolHeads { get; init; } = 1;
    [JsonPropertyName("xpool_dropout")] public double XPoolDropout { get; init; } = 0.3;

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    public static DualEncoderConfig Load(string path)
    {
        if (!File.Exists(path)) throw new VidSeekException($"config.json not found: {path}");
        DualEncoderConfig? config;
        try { config = JsonSerializer.Deserialize<DualEncoderConfig>(File.ReadAllText(path)); }
        catch (JsonException e) { throw new VidSeekException($"cannot parse {path}: {e.Message}"); }
        if (config is null || config.ModelType != "vidseek-dual-encoder")
            throw new VidSeekException($"{path} is not a VidSeek dual-encoder checkpoint config (model_type '{config?.ModelType}')");
        if (config.Clip is null) throw new VidSeekException($"{path}: 'clip' (the backbone's config) is missing");
        config.Clip.Validate(path);
        // num_frames is the default frame count of index and eval: bounded like --frames.
        if (config.NumFrames is < 1 or > 256) throw new VidSeekException($"{path}: num_frames must lie in 1..256 (got {config.NumFrames})");
        if (config.XPoolHeads < 1 || config.Clip.ProjectionDim % config.XPoolHeads != 0)
            throw new VidSeekException($"{path}: xpool_heads must be a positive divisor of clip.projection_dim {config.Clip.ProjectionDim} (got {config.XPoolHeads})");
        if (!(config.XPoolDropout >= 0 && config.XPoolDropout < 1)) throw new VidSeekException($"{path}: xpool_dropout must lie in [0, 1) (got {config.XPoolDropout})");
        return config;
    }
}
