using System.CommandLine;
using Spectre.Console;
using TorchSharp;
using VidSeek.Data;
using VidSeek.Models;
using VidSeek.Models.Clip;
using VidSeek.Models.DualEncoder;
using VidSeek.Models.Vlt;
using VidSeek.Retrieval;
using VidSeek.Text;
using VidSeek.Training;
using VidSeek.Video;

namespace VidSeek.Cli.Commands;

/// <summary><c>vidseek train --model xpool|meanp|vlt --data DIR --out OUT ...</c>, or <c>vidseek train --resume OUT</c>.</summary>
public static class TrainCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "xpool (CLIP, text-conditioned pooling), meanp (CLIP, mean of frames) or vlt (video-language transformer, ITC + ITM).", DefaultValueFactory = _ => "xpool" };
        model.AcceptOnlyFromAmong("xpool", "meanp", "vlt");
        var fusion = new Option<string>("--fusion") { Description = "vlt: the joint encoder: t2v2t (Bypass cross-attention), naive-t2v2t, v2t or self-attention.", DefaultValueFactory = _ => "t2v2t" };
        fusion.AcceptOnlyFromAmong(FusionNames.Keys.ToArray());
        var vltConfig = new Option<string>("--vlt-config") { Description = "vlt: architecture: shapes-small, vindlu-b (ViT-B/16 + BERT-base, 3 fusion layers; also 'base'), or a config.json. Default: shapes-small; with --init-text/--init-vision, vindlu-b's with the encoders' sizes from their checkpoints.", DefaultValueFactory = _ => "shapes-small" };
        var initText = new Option<string?>("--init-text") { Description = "vlt: start the text encoder and fusion layers from a Hugging Face BERT folder (BertModel or BertForMaskedLM, e.g. bert-base-uncased); its vocab.txt becomes the tokenizer." };
        var initVision = new Option<string?>("--init-vision") { Description = "vlt: start the video encoder's ViT from a Hugging Face CLIP folder (CLIPModel or CLIPVisionModel, e.g. openai/clip-vit-base-patch16)." };
        var evalFrames = new Option<int>("--eval-frames") { Description = "vlt: frames per video at validation.", DefaultValueFactory = _ => VltTrainer.DefaultEvalFrames }.Bound(1, CommonOptions.MaxFrames);
        var rerankK = new Option<int>("--rerank-k") { Description = "vlt: videos per caption re-ranked by ITM at validation.", DefaultValueFactory = _ => 128 }.Bound(1, CommonOptions.MaxRerankK);
        var data = new DataOptions();
        var trainSplit = new Option<string>("--train-split") { Description = "Split to train on.", DefaultValueFactory = _ => "train" };
        var valSplit = new Option<string?>("--val-split") { Description = "Split to report R@1 on after every epoch (and keep the best checkpoint by)." };
        var output = new Option<DirectoryInfo>("--out") { Description = "Run folder: checkpoint/, best/, log.csv, training.png." };
        var resume = new Option<DirectoryInfo?>("--resume") { Description = "Continue the run in this folder from its last checkpoint (all other options come from the run, except --epochs: a new total extends the run and recomputes its schedule)." };
        var init = new Option<string?>("--init") { Description = "Start the CLIP backbone from a Hugging Face CLIP folder (e.g. openai/clip-vit-base-patch32), or from the CLIP of a VidSeek checkpoint." };
        var clipConfig = new Option<string?>("--clip-config") { Description = $"Train CLIP from scratch with this architecture: {string.Join(", ", ClipPresets.All.Keys)}, or a config.json." };
        var tokenizer = new Option<DirectoryInfo?>("--tokenizer") { Description = "vocab.json + merges.txt (CLIP BPE), or for vlt also a BERT vocab.txt folder (WordPiece) (default: the --init/--init-text folder's, else the bundled CLIP vocabulary)." };
        var epochs = new Option<int>("--epochs") { DefaultValueFactory = _ => 10 }.Bound(1, 100_000);
        var batch = new Option<int>("--batch-size") { DefaultValueFactory = _ => 32 }.Bound(1, CommonOptions.MaxBatch);
        var frames = new Option<int?>("--frames") { Description = $"Frames per video (default 12; vlt: {VltTrainer.DefaultTrainFrames} per training clip)." }.Bound(1, CommonOptions.MaxFrames);
        var clipLr = new Option<double?>("--clip-lr") { Description = "Backbone (vlt: both encoders) learning rate (default 1e-6 with --init, vlt 1e-5 with --init-text/--init-vision, 1e-3 from scratch)." };
        var headLr = new Option<double?>("--head-lr") { Description = "X-Pool head (vlt: projections, joint encoder, ITM head) learning rate (default 1e-5 with --init, vlt 1e-4 with --init-text/--init-vision, 1e-3 from scratch)." };
        var weightDecay = new Option<double>("--weight-decay") { DefaultValueFactory = _ => 0.2 };
        var seed = new Option<int>("--seed") { DefaultValueFactory = _ => 0 };
        var sampling = new Option<SamplingMode>("--sampling") { Description = "Training frame sampling: Uniform (interval midpoints) or Random (one per interval).", DefaultValueFactory = _ => SamplingMode.Uniform };
        var noCrop = new Option<bool>("--no-crop-augment") { Description = "Turn off the per-clip random-resized-crop augmentation." };
        var heads = new Option<int>("--xpool-heads") { DefaultValueFactory = _ => 1 }.Bound(1, 64);
        var saveEvery = new Option<int>("--save-every") { Description = "Also checkpoint every N steps (default: every epoch).", DefaultValueFactory = _ => 0 }.Bound(0, int.MaxValue);
        var maxSteps = new Option<long>("--max-steps") { Description = "Stop after N steps in all (the schedule still spans --epochs).", DefaultValueFactory = _ => 0 }.Bound(0, long.MaxValue);

        var command = new Command("train", "Train a CLIP dual encoder (X-Pool or mean pooling) with InfoNCE, or a video-language transformer with ITC + ITM.")
        {
            model, fusion, vltConfig, initText, initVision, evalFrames, rerankK, trainSplit, valSplit, output, resume, init, clipConfig, tokenizer, epochs, batch, frames, clipLr, headLr, weightDecay, seed, sampling, noCrop, heads, saveEvery, maxSteps,
        };
        data.AddTo(command);
        command.AddValidator(r =>
        {
            bool resuming = r.GetValue(resume) is not null;
            if (!resuming && r.GetValue(output) is null) r.AddError("--out is required (or --resume OUT)");
            bool vlt = r.GetValue(model) == "vlt";
            if (!resuming && !vlt && r.GetValue(init) is null && r.GetValue(clipConfig) is null) r.AddError("give --init HF_CLIP_DIR or --clip-config PRESET|FILE");
            if (vlt && r.GetValue(init) is not null) r.AddError("--init is not supported with --model vlt: VLT models train from scratch (--vlt-config)");
            if (vlt && r.GetValue(clipConfig) is not null) r.AddError("--clip-config is for xpool and meanp; give --vlt-config for --model vlt");
            if (r.GetValue(init) is not null && r.GetValue(clipConfig) is not null) r.AddError("--init and --clip-config exclude each other");
            if (!vlt && (r.GetValue(initText) is not null || r.GetValue(initVision) is not null)) r.AddError("--init-text and --init-vision are for --model vlt; xpool and meanp take --init");
        });
        // --data is required for a new run only.
        data.Data.Required = false;
        command.AddValidator(r => { if (r.GetValue(resume) is null && r.GetValue(data.Data) is null) r.AddError("--data is required"); });

        command.SetAction((parse, stdout) =>
        {
            TrainingState? saved = null;
            string? checkpoint = null;
            string outDir;
            if (parse.GetValue(resume) is { } resumeDir)
            {
                outDir = resumeDir.FullName;
                checkpoint = Trainer.FindCheckpoint(outDir) ?? throw new VidSeekException($"no checkpoint to resume in {outDir} (expected {Path.Combine(outDir, Trainer.CheckpointDir, "trainer_state.json")})");
                saved = TrainingState.Load(Path.Combine(checkpoint, "trainer_state.json"));
            }
            else
            {
                outDir = parse.GetValue(output)!.FullName;
                if (Trainer.FindCheckpoint(outDir) is not null)
                    throw new VidSeekException($"{outDir} already holds a run; continue it with --resume {outDir}, or choose another --out");
            }

            bool isVlt = checkpoint is not null ? PretrainedFolder.ModelType(checkpoint) == VltModelType : parse.GetValue(model) == "vlt";
            bool vltInit = parse.GetValue(initText) is not null || parse.GetValue(initVision) is not null;
            bool fromScratch = saved is null && parse.GetValue(init) is null && !vltInit;
            var trainData = saved?.Data ?? new TrainData
            {
                Format = parse.GetValue(data.Format)!, Root = parse.GetValue(data.Data)!.FullName, TrainSplit = parse.GetValue(trainSplit)!,
                ValSplit = parse.GetValue(valSplit), VideosDir = parse.GetValue(data.Videos)?.FullName, SkipMissing = parse.GetValue(data.SkipMissing),
            };
            // On --resume, an explicit --epochs N changes the run's length (checked against the steps done once steps per epoch are known).
            int? newEpochs = saved is not null && parse.GetResult(epochs) is { Implicit: false } ? parse.GetValue(epochs) : null;
            if (newEpochs is < 1) throw new VidSeekException($"--epochs {newEpochs}: must be at least 1");
            var options = saved is not null ? saved.Options with { MaxSteps = parse.GetValue(maxSteps), SaveEvery = parse.GetValue(saveEvery), Epochs = newEpochs ?? saved.Options.Epochs } : new TrainOptions
            {
                Epochs = parse.GetValue(epochs), BatchSize = parse.GetValue(batch), Seed = parse.GetValue(seed),
                ClipLr = parse.GetValue(clipLr) ?? (fromScratch ? 1e-3 : vltInit ? 1e-5 : 1e-6), HeadLr = parse.GetValue(headLr) ?? (fromScratch ? 1e-3 : vltInit ? 1e-4 : 1e-5),
                WeightDecay = parse.GetValue(weightDecay), Sampling = parse.GetValue(sampling), RandomResizedCrop = !parse.GetValue(noCrop),
                SaveEvery = parse.GetValue(saveEvery), MaxSteps = parse.GetValue(maxSteps),
                TrainFrames = isVlt ? parse.GetValue(frames) ?? VltTrainer.DefaultTrainFrames : null,
                EvalFrames = isVlt ? parse.GetValue(evalFrames) : null,
                RerankK = isVlt ? parse.GetValue(rerankK) : null,
            };

            var train = DataOptions.Load(trainData.Format, trainData.Root, trainData.TrainSplit, trainData.VideosDir, trainData.SkipMissing);
            var val = trainData.ValSplit is null ? null : DataOptions.Load(trainData.Format, trainData.Root, trainData.ValSplit, trainData.VideosDir, trainData.SkipMissing);

            IDisposable net;
            TrainingLoop trainer;
            string what;
            if (isVlt)
            {
                VideoLanguageModel vlt;
                VltTextTokenizer tok;
                string initNote = "";
                if (checkpoint is not null)
                {
                    vlt = VideoLanguageModel.Load(checkpoint);
                    tok = VltTextTokenizer.ForModel(checkpoint, vlt.Config);
                }
                else
                {
                    var fusionKind = FusionNames[parse.GetValue(fusion)!];
                    string? textSpec = parse.GetValue(initText), visionSpec = parse.GetValue(initVision);
                    var textSource = textSpec is null ? null : VltPretrained.OpenText(CommonOptions.ResolveModel(textSpec, "--init-text"));
                    var visionSource = visionSpec is null ? null : VltPretrained.OpenVision(CommonOptions.ResolveModel(visionSpec, "--init-vision"));
                    // With pretrained encoders the architecture comes from their configs, on vindlu-b's unless --vlt-config is named.
                    bool named = parse.GetResult(vltConfig) is { Implicit: false };
                    string baseName = named || !vltInit ? parse.GetValue(vltConfig)! : "vindlu-b";
                    var config = VideoLanguagePresets.Resolve(baseName, fusionKind);
                    if (vltInit) config = VltPretrained.Derive(config, named ? baseName : null, textSource, visionSource);

                    // The tokenizer: --tokenizer, else the BERT folder's WordPiece vocabulary, else the bundled CLIP BPE.
                    string tokDir = parse.GetValue(tokenizer)?.FullName ?? textSource?.Folder ?? BundledTokenizer.Folder;
                    if (parse.GetValue(tokenizer) is null && textSource is not null && !WordPieceTokenizer.IsIn(textSource.Folder))
                        throw new VidSeekException($"--init-text {textSource.Folder} has no {WordPieceTokenizer.VocabFile}: give --tokenizer DIR with the model's WordPiece vocabulary");
                    tok = VltTextTokenizer.FromFolder(tokDir, config.Text.MaxPositionEmbeddings);
                    tok.CheckFits(config, tokDir);
                    config = config with { Tokenizer = tok.Kind };

                    torch.manual_seed(options.Seed);
                    vlt = new VideoLanguageModel(config);
                    if (vltInit)
                    {
                        var report = VltPretrained.Load(vlt, textSource, visionSource);
                        if (textSource is not null) initNote += $"; text encoder + fusion layers from {textSource.Folder} ({report.FromText.Count} tensors, cross-attention new)";
                        if (visionSource is not null) initNote += $"; video encoder from {visionSource.Folder} ({report.FromVision.Count} tensors, temporal attention new)";
                    }
                }
                net = vlt;
                trainer = new VltTrainer(vlt, train, val, tok.Tokenize, tok.Files, options, outDir, trainData, resumeFrom: checkpoint);
                what = $"VLT ({vlt.Config.Fusion} fusion, ITC + ITM, {tok.Kind} tokenizer{initNote})";
            }
            else
            {
                string tokDir;
                DualEncoderModel dual;
                if (checkpoint is not null)
                {
                    dual = DualEncoderModel.Load(checkpoint);
                    tokDir = checkpoint;
                }
                else
                {
                    torch.manual_seed(options.Seed);
                    var pooling = parse.GetValue(model) == "meanp" ? VideoPooling.MeanP : VideoPooling.XPool;
                    string? initDir = parse.GetValue(init) is { } i ? CommonOptions.ResolveModel(i, "--init") : null;
                    var backbone = initDir is null ? null : RetrievalCheckpoint.OpenBackbone(initDir);
                    var clipCfg = backbone?.Config ?? ClipPresets.Resolve(parse.GetValue(clipConfig)!);
                    dual = new DualEncoderModel(new DualEncoderConfig { Pooling = pooling, Clip = clipCfg, NumFrames = parse.GetValue(frames) ?? 12, XPoolHeads = parse.GetValue(heads) }, backbone);
                    tokDir = parse.GetValue(tokenizer)?.FullName ?? (initDir is not null && File.Exists(Path.Combine(initDir, ClipTokenizer.VocabFile)) ? initDir : BundledTokenizer.Folder);
                }
                net = dual;
                var tok = ClipTokenizer.FromFolder(tokDir);
                trainer = new Trainer(dual, train, val, tok, tokDir, options, outDir, trainData, checkpoint);
                what = $"{dual.Config.Pooling} ({dual.Config.NumFrames} frames at {dual.Clip.ImageSize}px)";
            }
            using var _ = net;
            using var __ = trainer;
            if (saved is not null && options.Epochs != saved.Options.Epochs)
                ScheduleChange.Announce(trainer, saved, outDir, parse.InvocationConfiguration.Error);

            Cli.Err.MarkupLineInterpolated($"training {what} on {train.Videos.Count} videos / {train.Captions.Count} captions ({trainData.TrainSplit}), {trainer.StepsPerEpoch} steps per epoch x {options.Epochs} epochs, batch {options.BatchSize}");
            using var cancel = new CancellationTokenSource();
            ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; cancel.Cancel(); };
            Console.CancelKeyPress += onCancel;
            TrainingState final;
            try
            {
                final = RunWithProgress(trainer, cancel.Token);
            }
            finally
            {
                Console.CancelKeyPress -= onCancel;
            }

            var table = new Table().AddColumns("epoch", "step", "train loss", "val t2v R@1", "val v2t R@1", "seconds");
            foreach (var r in final.Log)
                table.AddRow(r.Epoch.ToString(), r.Step.ToString(), r.TrainLoss.ToString("F4"), r.ValT2vR1?.ToString("F1") ?? "-", r.ValV2tR1?.ToString("F1") ?? "-", r.Seconds.ToString("F0"));
            Cli.Err.Write(table);
            if (final.GlobalStep < trainer.TotalSteps)
                stdout.WriteLine($"stopped at step {final.GlobalStep} of {trainer.TotalSteps}; continue with: vidseek train --resume {outDir}");
            else
                stdout.WriteLine($"done: {final.GlobalStep} steps in {final.Seconds:F0} s; checkpoints in {Path.Combine(outDir, Trainer.CheckpointDir)} and {Path.Combine(outDir, Trainer.BestDir)}");
            return cancel.IsCancellationRequested ? Cli.Interrupted : 0;
        });
        return command;
    }

    private const string VltModelType = "vidseek-vlt";

    /// <summary>The CLI's fusion names.</summary>
    public static IReadOnlyDictionary<string, FusionKind> FusionNames { get; } = new Dictionary<string, FusionKind>
    {
        ["t2v2t"] = FusionKind.T2V2T, ["naive-t2v2t"] = FusionKind.NaiveT2V2T, ["v2t"] = FusionKind.V2T, ["self-attention"] = FusionKind.SelfAttention,
    };

    private static TrainingState RunWithProgress(TrainingLoop trainer, CancellationToken cancel)
    {
        TrainingState? result = null;
        Cli.Progress().AutoClear(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask("training", maxValue: trainer.Options.MaxSteps > 0 ? Math.Min(trainer.Options.MaxSteps, trainer.TotalSteps) : trainer.TotalSteps);
                task.Value = trainer.State.GlobalStep;
                result = trainer.Run(p =>
                {
                    task.Description = p.Phase is not null
                        ? $"epoch {p.Epoch}: {p.Phase}"
                        : $"epoch {p.Epoch}  loss {p.Loss:F3}  {p.ClipsPerSecond:F1} clips/s";
                    task.Value = p.Step;
                }, cancel);
            });
        return result!;
    }
}
