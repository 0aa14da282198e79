using TorchSharp;
using TorchSharp.Modules;
using VidSeek.Data;
using VidSeek.Models.Clip;
using VidSeek.Models.DualEncoder;
using VidSeek.Retrieval;
using VidSeek.Text;
using static TorchSharp.torch;

namespace VidSeek.Training;

/// <summary>Where a step stands, for progress bars.</summary>
public sealed record TrainProgress(long Step, long TotalSteps, int Epoch, double Loss, double ClipsPerSecond, string? Phase = null);

/// <summary>
/// Trains a dual encoder with symmetric InfoNCE (SPEC 2.4): AdamW with two parameter groups (CLIP backbone,
/// new modules), cosine schedule with linear warm-up stepped per iteration, gradient clipping.
/// Every epoch visits each training video once, with one of its captions drawn at random.
/// </summary>
/// <remarks>
/// Resuming is exact: the data order, the caption choice, frame sampling, crops and dropout all derive from
/// (seed, epoch, step, video), so a run stopped after step k and resumed computes the same steps k+1.. as an
/// uninterrupted one. Checkpoints (<c>OUT/checkpoint</c>) hold the model, the optimizer state and
/// <c>trainer_state.json</c>, and are replaced atomically.
/// </remarks>
public sealed class Trainer : TrainingLoop
{
    public const string CheckpointDir = "checkpoint";
    public const string BestDir = "best";

    private readonly DualEncoderModel model;
    private readonly RetrievalSplit train;
    private readonly RetrievalSplit? val;
    private readonly VideoFrameSource trainFrames;
    private readonly VideoFrameSource? valFrames;
    private readonly ClipTextEmbedder texts;
    private readonly string tokenizerDir;
    private readonly string outputDir;
    private readonly OptimizerHelper optimizer;
    private readonly List<Parameter> parameters;
    private readonly double[] baseLrs;
    protected override string OutputDir => outputDir;

    /// <param name="tokenizerDir">Folder of the tokenizer's vocab.json + merges.txt; copied into every checkpoint.</param>
    /// <param name="resumeFrom">A checkpoint folder to continue from (its optimizer state and trainer_state.json), or null.</param>
    public Trainer(DualEncoderModel model, RetrievalSplit train, RetrievalSplit? val, ClipTokenizer tokenizer, string tokenizerDir,
        TrainOptions options, string outputDir, TrainData data, string? resumeFrom = null)
    {
        if (train.Videos.Count < 2) throw new VidSeekException($"the training split has {train.Videos.Count} video(s); contrastive training needs at least 2");
        this.model = model;
        this.train = train;
        this.val = val;
        this.tokenizerDir = tokenizerDir;
        this.outputDir = outputDir;
        texts = new ClipTextEmbedder(model.Clip, tokenizer, tokenizerDir);
        int batch = Math.Min(options.BatchSize, train.Videos.Count);
        StepsPerEpoch = Math.Max(1, train.Videos.Count / batch);
        options = options with { BatchSize = batch };
        trainFrames = new VideoFrameSource(train.Videos, model.Config.NumFrames, model.Clip.ImageSize);
        valFrames = val is null ? null : new VideoFrameSource(val.Videos, model.Config.NumFrames, model.Clip.ImageSize);

        var groups = new List<AdamW.ParamGroup> { new(model.BackboneParameters(), lr: options.ClipLr) };
        var head = model.HeadParameters().ToList();
        if (head.Count > 0) groups.Add(new AdamW.ParamGroup(head, lr: options.HeadLr));
        baseLrs = groups.Count == 2 ? [options.ClipLr, options.HeadLr] : [options.ClipLr];
        parameters = model.parameters().ToList();
        optimizer = torch.optim.AdamW(groups, lr: options.ClipLr, beta1: 0.9, beta2: 0.999, eps: 1e-6, weight_decay: options.WeightDecay);

        state = resumeFrom is null ? new TrainingState { Options = options, Data = data } : TrainingState.Resume(resumeFrom, options, optimizer);
    }

    protected override double TrainStep(long step, CosineSchedule schedule)
    {
        using var scope = torch.NewDisposeScope();
        int epoch = (int)(step / StepsPerEpoch);
        int b = (int)(step % StepsPerEpoch);
        var order = EpochOrder(epoch);
        var videos = order.Skip(b * Options.BatchSize).Take(Options.BatchSize).ToList();
        var captions = videos.Select(v => ChooseCaption(epoch, v)).ToList();

        torch.manual_seed(Mix(Options.Seed, step, 7)); // dropout
        var pixels = trainFrames.TrainingBatch(videos, Options.Sampling, Options.RandomResizedCrop, v => new Random(Mix(Options.Seed, epoch, v, 3)));
        var ids = texts.Tokenize(captions).ToTensor();

        model.train();
        var textEmb = model.EncodeText(ids);
        var frameEmb = model.EncodeVideo(pixels);
        var sims = model.Similarity(textEmb, frameEmb).Sims;
        var loss = InfoNceLoss.Compute(sims, model.LogitScale());

        optimizer.zero_grad();
        loss.backward();
        torch.nn.utils.clip_grad_norm_(parameters, Options.GradClip);
        double factor = schedule.Factor(step);
        int g = 0;
        foreach (var group in optimizer.ParamGroups) group.LearningRate = baseLrs[g++] * factor;
        optimizer.step();
        return loss.item<float>();
    }

    protected override void EndEpoch(int epoch, double lrFactor, Action<TrainProgress>? progress)
    {
        double? t2v = null, v2t = null;
        if (val is not null && valFrames is not null)
        {
            var result = Evaluator.Evaluate(model, val, valFrames, texts, new EvalOptions(),
                (what, done, total) => progress?.Invoke(new TrainProgress(state.GlobalStep, TotalSteps, epoch, double.NaN, 0, $"validation: {what} {done}/{total}")));
            t2v = result.Overall.TextToVideo.R1;
            v2t = result.Overall.VideoToText.R1;
        }
        var row = new EpochLog(epoch, state.GlobalStep, state.EpochLossSum / Math.Max(1, state.EpochLossSteps), t2v, v2t, Options.ClipLr * lrFactor, state.Seconds);
        bool best = t2v.HasValue && (state.BestValT2vR1 is null || t2v > state.BestValT2vR1);
        state = state with { Log = [.. state.Log, row], EpochLossSum = 0, EpochLossSteps = 0, BestValT2vR1 = best ? t2v : state.BestValT2vR1 };
        TrainingReport.WriteCsv(Path.Combine(outputDir, "log.csv"), state.Log);
        TrainingReport.WritePlot(Path.Combine(outputDir, "training.png"), state.Log);
        if (best || val is null) WriteModelFolder(Path.Combine(outputDir, BestDir), withOptimizer: false);
    }

    /// <summary>Writes <c>OUT/checkpoint</c>: into a fresh folder first, then swapped in, so a kill at any moment leaves a valid checkpoint.</summary>
    public override void SaveCheckpoint() => WriteModelFolder(Path.Combine(outputDir, CheckpointDir), withOptimizer: true);

    private void WriteModelFolder(string target, bool withOptimizer) => CheckpointFolder.Write(target, tmp =>
    {
        model.Save(tmp);
        foreach (var f in new[] { ClipTokenizer.VocabFile, ClipTokenizer.MergesFile })
            File.Copy(Path.Combine(tokenizerDir, f), Path.Combine(tmp, f));
        if (withOptimizer)
        {
            optimizer.save_state_dict(Path.Combine(tmp, "optimizer.bin"));
            File.WriteAllText(Path.Combine(tmp, "trainer_state.json"), state.ToJson());
        }
    });

    /// <summary>The checkpoint folder to resume from in <paramref name="outputDir"/>, or null (a swap interrupted after the move-away leaves <c>.old</c>).</summary>
    public static string? FindCheckpoint(string outputDir) => CheckpointFolder.Find(outputDir, CheckpointDir);

    private int[] EpochOrder(int epoch)
    {
        var order = Enumerable.Range(0, train.Videos.Count).ToArray();
        new Random(Mix(Options.Seed, epoch, 1)).Shuffle(order);
        return order;
    }

    private string ChooseCaption(int epoch, int video)
    {
        var mine = captionsOfVideo ??= BuildCaptionIndex();
        var list = mine[video];
        return list[new Random(Mix(Options.Seed, epoch, video, 2)).Next(list.Count)];
    }

    private List<string>[]? captionsOfVideo;
    private List<string>[] BuildCaptionIndex()
    {
        var index = Enumerable.Range(0, train.Videos.Count).Select(_ => new List<string>()).ToArray();
        foreach (var c in train.Captions) index[c.VideoIndex].Add(c.Text);
        return index;
    }

    /// <summary>A well-mixed 31-bit seed from several integers (SplitMix64 finaliser), so nearby steps get unrelated streams.</summary>
    internal static int Mix(params long[] values)
    {
        ulong h = 0x9E3779B97F4A7C15UL;
        foreach (var v in values)
        {
            h ^= (ulong)v + 0x9E3779B97F4A7C15UL + (h << 6) + (h >> 2);
            h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9UL;
            h = (h ^ (h >> 27)) * 0x94D049BB133111EBUL;
            h ^= h >> 31;
        }
        return (int)(h & 0x7FFFFFFF);
    }

    public override void Dispose() => optimizer.Dispose();
}
