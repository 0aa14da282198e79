using VidSeek.Training;

namespace VidSeek.Tests.Training;

/// <summary><c>train --resume RUN --epochs N</c> extends a finished run and recomputes its schedule.</summary>
[Collection(ProcessStateCollection.Name)]
public class TrainExtendTests
{
    [Fact]
    public void ResumeWithMoreEpochsExtendsTheRun()
    {
        using var tmp = TestPaths.NewTempDir();
        string data = Path.Combine(tmp.Path, "data"), run = Path.Combine(tmp.Path, "run");
        TrainEvalCliTests.WriteCorpus(data);

        var first = CliRunner.Run("train", "--model", "meanp", "--clip-config", "tiny", "--data", data, "--out", run,
            "--epochs", "1", "--batch-size", "3", "--frames", "2");
        Assert.True(first.Code == 0, first.Err);
        Assert.Contains("done: 2 steps", first.Out);

        // Without --epochs a finished run stays finished.
        var again = CliRunner.Run("train", "--resume", run);
        Assert.True(again.Code == 0, again.Err);
        Assert.Contains("done: 2 steps", again.Out);

        var extended = CliRunner.Run("train", "--resume", run, "--epochs", "2");
        Assert.True(extended.Code == 0, extended.Err);
        Assert.Contains("total steps 2 -> 4", extended.Err);
        Assert.Contains("schedule is recomputed", extended.Err);
        Assert.Contains("done: 4 steps", extended.Out);
        var state = TrainingState.Load(Path.Combine(run, "checkpoint", "trainer_state.json"));
        Assert.Equal(4, state.GlobalStep);
        Assert.Equal(2, state.Options.Epochs);
        Assert.Equal([1, 2], state.Log.Select(r => r.Epoch));

        var shorter = CliRunner.Run("train", "--resume", run, "--epochs", "1");
        Assert.Equal(1, shorter.Code);
        Assert.StartsWith("error: --epochs 1:", shorter.Err.Trim());
        Assert.Contains("at least --epochs 2", shorter.Err);
        Assert.Equal(4, TrainingState.Load(Path.Combine(run, "checkpoint", "trainer_state.json")).GlobalStep);
    }
}
