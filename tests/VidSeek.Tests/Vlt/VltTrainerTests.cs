using TorchSharp;
using VidSeek.Models.Vlt;
using VidSeek.Retrieval;
using VidSeek.Tests.Training;
using VidSeek.Training;
using static TorchSharp.torch;

namespace VidSeek.Tests.Vlt;

/// <summary><see cref="VltTrainer"/> on the 6 fixture videos with the tiny VLT: files written, exact resume.</summary>
[Collection(ProcessStateCollection.Name)]
public class VltTrainerTests
{
    /// <summary>A stand-in for BERT's tokenizer: [CLS] = 1, each word hashed to 2..99, zero padding to 8 tokens.</summary>
    private static (Tensor Ids, Tensor Mask) Tokenize(IReadOnlyList<string> texts)
    {
        var ids = new long[texts.Count * 8];
        var mask = new long[texts.Count * 8];
        for (int r = 0; r < texts.Count; r++)
        {
            var words = texts[r].Split(' ').Take(7).ToArray();
            ids[r * 8] = 1; mask[r * 8] = 1;
            for (int i = 0; i < words.Length; i++)
            {
                ids[r * 8 + 1 + i] = 2 + words[i].Aggregate(7, (h, c) => (h * 31 + c) & 0xFFFF) % 98;
                mask[r * 8 + 1 + i] = 1;
            }
        }
        return (torch.tensor(ids, texts.Count, 8), torch.tensor(mask, texts.Count, 8));
    }

    private static TrainOptions Options(int epochs) => new()
    {
        Epochs = epochs, BatchSize = 3, ClipLr = 1e-3, HeadLr = 1e-3, WeightDecay = 0.01, Seed = 5, RandomResizedCrop = true,
    };

    private static VltTrainer NewTrainer(VideoLanguageModel model, string dir, TrainOptions options, string? resumeFrom = null)
    {
        var split = TinySetup.Split();
        return new VltTrainer(model, split, split, Tokenize, null, options with { TrainFrames = 2, EvalFrames = 2, RerankK = 2 }, dir,
            new TrainData { Root = "fixtures" }, resumeFrom: resumeFrom);
    }

    [Fact]
    public void ResumeContinuesExactlyAndWritesTheCheckpointFiles()
    {
        using var straightDir = TestPaths.NewTempDir();
        using var resumedDir = TestPaths.NewTempDir();
        var opts = Options(epochs: 2); // 6 videos / batch 3 = 2 steps per epoch, 4 in all

        using var straight = VltTrainingTests.NewModel(1, randomize: false);
        var parts = new List<VltStepLoss>();
        using (var t = NewTrainer(straight, straightDir.Path, opts))
            Assert.Equal(4, t.Run(null, default, parts.Add).GlobalStep);
        Assert.Equal(4, parts.Count);
        Assert.All(parts, p => Assert.Equal(p.Itc + p.Itm, p.Total, 4));

        using (var first = VltTrainingTests.NewModel(1, randomize: false))
        using (var t = NewTrainer(first, resumedDir.Path, opts with { MaxSteps = 1 }))
            Assert.Equal(1, t.Run().GlobalStep);
        string checkpoint = Trainer.FindCheckpoint(resumedDir.Path)!;
        foreach (var f in new[] { "model.safetensors", "config.json", "optimizer.bin", "trainer_state.json" })
            Assert.True(File.Exists(Path.Combine(checkpoint, f)), f);
        using var resumed = VideoLanguageModel.Load(checkpoint);
        using (var t = NewTrainer(resumed, resumedDir.Path, opts, checkpoint))
            Assert.Equal(4, t.Run().GlobalStep);

        var a = straight.state_dict();
        var b = resumed.state_dict();
        foreach (var (key, value) in a) TensorAssert.Close(value, b[key], 0, key);
        Assert.Equal(["epoch,step,train_loss,val_t2v_r1,val_v2t_r1,clip_lr,seconds"], File.ReadAllLines(Path.Combine(straightDir.Path, "log.csv"))[..1]);
        Assert.Equal(3, File.ReadAllLines(Path.Combine(resumedDir.Path, "log.csv")).Length);
        Assert.True(File.Exists(Path.Combine(straightDir.Path, "training.png")));
        Assert.True(File.Exists(Path.Combine(straightDir.Path, Trainer.BestDir, "model.safetensors")));
    }
}
