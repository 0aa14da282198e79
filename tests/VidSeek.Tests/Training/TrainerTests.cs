using TorchSharp;
using VidSeek.Models.DualEncoder;
using VidSeek.Retrieval;
using VidSeek.Training;
using VidSeek.Video;
using static TorchSharp.torch;

namespace VidSeek.Tests.Training;

[Collection(ProcessStateCollection.Name)]
public class TrainerTests
{
    private static TrainOptions Options(int epochs = 2) => new()
    {
        Epochs = epochs, BatchSize = 3, ClipLr = 1e-3, HeadLr = 1e-3, Seed = 5, RandomResizedCrop = true, Sampling = SamplingMode.Random,
    };

    [Theory]
    [InlineData(VideoPooling.MeanP)]
    [InlineData(VideoPooling.XPool)]
    public void StepsOnAFixedBatchLowerTheLoss(VideoPooling pooling)
    {
        using var model = TinySetup.NewModel(pooling);
        var split = TinySetup.Split();
        var frames = new VideoFrameSource(split.Videos, 4, 32);
        using var pixels = torch.stack(Enumerable.Range(0, 4).Select(frames.EvalClip).ToList(), 0);
        using var ids = TinySetup.Tokenizer.EncodeBatch(split.Captions.Where(c => c.Type == "segment").Take(4).Select(c => c.Text).ToList(), 16).ToTensor();
        using var opt = torch.optim.AdamW(model.parameters(), lr: 1e-3);
        model.train();
        var losses = new List<float>();
        for (int i = 0; i < 20; i++)
        {
            using var scope = torch.NewDisposeScope();
            torch.manual_seed(i);
            var sims = model.Similarity(model.EncodeText(ids), model.EncodeVideo(pixels)).Sims;
            var loss = InfoNceLoss.Compute(sims, model.LogitScale());
            opt.zero_grad();
            loss.backward();
            opt.step();
            losses.Add(loss.item<float>());
        }
        Assert.True(losses[^1] < losses[0] * 0.8, $"loss went {string.Join(" -> ", losses.Select(l => l.ToString("F3")))}");
    }

    [Fact]
    public void InfoNceIsSymmetricCrossEntropyWithTemperature()
    {
        using var sims = torch.tensor(new float[] { 0.9f, 0.1f, 0.2f, 0.8f }, 2, 2);
        using var scale = torch.tensor((float)Math.Log(10));
        double l(double a, double b) => -Math.Log(Math.Exp(a) / (Math.Exp(a) + Math.Exp(b)));
        double t2v = (l(9, 1) + l(8, 2)) / 2, v2t = (l(9, 2) + l(8, 1)) / 2;
        Assert.Equal((t2v + v2t) / 2, InfoNceLoss.Compute(sims, scale).item<float>(), 5);
    }

    [Fact]
    public void TrainingReportWritesCsvAndPng()
    {
        using var tmp = TestPaths.NewTempDir();
        var log = new List<EpochLog> { new(1, 10, 3.4, 2.0, 1.0, 1e-3, 12), new(2, 20, 2.9, null, null, 5e-4, 25) };
        TrainingReport.WriteCsv(Path.Combine(tmp.Path, "log.csv"), log);
        TrainingReport.WritePlot(Path.Combine(tmp.Path, "training.png"), log);
        Assert.Equal(["epoch,step,train_loss,val_t2v_r1,val_v2t_r1,clip_lr,seconds", "1,10,3.4,2,1,0.001,12", "2,20,2.9,,,0.0005,25"],
            File.ReadAllLines(Path.Combine(tmp.Path, "log.csv")));
        var png = File.ReadAllBytes(Path.Combine(tmp.Path, "training.png"));
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, png[..4]);
        if (Environment.GetEnvironmentVariable("VIDSEEK_KEEP_PLOT") is { Length: > 0 } keep) File.Copy(Path.Combine(tmp.Path, "training.png"), keep, true);
    }

    [Fact]
    public void CosineScheduleWarmsUpThenDecaysToZero()
    {
        var s = new CosineSchedule(100, 0.1);
        Assert.Equal(0.1, s.Factor(0), 9);
        Assert.Equal(1.0, s.Factor(9), 9);
        Assert.Equal(0.5, s.Factor(55), 9);
        Assert.True(s.Factor(99) < 0.001);
    }

    [Theory]
    [InlineData(VideoPooling.MeanP)]
    [InlineData(VideoPooling.XPool)]
    public void CheckpointSaveThenLoadGivesIdenticalSimilarities(VideoPooling pooling)
    {
        using var tmp = TestPaths.NewTempDir();
        using var model = TinySetup.NewModel(pooling, seed: 3);
        model.Save(tmp.Path);
        using var again = DualEncoderModel.Load(tmp.Path);
        model.eval();
        using var _ = torch.no_grad();
        using var text = torch.randn(5, 32);
        using var frames = torch.randn(3, 4, 32);
        Assert.Equal(0f, (model.Similarity(text, frames).Sims - again.Similarity(text, frames).Sims).abs().max().item<float>());
    }

    /// <summary>Stopping after 2 steps and resuming from the checkpoint ends bit-identical to a run that never stopped.</summary>
    [Fact]
    public void ResumeContinuesExactlyWhereTheRunStopped()
    {
        var split = TinySetup.Split();
        using var straightDir = TestPaths.NewTempDir();
        using var resumedDir = TestPaths.NewTempDir();
        var opts = Options(epochs: 2); // 6 videos / batch 3 = 2 steps per epoch, 4 in all

        using var straight = TinySetup.NewModel(VideoPooling.XPool, seed: 1);
        using (var t = new Trainer(straight, split, split, TinySetup.Tokenizer, TinySetup.TokenizerDir, opts, straightDir.Path, new TrainData { Root = "fixtures" }))
            Assert.Equal(4, t.Run().GlobalStep);

        using (var first = TinySetup.NewModel(VideoPooling.XPool, seed: 1))
        using (var t = new Trainer(first, split, split, TinySetup.Tokenizer, TinySetup.TokenizerDir, opts with { MaxSteps = 3 }, resumedDir.Path, new TrainData { Root = "fixtures" }))
            Assert.Equal(3, t.Run().GlobalStep);
        string? ckpt = Trainer.FindCheckpoint(resumedDir.Path);
        Assert.NotNull(ckpt);
        using var resumed = DualEncoderModel.Load(ckpt!);
        var saved = TrainingState.Load(Path.Combine(ckpt!, "trainer_state.json"));
        using (var t = new Trainer(resumed, split, split, TinySetup.Tokenizer, TinySetup.TokenizerDir, saved.Options with { MaxSteps = 0 }, resumedDir.Path, new TrainData { Root = "fixtures" }, resumeFrom: ckpt))
            Assert.Equal(4, t.Run().GlobalStep);

        var a = straight.state_dict();
        var b = resumed.state_dict();
        foreach (var (key, value) in a)
            Assert.True((value - b[key]).abs().max().item<float>() == 0f, $"{key} differs after resume");
        Assert.True(File.Exists(Path.Combine(resumedDir.Path, "log.csv")));
        Assert.True(File.Exists(Path.Combine(resumedDir.Path, "training.png")));
        Assert.Equal(File.ReadAllText(Path.Combine(straightDir.Path, "log.csv")).Split('\n').Length, File.ReadAllText(Path.Combine(resumedDir.Path, "log.csv")).Split('\n').Length);
    }

    [Fact]
    public void ChunkedSimilarityEqualsTheWholeMatrix()
    {
        using var model = TinySetup.NewModel(VideoPooling.XPool, seed: 2);
        model.eval();
        using var _ = torch.no_grad();
        using var text = torch.randn(11, 32);
        using var frames = torch.randn(7, 4, 32);
        var whole = model.Similarity(text, frames).Sims.contiguous().data<float>().ToArray();
        var chunked = model.SimilarityMatrix(text, frames, textChunk: 4, videoChunk: 3);
        // Blocks of other shapes sum in another order: equal to float rounding, not bit for bit.
        for (int i = 0; i < whole.Length; i++) Assert.True(Math.Abs(whole[i] - chunked[i]) < 1e-6, $"{i}: {whole[i]} vs {chunked[i]}");
    }

    [Fact]
    public void EvaluationReportsOverallAndPerCaptionType()
    {
        using var model = TinySetup.NewModel(VideoPooling.MeanP);
        var split = TinySetup.Split();
        var texts = new VidSeek.Models.Clip.ClipTextEmbedder(model.Clip, TinySetup.Tokenizer, TinySetup.TokenizerDir);
        var result = Evaluator.Evaluate(model, split, new VideoFrameSource(split.Videos, 4, 32), texts);
        Assert.Equal(12, result.Overall.TextToVideo.Queries);
        Assert.Equal(6, result.Overall.VideoToText.Queries);
        Assert.Equal(["full", "segment"], result.ByType.Keys.Order());
        Assert.Equal(6, result.ByType["full"].TextToVideo.Queries);
        var dsl = Evaluator.Evaluate(model, split, new VideoFrameSource(split.Videos, 4, 32), texts, new EvalOptions { DualSoftmax = true });
        Assert.Equal(12, dsl.Overall.TextToVideo.Queries);
    }
}
