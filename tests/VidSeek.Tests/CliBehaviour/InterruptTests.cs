using System.Diagnostics;
using VidSeek.Training;

namespace VidSeek.Tests.CliBehaviour;

/// <summary>Ctrl+C (SIGINT) on a child <c>vidseek</c>: exit code 130 after saving, and the run can continue.</summary>
[Collection(ProcessStateCollection.Name)]
public class InterruptTests
{
    [Fact]
    public void InterruptedTrainingExits130AndResumes()
    {
        if (!OperatingSystem.IsLinux()) return; // kill(1) sends the signal
        using var tmp = TestPaths.NewTempDir();
        string data = Path.Combine(tmp.Path, "data"), run = Path.Combine(tmp.Path, "run");
        Training.TrainEvalCliTests.WriteCorpus(data);

        var (code, _, err) = RunAndInterrupt(["train", "--model", "meanp", "--clip-config", "tiny", "--data", data, "--out", run,
            "--epochs", "500", "--batch-size", "3", "--frames", "2"],
            () => File.Exists(Path.Combine(run, "log.csv"))); // at least one epoch done
        Assert.True(code == 130, $"exit {code}: {err}");
        var state = TrainingState.Load(Path.Combine(run, "checkpoint", "trainer_state.json"));
        Assert.InRange(state.GlobalStep, 2, 999);

        var resumed = CliRunner.Run("train", "--resume", run, "--max-steps", (state.GlobalStep + 1).ToString());
        Assert.True(resumed.Code == 0, resumed.Err);
        Assert.Contains($"stopped at step {state.GlobalStep + 1} of 1000", resumed.Out);
    }

    [Fact]
    public void InterruptedSynthExits130AndARerunSucceeds()
    {
        if (!OperatingSystem.IsLinux()) return;
        using var tmp = TestPaths.NewTempDir();
        string corpus = Path.Combine(tmp.Path, "shapes"), videos = Path.Combine(corpus, "videos");

        var (code, _, err) = RunAndInterrupt(["synth", "--out", corpus, "--videos", "3000", "--size", "32", "--frames", "8", "--workers", "1"],
            () => Directory.Exists(videos) && Directory.EnumerateFiles(videos, "*.mp4").Count() >= 3);
        Assert.True(code == 130, $"exit {code}: {err}");
        Assert.Contains("interrupted", err);
        Assert.False(File.Exists(Path.Combine(corpus, "shapes.json")));

        var rerun = CliRunner.Run("synth", "--out", corpus, "--videos", "12", "--size", "32", "--frames", "8");
        Assert.True(rerun.Code == 0, rerun.Err);
        Assert.True(File.Exists(Path.Combine(corpus, "shapes.json")));
        Assert.Equal(12, Directory.EnumerateFiles(videos, "*.mp4").Count());

        // A finished corpus is still protected.
        Assert.Equal(1, CliRunner.Run("synth", "--out", corpus, "--videos", "12", "--size", "32", "--frames", "8").Code);
    }

    /// <summary>Starts <c>vidseek args</c>, sends SIGINT once <paramref name="ready"/> holds, and waits for it to exit.</summary>
    private static (int Code, string Out, string Err) RunAndInterrupt(string[] args, Func<bool> ready)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "vidseek.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var child = Process.Start(psi)!;
        var stdout = child.StandardOutput.ReadToEndAsync();
        var stderr = child.StandardError.ReadToEndAsync();
        var clock = Stopwatch.StartNew();
        try
        {
            while (!ready())
            {
                if (child.HasExited) throw new InvalidOperationException($"vidseek ended before it could be interrupted ({child.ExitCode}): {stderr.Result}");
                if (clock.Elapsed > TimeSpan.FromSeconds(120)) throw new TimeoutException("vidseek never became ready to interrupt");
                Thread.Sleep(50);
            }
            using (var kill = Process.Start("kill", ["-INT", child.Id.ToString()])!) kill.WaitForExit();
            if (!child.WaitForExit(120_000)) throw new TimeoutException("vidseek did not stop after SIGINT");
            return (child.ExitCode, stdout.Result, stderr.Result);
        }
        finally
        {
            if (!child.HasExited) child.Kill(entireProcessTree: true);
        }
    }
}
