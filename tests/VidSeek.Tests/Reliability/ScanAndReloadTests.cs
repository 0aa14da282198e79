using System.Diagnostics;
using System.Net;
using System.Text.Json;
using VidSeek.Index;
using VidSeek.Tests.Index;
using VidSeek.Web;

namespace VidSeek.Tests.Reliability;

/// <summary>
/// Folder scanning (FIFOs, link loops, broken links), <c>serve</c> catching up with a re-index, native libraries' log lines,
/// and memory at the largest <c>--frames</c>.
/// </summary>
[Collection(ProcessStateCollection.Name)]
public sealed class ScanAndReloadTests(IndexFixture fixture) : IClassFixture<IndexFixture>
{
    private static readonly CancellationToken Cancel = TestContext.Current.CancellationToken;

    private static void MkFifo(string path)
    {
        using var p = Process.Start("mkfifo", path)!;
        p.WaitForExit();
        Assert.Equal(0, p.ExitCode);
    }

    private (int Code, string Out, string Err) IndexBounded(string videos, string index)
    {
        var run = Task.Run(() => CliRunner.Run("index", videos, "--model", fixture.Model, "--out", index));
        Assert.True(run.Wait(TimeSpan.FromSeconds(120), Cancel), "index hung");
        return run.Result;
    }

    [Fact]
    public void AFifoNamedLikeAVideoIsSkippedNotOpened()
    {
        string videos = fixture.NewVideoFolder("bars_h264.mp4", "numbered_h264.mp4");
        try
        {
            MkFifo(Path.Combine(videos, "x.mp4"));
            string index = Path.Combine(fixture.Tmp, $"fifo-{Guid.NewGuid():N}.vsi");
            var (code, stdout, stderr) = IndexBounded(videos, index);
            Assert.True(code == 0, stderr);
            Assert.Contains("2 videos in", stdout);
            Assert.Contains("1 failed to decode", stdout);
            Assert.Contains($"skipped x.mp4: {Path.Combine(videos, "x.mp4")} is empty or not a regular file", stderr);
        }
        finally { Directory.Delete(videos, true); }
    }

    [Fact]
    public void ALinkLoopIsFollowedOnceAndBrokenLinksAreReportedAndSkipped()
    {
        string videos = fixture.NewVideoFolder("bars_h264.mp4", "numbered_h264.mp4", "counter_mpeg4.mp4"); // the last two in sub/
        try
        {
            string sub = Path.Combine(videos, "sub");
            Directory.CreateSymbolicLink(Path.Combine(sub, "up"), "..");                 // a loop: sub/up/sub/up/...
            Directory.CreateSymbolicLink(Path.Combine(videos, "again"), sub);             // a second way into sub
            File.CreateSymbolicLink(Path.Combine(videos, "dangling.mp4"), Path.Combine(videos, "missing.mp4"));
            File.CreateSymbolicLink(Path.Combine(videos, "self.mp4"), Path.Combine(videos, "self.mp4"));
            var skipped = new List<(string Path, string Why)>();
            var (found, _) = VideoFiles.Scan(videos, (p, w) => skipped.Add((p, w)));
            Assert.Equal(["bars_h264.mp4", "sub/counter_mpeg4.mp4", "sub/numbered_h264.mp4"],
                found.Select(v => IndexBuilder.RelativePath(videos, v.FullPath)));
            Assert.Contains(skipped, s => s.Path == Path.Combine(videos, "dangling.mp4") && s.Why.Contains("leads nowhere"));
            Assert.Contains(skipped, s => s.Path == Path.Combine(videos, "self.mp4") && s.Why.Contains("leads nowhere"));
            Assert.Contains(skipped, s => s.Path == Path.Combine(sub, "up") && s.Why.Contains("already scanned"));
            Assert.Contains(skipped, s => s.Path == Path.Combine(videos, "again") && s.Why.Contains("already scanned"));

            string index = Path.Combine(fixture.Tmp, $"loop-{Guid.NewGuid():N}.vsi");
            var (code, stdout, stderr) = IndexBounded(videos, index);
            Assert.True(code == 0, stderr);
            Assert.Contains("3 videos in", stdout);
            Assert.Contains("warning: skipped", stderr);
            Assert.DoesNotContain("   at ", stderr);
        }
        finally { Directory.Delete(videos, true); }
    }

    [Fact]
    public void ALinkToAFolderOutsideIsScannedOnce()
    {
        string videos = fixture.NewVideoFolder("bars_h264.mp4");
        string outside = fixture.NewVideoFolder("numbered_h264.mp4");
        try
        {
            Directory.CreateSymbolicLink(Path.Combine(videos, "a"), outside);
            Directory.CreateSymbolicLink(Path.Combine(videos, "b"), outside);
            var (found, _) = VideoFiles.Scan(videos);
            Assert.Equal(["a/numbered_h264.mp4", "bars_h264.mp4"], found.Select(v => IndexBuilder.RelativePath(videos, v.FullPath)));
        }
        finally
        {
            Directory.Delete(videos, true);
            Directory.Delete(outside, true);
        }
    }

    [Fact]
    public async Task ServeShowsAReindexWithoutRestartAndAStaleIdIsNotFound()
    {
        string videos = fixture.NewVideoFolder("bars_h264.mp4", "numbered_h264.mp4");
        string index = Path.Combine(fixture.Tmp, $"reload-{Guid.NewGuid():N}.vsi");
        try
        {
            Assert.Equal(0, CliRunner.Run("index", videos, "--model", fixture.Model, "--out", index).Code);
            await using var server = await SearchServer.StartAsync(VideoSearcher.Open(index), new ServeOptions { Port = 0 });
            using var http = new HttpClient { BaseAddress = new Uri(server.Url) };

            async Task<Dictionary<string, (long Video, long Segment)>> Paths()
            {
                var body = await http.GetStringAsync("/api/search?q=a%20moving%20shape&k=50", Cancel);
                return JsonDocument.Parse(body).RootElement.GetProperty("results").EnumerateArray()
                    .ToDictionary(r => r.GetProperty("path").GetString()!, r => (r.GetProperty("video_id").GetInt64(), r.GetProperty("segment_id").GetInt64()));
            }

            var before = await Paths();
            Assert.Equal(["bars_h264.mp4", "numbered_h264.mp4"], before.Keys.Order());
            var (goneVideo, goneSegment) = before["bars_h264.mp4"];
            Assert.Equal(HttpStatusCode.OK, (await http.GetAsync($"/api/thumbnail/{goneSegment}/0", Cancel)).StatusCode);

            // Re-index with one file removed and one added, while the server runs.
            File.Delete(Path.Combine(videos, "bars_h264.mp4"));
            File.Copy(Path.Combine(TestPaths.Videos, "counter_mpeg4.mp4"), Path.Combine(videos, "counter_mpeg4.mp4"));
            var (code, _, err) = CliRunner.Run("index", videos, "--model", fixture.Model, "--out", index);
            Assert.True(code == 0, err);

            var after = await Paths();
            Assert.Equal(["counter_mpeg4.mp4", "numbered_h264.mp4"], after.Keys.Order());
            Assert.Equal(before["numbered_h264.mp4"], after["numbered_h264.mp4"]);          // an unchanged video keeps its ids
            Assert.DoesNotContain(goneVideo, after.Values.Select(v => v.Video));             // ids are never reused
            Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync($"/api/video/{goneVideo}", Cancel)).StatusCode);
            Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync($"/api/preview/{goneVideo}", Cancel)).StatusCode);
            Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync($"/api/thumbnail/{goneSegment}/0", Cancel)).StatusCode);
            var added = after["counter_mpeg4.mp4"];
            Assert.Equal(HttpStatusCode.OK, (await http.GetAsync($"/api/video/{added.Video}", Cancel)).StatusCode);
        }
        finally { Directory.Delete(videos, true); }
    }

    [Fact]
    public void CorruptVideosLeaveOnlyVidSeeksLinesOnStderr()
    {
        // A child process: FFmpeg and OpenCV write to file descriptor 2 directly, which only a real stderr shows.
        string videos = fixture.NewVideoFolder("bars_h264.mp4", "corrupt_truncated.mp4", "not_a_video.mp4");
        try
        {
            string index = Path.Combine(fixture.Tmp, $"noisy-{Guid.NewGuid():N}.vsi");
            var (code, stdout, stderr) = IndexTests.RunChild(["index", videos, "--model", fixture.Model, "--out", index]);
            Assert.True(code == 0, stderr);
            Assert.Contains("2 failed to decode", stdout);
            var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            var foreign = lines.Where(l => !(l.StartsWith("skipped ") || l.StartsWith("warning: ") || l.StartsWith("indexing") || l.StartsWith("error: "))).ToList();
            Assert.True(foreign.Count == 0, "lines not from VidSeek on stderr:\n" + string.Join('\n', foreign));
            Assert.Equal(2, lines.Count(l => l.StartsWith("skipped ")));

            var embed = IndexTests.RunChild(["embed-video", "--model", fixture.Model, Path.Combine(videos, "sub", "corrupt_truncated.mp4")]);
            Assert.Equal(1, embed.Code);
            var embedLines = embed.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => !l.StartsWith("embedding videos")).ToList();
            Assert.True(embedLines is [var only] && only.StartsWith("error: "), "embed-video stderr:\n" + embed.Err);
        }
        finally { Directory.Delete(videos, true); }
    }

    /// <summary>The peak resident memory (VmHWM) of a child process, read from /proc while it runs.</summary>
    private static (int Code, string Err, long PeakBytes) RunChildMeasured(string[] args)
    {
        using var p = Process.Start(IndexTests.ChildStart(args))!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        long peak = 0;
        var clock = Stopwatch.StartNew();
        while (!p.HasExited && clock.Elapsed < TimeSpan.FromSeconds(300))
        {
            try
            {
                foreach (var line in File.ReadLines($"/proc/{p.Id}/status"))
                    if (line.StartsWith("VmHWM:")) peak = Math.Max(peak, long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024);
            }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
            Thread.Sleep(20);
        }
        if (!p.HasExited) { p.Kill(true); Assert.Fail("the child ran past 300 s"); }
        p.WaitForExit();
        return (p.ExitCode, stderr.Result, peak);
    }

    /// <summary>
    /// At the largest <c>--frames</c> (256) the decoder holds one video's sampled frames, as the batch needs, and no more: the peak
    /// resident memory of the whole process stays under 2 GB (before the bound, 100000 frames passed 8 GB).
    /// </summary>
    [Fact]
    public void TheLargestFrameCountsStayWithinAMemoryBound()
    {
        const long bound = 2L << 30;
        string video = Path.Combine(TestPaths.Videos, "cellauto_mjpeg.avi");
        var embed = RunChildMeasured(["embed-video", "--model", fixture.Model, "--frames", "256", video]);
        Assert.True(embed.Code == 0, embed.Err);
        string videos = fixture.NewVideoFolder("cellauto_mjpeg.avi");
        try
        {
            string index = Path.Combine(fixture.Tmp, $"frames-{Guid.NewGuid():N}.vsi");
            var run = RunChildMeasured(["index", videos, "--model", fixture.Model, "--frames", "256", "--out", index]);
            Assert.True(run.Code == 0, run.Err);
            TestContext.Current.SendDiagnosticMessage($"peak RSS at --frames 256: embed-video {embed.PeakBytes >> 20} MB, index {run.PeakBytes >> 20} MB");
            Assert.InRange(embed.PeakBytes, 1, bound);
            Assert.InRange(run.PeakBytes, 1, bound);
        }
        finally { Directory.Delete(videos, true); }
    }
}
