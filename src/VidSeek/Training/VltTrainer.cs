using TorchSharp;
using TorchSharp.Modules;
using VidSeek.Data;
using VidSeek.Models.Vlt;
using VidSeek.Retrieval;
using static TorchSharp.torch;

namespace VidSeek.Training;

/// <summary>The loss of one VLT step and its two parts.</summary>
public sealed record VltStepLoss(long Step, double Total, double Itc, double Itm);

/// <summary>
/// Trains a <see cref="VideoLanguageModel"/> with ITC + ITM (SPEC 3.3), with <see cref="Trainer"/>'s machinery: AdamW with
/// two parameter groups (the encoders <c>video_encoder.*</c>/<c>text_encoder.*</c> at <see cref="TrainOptions.ClipLr"/>, the
/// rest - projections, temperature, joint encoder, ITM head - at <see cref="TrainOptions.HeadLr"/>), cosine schedule with
/// warm-up stepped per iteration, gradient clipping, one caption per video and epoch.
/// </summary>
/// <remarks>
/// Resuming is exact as in <see cref="Trainer"/>: data order, captions, frames, crops, dropout and the ITM negatives derive
/// from (seed, epoch, step, video). <c>OUT/checkpoint</c> holds <c>model.safetensors</c> + <c>config.json</c>
/// (<see cref="VideoLanguageConfig"/>), <c>optimizer.bin</c>, <c>trainer_state.json</c> and the tokenizer's files, swapped
/// in atomically; <c>OUT/best</c> the model of the best validation R@1 (re-ranked); <c>log.csv</c> and
/// <c>training.png</c> the epochs. The frame counts (<see cref="TrainOptions.TrainFrames"/>, default 4, and
/// <see cref="TrainOptions.EvalFrames"/>, default 12) and the validation's top k (<see cref="TrainOptions.RerankK"/>) are
/// saved with the options, so a resumed run uses the same ones.
/// </remarks>
public sealed class VltTrainer : TrainingLoop
{
    private readonly VideoLanguageModel model;
    private readonly RetrievalSplit train;
    private readonly RetrievalSplit? val;
    private readonly VideoFrameSource trainFrames;
    private readonly VideoFrameSource? valFrames;
    private readonly VltTokenize tokenize;
    private readonly IReadOnlyList<string>? tokenizerFiles;
    private readonly string outputDir;
    private readonly TwoStageOptions valOptions;
    private readonly OptimizerHelper optimizer;
    private readonly List<Parameter> parameters;
    private readonly double[] baseLrs;
    private readonly List<string>[] captionsOfVideo;
    private Action<VltStepLoss>? stepLosses;

    protected override string OutputDir => outputDir;
    public const int DefaultTrainFrames = 4, DefaultEvalFrames = 12;

    /// <param name="tokenize">Captions to BERT ids and mask.</param>
    /// <param name="tokenizerFiles">The tokenizer's files (<see cref="Text.VltTextTokenizer.Files"/>), copied into every saved model folder, or null.</param>
    /// <param name="valOptions">Two-stage validation settings (batch sizes; the top k comes from <see cref="TrainOptions.RerankK"/> where set).</param>
    /// <param name="resumeFrom">A checkpoint folder to continue from, or null.</param>
    public VltTrainer(VideoLanguageModel model, RetrievalSplit train, RetrievalSplit? val, VltTokenize tokenize, IReadOnlyList<string>? tokenizerFiles,
        TrainOptions options, string outputDir, TrainData data, TwoStageOptions? valOptions = null, string? resumeFrom = null)
    {
        if (train.Videos.Count < 2) throw new VidSeekException($"the training split has {train.Videos.Count} video(s); contrastive training needs at least 2");
        this.model = model;
        this.train = train;
        this.val = val;
        this.tokenize = tokenize;
        this.tokenizerFiles = tokenizerFiles;
        this.outputDir = outputDir;
        this.valOptions = valOptions ?? new TwoStageOptions();
        if (options.RerankK is int k) this.valOptions = this.valOptions with { TopK = k };
        int batch = Math.Min(options.BatchSize, train.Videos.Count);
        StepsPerEpoch = Math.Max(1, train.Videos.Count / batch);
        options = options with { BatchSize = batch };
        int size = model.Config.Video.ImageSize;
        trainFrames = new VideoFrameSource(train.Videos, options.TrainFrames ?? DefaultTrainFrames, size);
        valFrames = val is null ? null : new VideoFrameSource(val.Videos, options.EvalFrames ?? DefaultEvalFrames, size);
        captionsOfVideo = Enumerable.Range(0, train.Videos.Count).Select(_ => new List<string>()).ToArray();
        foreach (var c in train.Captions) captionsOfVideo[c.VideoIndex].Add(c.Text);
        if (captionsOfVideo.Any(l => l.Count == 0)) throw new VidSeekException("every training video needs at least one caption");

        var named = model.named_parameters().ToList();
        static bool Encoder(string name) => name.StartsWith("video_encoder.", StringComparison.Ordinal) || name.StartsWith("text_encoder.", StringComparison.Ordinal);
        var groups = new List<AdamW.ParamGroup> { new(named.Where(p => Encoder(p.name)).Select(p => p.parameter), lr: options.ClipLr) };
        var head = named.Where(p => !Encoder(p.name)).Select(p => p.parameter).ToList();
        groups.Add(new AdamW.ParamGroup(head, lr: options.HeadLr));
        baseLrs = [options.ClipLr, options.HeadLr];
        parameters = model.parameters().ToList();
        optimizer = torch.optim.AdamW(groups, lr: options.ClipLr, beta1: 0.9, beta2: 0.999, eps: 1e-6, weight_decay: options.WeightDecay);

        state = resumeFrom is null ? new TrainingState { Options = options, Data = data } : TrainingState.Resume(resumeFrom, options, optimizer);
    }

    /// <summary>As <see cref="TrainingLoop.Run"/>; <paramref name="losses"/> receives the ITC and ITM parts of every step.</summary>
    public TrainingState Run(Action<TrainProgress>? progress, CancellationToken cancel, Action<VltStepLoss>? losses)
    {
        stepLosses = losses;
        try { return Run(progress, cancel); }
        finally { stepLosses = null; }
    }

    protected override double TrainStep(long step, CosineSchedule schedule)
    {
        var loss = Step(step, schedule);
        stepLosses?.Invoke(loss);
        return loss.Total;
    }

    private VltStepLoss Step(long step, CosineSchedule schedule)
    {
        using var scope = torch.NewDisposeScope();
        int epoch = (int)(step / StepsPerEpoch);
        int b = (int)(step % StepsPerEpoch);
        var order = Enumerable.Range(0, train.Videos.Count).ToArray();
        new Random(Trainer.Mix(Options.Seed, epoch, 1)).Shuffle(order);
        var videos = order.Skip(b * Options.BatchSize).Take(Options.BatchSize).ToList();
        var captions = videos.Select(v => captionsOfVideo[v][new Random(Trainer.Mix(Options.Seed, epoch, v, 2)).Next(captionsOfVideo[v].Count)]).ToList();

        torch.manual_seed(Trainer.Mix(Options.Seed, step, 7)); // dropout
        var pixels = trainFrames.TrainingBatch(videos, Options.Sampling, Options.RandomResizedCrop, v => new Random(Trainer.Mix(Options.Seed, epoch, v, 3)));
        var (ids, mask) = tokenize(captions);
        using var negatives = new Generator((ulong)Trainer.Mix(Options.Seed, step, 11)); // its own stream: independent of dropout

        model.train();
        var loss = VltLoss.Compute(model, model.EncodeText(ids, mask), mask, model.EncodeVideo(pixels), captions, videos, negatives);

        optimizer.zero_grad();
        loss.Total.backward();
        torch.nn.utils.clip_grad_norm_(parameters, Options.GradClip);
        double factor = schedule.Factor(step);
        int g = 0;
        foreach (var group in optimizer.ParamGroups) group.LearningRate = baseLrs[g++] * factor;
        optimizer.step();
        return new VltStepLoss(step, loss.Total.item<float>(), loss.Itc.item<float>(), loss.Itm.item<float>());
    }

    protected override void EndEpoch(int epoch, double lrFactor, Action<TrainProgress>? progress)
    {
        double? t2v = null, v2t = null;
        if (val is not null && valFrames is not null)
        {
            var (_, reranked, _) = TwoStageRetrieval.Evaluate(model, val, valFrames, tokenize, valOptions, null,
                (what, done, total) => progress?.Invoke(new TrainProgress(state.GlobalStep, TotalSteps, epoch, double.NaN, 0, $"validation: {what} {done}/{total}")));
            t2v = reranked.Overall.TextToVideo.R1;
            v2t = reranked.Overall.VideoToText.R1;
        }
        var row = new EpochLog(epoch, state.GlobalStep, state.EpochLossSum / Math.Max(1, state.EpochLossSteps), t2v, v2t, Options.ClipLr * lrFactor, state.Seconds);
        bool best = t2v.HasValue && (state.BestValT2vR1 is null || t2v > state.BestValT2vR1);
        state = state with { Log = [.. state.Log, row], EpochLossSum = 0, EpochLossSteps = 0, BestValT2vR1 = best ? t2v : state.BestValT2vR1 };
        TrainingReport.WriteCsv(Path.Combine(outputDir, "log.csv"), state.Log);
        TrainingReport.WritePlot(Path.Combine(outputDir, "training.png"), state.Log);
        if (best || val is null) WriteModelFolder(Path.Combine(outputDir, Trainer.BestDir), withOptimizer: false);
    }

    /// <summary>Writes <c>OUT/checkpoint</c> atomically (see <see cref="CheckpointFolder.Write"/>).</summary>
    public override void SaveCheckpoint() => WriteModelFolder(Path.Combine(outputDir, Trainer.CheckpointDir), withOptimizer: true);

    private void WriteModelFolder(string target, bool withOptimizer) => CheckpointFolder.Write(target, tmp =>
    {
        model.Save(tmp);
        // Only the tokenizer's own files: its folder may be a whole BERT checkpoint (--init-text), weights and config.json included.
        foreach (var f in tokenizerFiles ?? [])
        {
            string to = Path.Combine(tmp, Path.GetFileName(f));
            if (!File.Exists(to)) File.Copy(f, to);
        }
        if (withOptimizer)
        {
            optimizer.save_state_dict(Path.Combine(tmp, "optimizer.bin"));
            File.WriteAllText(Path.Combine(tmp, "trainer_state.json"), state.ToJson());
        }
    });

    public override void Dispose() => optimizer.Dispose();
}
