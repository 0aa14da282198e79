using System.Diagnostics;
using VidSeek.Cli;
using VidSeek.Cli.Commands;
using VidSeek.Index;

namespace VidSeek.Tests.CliBehaviour;

/// <summary>What the CLI prints when nobody watches a terminal (progress in logs) and on an 80-column one (tables).</summary>
[Collection(ProcessStateCollection.Name)]
public class OutputTests
{
    [Fact]
    public void ProgressWithStderrRedirectedIsPlainLinesEndingAt100Percent()
    {
        using var tmp = TestPaths.NewTempDir();
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "vidseek.dll"));
        foreach (var a in new[] { "synth", "--out", Path.Combine(tmp.Path, "shapes"), "--videos", "24", "--size", "32", "--frames", "8", "--workers", "1" }) psi.ArgumentList.Add(a);
        psi.Environment[CliProgress.IntervalVariable] = "0.05";
        using var child = Process.Start(psi)!;
        var stdout = child.StandardOutput.ReadToEndAsync();
        string stderr = child.StandardError.ReadToEnd();
        Assert.True(child.WaitForExit(300_000), "synth did not finish");
        Assert.True(child.ExitCode == 0, stderr);

        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Where(l => l.StartsWith("rendering videos:", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(lines);
        Assert.DoesNotContain('\u001b', stderr);                                     // no terminal escapes in a log
        Assert.Matches(@"^rendering videos: 100% \(24/24 videos, [0-9.]+ videos/s, done, \d+:\d\d elapsed\)$", lines[^1]);
        Assert.All(lines.SkipLast(1), l => Assert.Matches(@"^rendering videos: \d+% \(\d+/24 videos, [0-9.]+ videos/s, ETA (\d+:\d\d|--), \d+:\d\d elapsed\)$", l));
    }

    private static SearchHit Hit(int rank, string path, float[] weights, double? percentile) =>
        new(rank, new IndexedVideo(path, 1, 0, "", 4, 25, 100, 64, 64, []) { Id = rank },
            new IndexedSegment(0, 0, 4, weights.Select((_, i) => i * 4.0 / weights.Length).ToArray(), [], []) { Id = rank },
            0.8f - rank * 0.01f, weights, weights, 2, rank == 2) { Percentile = percentile, StandOut = percentile / 30 };

    [Fact]
    public void SearchTablesFit80ColumnsAndWideShowsEveryWeight()
    {
        var weights = Enumerable.Range(0, 12).Select(i => (i + 1) / 78f).ToArray();
        var shortPaths = Enumerable.Range(1, 5).Select(r => Hit(r, $"clip{r}.mp4", weights, 90 + r)).ToList();
        var longPaths = Enumerable.Range(1, 5).Select(r => Hit(r, $"holidays/2024/summer/the-lake-house/day-{r}/camera-a/long-file-name-{r}.mp4", weights, 10 * r)).ToList();

        string fits = SearchCommand.Render(shortPaths, "xpool", 80);
        Assert.All(fits.Split('\n'), l => Assert.True(l.Length <= 80, $"{l.Length} columns: {l}"));
        Assert.Contains("attention per frame", fits);                                  // the bars fit beside short paths
        Assert.Contains("p95", fits);

        string dropped = SearchCommand.Render(longPaths, "xpool", 80);
        Assert.All(dropped.Split('\n'), l => Assert.True(l.Length <= 80, $"{l.Length} columns: {l}"));
        Assert.Contains("left out to fit 80 columns: --wide or --json show it", dropped);
        Assert.DoesNotContain("▁", dropped);

        string wide = SearchCommand.Render(longPaths, "xpool", 80, wide: true);
        Assert.Contains(string.Join(" ", weights.Select(w => w.ToString("F2"))), wide); // every weight as a number
        Assert.All(longPaths, h => Assert.Contains(h.Video.Path, wide));
    }

    [Fact]
    public void TheTableWidthFollowsColumns()
    {
        string? saved = Environment.GetEnvironmentVariable("COLUMNS");
        try
        {
            Environment.SetEnvironmentVariable("COLUMNS", "80");
            Assert.Equal(80, SearchCommand.TerminalWidth());
            Environment.SetEnvironmentVariable("COLUMNS", "132");
            Assert.Equal(132, SearchCommand.TerminalWidth());
            Environment.SetEnvironmentVariable("COLUMNS", "nonsense");
            Assert.Equal(80, SearchCommand.TerminalWidth());
        }
        finally { Environment.SetEnvironmentVariable("COLUMNS", saved); }
    }
}

/// <summary><c>--threads</c> on every command.</summary>
[Collection(ProcessStateCollection.Name)]
public class ThreadsOptionTests
{
    [Fact]
    public void ThreadsIsAcceptedByEveryCommandAndCheckedForRange()
    {
        var bad = CliRunner.Run("search", "nothing.vsi", "x", "--threads", "0");
        Assert.Equal(2, bad.Code);
        Assert.StartsWith("error: --threads must be from 1 to 1024", bad.Err);
        // Parsed on a subcommand (recursive option): the command then runs and reports its own error (no such index).
        var missing = CliRunner.Run("search", Path.Combine(Path.GetTempPath(), "no-such-index.vsi"), "x", "--threads", "2");
        Assert.Equal(1, missing.Code);
        Assert.Contains("index not found", missing.Err);
        Assert.Equal(2, TorchSharp.torch.get_num_threads());
        Assert.Equal(2, OpenCvSharp.Cv2.GetNumThreads());
    }
}
