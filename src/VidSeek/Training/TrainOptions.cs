using System.Text.Json.Serialization;
using VidSeek.Video;

namespace VidSeek.Training;

/// <summary>Hyper-parameters of a dual-encoder training run (SPEC 2.4). Saved with every checkpoint.</summary>
public sealed record TrainOptions
{
    [JsonPropertyName("epochs")] public int Epochs { get; init; } = 10;
    [JsonPropertyName("batch_size")] public int BatchSize { get; init; } = 32;
    /// <summary>Learning rate of the CLIP backbone (1e-6 for a pretrained one; higher when training from scratch).</summary>
    [JsonPropertyName("clip_lr")] public double ClipLr { get; init; } = 1e-6;
    /// <summary>Learning rate of the modules added on top of CLIP (X-Pool's pooling).</summary>
    [JsonPropertyName("head_lr")] public double HeadLr { get; init; } = 1e-5;
    [JsonPropertyName("weight_decay")] public double WeightDecay { get; init; } = 0.2;
    [JsonPropertyName("warmup_fraction")] public double WarmupFraction { get; init; } = 0.1;
    [JsonPropertyName("grad_clip")] public double GradClip { get; init; } = 1.0;
    [JsonPropertyName("seed")] public int Seed { get; init; } = 0;
    [JsonPropertyName("sampling")][JsonConverter(typeof(JsonStringEnumConverter<SamplingMode>))] public SamplingMode Sampling { get; init; } = SamplingMode.Uniform;
    [JsonPropertyName("random_resized_crop")] public bool RandomResizedCrop { get; init; } = true;
    /// <summary>Save a resumable checkpoint every this many steps (0: at the end of every epoch only).</summary>
    [JsonPropertyName("save_every")] public int SaveEvery { get; init; }
    /// <summary>Stop after this many steps in total (0: run all epochs); the schedule still spans all epochs.</summary>
    [JsonPropertyName("max_steps")] public long MaxSteps { get; init; }
    /// <summary>VLT only: frames per training clip (the dual encoders keep theirs in their model config).</summary>
    [JsonPropertyName("train_frames")] public int? TrainFrames { get; init; }
    /// <summary>VLT only: frames per clip at validation, and the default of <c>eval</c> for the checkpoint.</summary>
    [JsonPropertyName("eval_frames")] public int? EvalFrames { get; init; }
    /// <summary>VLT only: videos per text re-ranked by ITM at validation.</summary>
    [JsonPropertyName("rerank_k")] public int? RerankK { get; init; }
}
