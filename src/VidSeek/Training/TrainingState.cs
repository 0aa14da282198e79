using System.Text.Json;
using System.Text.Json.Serialization;

namespace VidSeek.Training;

/// <summary>One row of the training log: an epoch's mean loss and validation metrics.</summary>
public sealed record EpochLog(
    [property: JsonPropertyName("epoch")] int Epoch,
    [property: JsonPropertyName("step")] long Step,
    [property: JsonPropertyName("train_loss")] double TrainLoss,
    [property: JsonPropertyName("val_t2v_r1")] double? ValT2vR1,
    [property: JsonPropertyName("val_v2t_r1")] double? ValV2tR1,
    [property: JsonPropertyName("clip_lr")] double ClipLr,
    [property: JsonPropertyName("seconds")] double Seconds);

/// <summary>Which data a run trains and validates on, so <c>--resume</c> needs nothing but the output folder.</summary>
public sealed record TrainData
{
    [JsonPropertyName("format")] public string Format { get; init; } = "msrvtt";
    [JsonPropertyName("root")] public string Root { get; init; } = "";
    [JsonPropertyName("train_split")] public string TrainSplit { get; init; } = "train";
    [JsonPropertyName("val_split")] public string? ValSplit { get; init; }
    [JsonPropertyName("videos")] public string? VideosDir { get; init; }
    [JsonPropertyName("skip_missing")] public bool SkipMissing { get; init; }
}

/// <summary>Where a run stands: enough to resume it exactly (the data order and randomness derive from the seed and the step).</summary>
public sealed record TrainingState
{
    [JsonPropertyName("global_step")] public long GlobalStep { get; init; }
    [JsonPropertyName("epoch_loss_sum")] public double EpochLossSum { get; init; }
    [JsonPropertyName("epoch_loss_steps")] public long EpochLossSteps { get; init; }
    [JsonPropertyName("seconds")] public double Seconds { get; init; }
    [JsonPropertyName("options")] public TrainOptions Options { get; init; } = new();
    [JsonPropertyName("data")] public TrainData Data { get; init; } = new();
    [JsonPropertyName("log")] public List<EpochLog> Log { get; init; } = [];
    [JsonPropertyName("best_val_t2v_r1")] public double? BestValT2vR1 { get; init; }

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };
    public string ToJson() => JsonSerializer.Serialize(this, Json);

    public static TrainingState Load(string path)
    {
        try { return JsonSerializer.Deserialize<TrainingState>(File.ReadAllText(path)) ?? throw new JsonException("empty"); }
        catch (JsonException e) { throw new VidSeekException($"cannot parse {path}: {e.Message}"); }
    }
}
