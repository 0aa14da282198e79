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

    /// <summary>
    /// The state of the run saved in <paramref name="checkpoint"/>, with its optimizer state loaded into
    /// <paramref name="optimizer"/>. Stopping points (<c>max_steps</c>, <c>save_every</c>) and the number of epochs
    /// (<c>train --resume RUN --epochs N</c>: the cosine schedule is then recomputed for the new total from the next step
    /// on) may change between sessions; any other option that shapes the run may not.
    /// </summary>
    public static TrainingState Resume(string checkpoint, TrainOptions options, TorchSharp.Modules.OptimizerHelper optimizer)
    {
        var saved = Load(Path.Combine(checkpoint, "trainer_state.json"));
        if (saved.Options with { MaxSteps = options.MaxSteps, SaveEvery = options.SaveEvery, Epochs = options.Epochs } != options)
            throw new VidSeekException($"{checkpoint}: the run was started with other options ({saved.Options}); resume with the same ones");
        optimizer.load_state_dict(Path.Combine(checkpoint, "optimizer.bin"));
        return saved with { Options = options };
    }

    public static TrainingState Load(string path)
    {
        try { return JsonSerializer.Deserialize<TrainingState>(File.ReadAllText(path)) ?? throw new JsonException("empty"); }
        catch (JsonException e) { throw new VidSeekException($"cannot parse {path}: {e.Message}"); }
    }
}
