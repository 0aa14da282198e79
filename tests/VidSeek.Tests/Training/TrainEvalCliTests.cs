using System.Text.Json;
using VidSeek.Training;

namespace VidSeek.Tests.Training;

/// <summary><c>vidseek train</c> and <c>vidseek eval</c> end to end on a small MSR-VTT-layout corpus made of the fixture videos.</summary>
[Collection(ProcessStateCollection.Name)]
public class TrainEvalCliTests
{
    /// <summary>Writes MSRVTT_data.json with 6 train and the same 6 as val videos (symlinked fixture files).</summary>
    internal static void WriteCorpus(string root)
    {
        var split = TinySetup.Split();
        Directory.CreateDirectory(Path.Combine(root, "videos"));
        var videos = new List<object>();
        var sentences = new List<object>();
        foreach (var name in new[] { "train", "val" })
            for (int i = 0; i < split.Videos.Count; i++)
            {
                string id = $"{name}{i}";
                File.CreateSymbolicLink(Path.Combine(root, "videos", id + ".mp4"), split.Videos[i].Path);
                videos.Add(new { video_id = id, split = name });
                foreach (var c in split.Captions.Where(c => c.VideoIndex == i))
                    sentences.Add(new { caption = c.Text, video_id = id, type = c.Type });
            }
        File.WriteAllText(Path.Combine(root, "MSRVTT_data.json"), JsonSerializer.Serialize(new { videos, sentences }));
    }

    [Fact]
    public void TrainStopResumeThenEvaluate()
    {
        using var tmp = TestPaths.NewTempDir();
        string data = Path.Combine(tmp.Path, "data"), run = Path.Combine(tmp.Path, "run");
        WriteCorpus(data);

        var first = CliRunner.Run("train", "--model", "xpool", "--clip-config", "tiny", "--data", data, "--val-split", "val", "--out", run,
            "--epochs", "2", "--batch-size", "3", "--frames", "2", "--max-steps", "3");
        Assert.True(first.Code == 0, first.Err);
        Assert.Contains("stopped at step 3 of 4", first.Out);
        Assert.Contains("already holds a run", CliRunner.Run("train", "--model", "xpool", "--clip-config", "tiny", "--data", data, "--out", run).Err);

        var resumed = CliRunner.Run("train", "--resume", run);
        Assert.True(resumed.Code == 0, resumed.Err);
        Assert.Contains("done: 4 steps", resumed.Out);
        var log = File.ReadAllLines(Path.Combine(run, "log.csv"));
        Assert.Equal(3, log.Length); // header + 2 epochs
        Assert.True(File.Exists(Path.Combine(run, "training.png")));
        Assert.Equal(4, TrainingState.Load(Path.Combine(run, "checkpoint", "trainer_state.json")).GlobalStep);

        var eval = CliRunner.Run("eval", "--checkpoint", Path.Combine(run, "checkpoint"), "--data", data, "--split", "val", "--json");
        Assert.True(eval.Code == 0, eval.Err);
        using var doc = JsonDocument.Parse(eval.Out);
        var results = doc.RootElement.GetProperty("results");
        Assert.Equal(12, results.GetProperty("all").GetProperty("t2v").GetProperty("queries").GetInt32());
        Assert.Equal(6, results.GetProperty("full").GetProperty("t2v").GetProperty("queries").GetInt32());
        double r1 = results.GetProperty("all").GetProperty("t2v").GetProperty("R1").GetProperty("mean").GetDouble();
        Assert.InRange(r1, 0, 100);

        // A second head fine-tuned on the first run's CLIP backbone.
        var onTop = CliRunner.Run("train", "--model", "meanp", "--init", Path.Combine(run, "checkpoint"), "--data", data, "--out", Path.Combine(tmp.Path, "run2"),
            "--epochs", "1", "--batch-size", "3", "--frames", "2");
        Assert.True(onTop.Code == 0, onTop.Err);
        Assert.Contains("done: 2 steps", onTop.Out);

        // Two checkpoints: mean and sample std over them.
        var two = CliRunner.Run("eval", "--checkpoint", Path.Combine(run, "checkpoint"), "--checkpoint", Path.Combine(run, "best"), "--data", data, "--split", "val", "--json");
        Assert.True(two.Code == 0, two.Err);
        using var doc2 = JsonDocument.Parse(two.Out);
        Assert.Equal(2, doc2.RootElement.GetProperty("results").GetProperty("all").GetProperty("t2v").GetProperty("runs").GetInt32());
    }

    [Fact]
    public void TrainWithoutABackboneOrDataIsAClearError()
    {
        Assert.NotEqual(0, CliRunner.Run("train", "--data", "/nowhere", "--out", "/tmp/x").Code);
        var (code, _, err) = CliRunner.Run("train", "--clip-config", "tiny", "--data", "/nowhere/at/all", "--out", Path.Combine(Path.GetTempPath(), "vidseek-never"));
        Assert.Equal(1, code);
        Assert.Contains("/nowhere/at/all", err);
        Assert.Contains("unknown --format", CliRunner.Run("eval", "--checkpoint", "/x", "--data", "/x", "--format", "webvid").Err);
    }

    [Fact]
    public void VltTrainStopResumeThenEvaluateItcAndReranked()
    {
        using var tmp = TestPaths.NewTempDir();
        string data = Path.Combine(tmp.Path, "data"), run = Path.Combine(tmp.Path, "run"), config = Path.Combine(tmp.Path, "tiny-vlt.json");
        WriteCorpus(data);
        var tiny = Vlt.VltTrainingTests.Tiny();
        File.WriteAllText(config, (tiny with { Text = tiny.Text with { VocabSize = 49408 } }).ToJson());

        var first = CliRunner.Run("train", "--model", "vlt", "--fusion", "naive-t2v2t", "--vlt-config", config, "--data", data, "--val-split", "val",
            "--out", run, "--epochs", "2", "--batch-size", "3", "--frames", "2", "--eval-frames", "2", "--rerank-k", "2", "--max-steps", "3");
        Assert.True(first.Code == 0, first.Err);
        Assert.Contains("\"NaiveT2V2T\"", File.ReadAllText(Path.Combine(run, "checkpoint", "config.json")));
        Assert.Contains("stopped at step 3 of 4", first.Out);
        var resumed = CliRunner.Run("train", "--resume", run);
        Assert.True(resumed.Code == 0, resumed.Err);
        Assert.Contains("done: 4 steps", resumed.Out);
        var state = TrainingState.Load(Path.Combine(run, "checkpoint", "trainer_state.json"));
        Assert.Equal((2, 2, 2), (state.Options.TrainFrames, state.Options.EvalFrames, state.Options.RerankK)); // saved, so a resume uses them
        Assert.True(File.Exists(Path.Combine(run, "checkpoint", "vocab.json")));

        var eval = CliRunner.Run("eval", "--checkpoint", Path.Combine(run, "checkpoint"), "--data", data, "--split", "val", "--frames", "2", "--rerank-k", "3", "--json");
        Assert.True(eval.Code == 0, eval.Err);
        using var doc = JsonDocument.Parse(eval.Out);
        Assert.Equal(3, doc.RootElement.GetProperty("rerank_k").GetInt32());
        var stages = doc.RootElement.GetProperty("stages");
        foreach (var stage in new[] { "itc", "itm-reranked" })
            Assert.Equal(12, stages.GetProperty(stage).GetProperty("all").GetProperty("t2v").GetProperty("queries").GetInt32());
        var table = CliRunner.Run("eval", "--checkpoint", Path.Combine(run, "checkpoint"), "--data", data, "--split", "val", "--frames", "2");
        Assert.Contains("ITC + ITM", table.Out);
        Assert.Contains("ITM re-ranks the top 6", table.Out);

        var mixed = CliRunner.Run("eval", "--checkpoint", Path.Combine(run, "checkpoint"), TestPaths.Golden + "/clip-tiny", "--data", data, "--split", "val");
        Assert.Equal(1, mixed.Code);
        Assert.Contains("mixes", mixed.Err);
        var init = CliRunner.Run("train", "--model", "vlt", "--init", run, "--data", data, "--out", Path.Combine(tmp.Path, "x"));
        Assert.Equal(2, init.Code);
        Assert.Contains("--init is not supported with --model vlt", init.Err + init.Out);
    }
}
