using VidSeek.Index;
using VidSeek.Tests.Video;
using VidSeek.Video;

namespace VidSeek.Tests.Index;

/// <summary>
/// Segments taken by seeking are the sequential path's segments (indices, pixels, thumbnails, times), streamed; files the
/// seek path cannot trust are read sequentially, and a file cut short is indexed with a warning.
/// </summary>
public class SegmentSeekTests(GeneratedVideos videos) : IClassFixture<GeneratedVideos>
{
    private static readonly VideoReadOptions Sequential = new() { Access = FrameAccessMode.Sequential };
    // Every hop a seek, so that even short distances go through av_seek_frame.
    private static readonly VideoReadOptions SeekAlways = new() { Access = FrameAccessMode.Seek, MinSeekDistance = 1 };
    private static readonly VideoReadOptions Auto = VideoReadOptions.Default;

    // A small model input keeps the test quick; the preprocessing is the same code at every size.
    private static readonly ClipImagePreprocessor Preprocessor = new(32);

    private static readonly SegmentingOptions[] Plans =
    [
        new() { Window = 10, Stride = 10 },   // windows
        new() { Window = 10, Stride = 4 },    // overlapping windows: frames shared between segments
        SegmentingOptions.WholeVideo,
    ];

    private static (List<DecodedSegment> Segments, DecodedVideoInfo Info) Decode(string path, SegmentingOptions plan, int frames, VideoReadOptions read)
    {
        var segments = new List<DecodedSegment>();
        int discards = 0;
        var info = SegmentDecoder.Decode(path, plan, frames, Preprocessor, segments.Add, () => { segments.Clear(); discards++; }, default, read);
        Assert.Equal(info.Segments, segments.Count);
        return (segments, info);
    }

    private static void AssertSame(string path, List<DecodedSegment> expected, List<DecodedSegment> actual, double boundaryTolerance)
    {
        Assert.Equal(expected.Count, actual.Count);
        for (int s = 0; s < expected.Count; s++)
        {
            var (e, a) = (expected[s], actual[s]);
            string where = $"{Path.GetFileName(path)} segment {s}";
            Assert.Equal((e.Ordinal, e.FirstFrame, e.EndFrame), (a.Ordinal, a.FirstFrame, a.EndFrame));
            Assert.Equal(e.Indices, a.Indices);
            Assert.Equal(e.Times, a.Times);
            Assert.True(e.Pixels.AsSpan().SequenceEqual(a.Pixels), $"{where}: pixels differ");
            Assert.Equal(e.Thumbnails.Count, a.Thumbnails.Count);
            for (int i = 0; i < e.Thumbnails.Count; i++)
                Assert.True(e.Thumbnails[i].AsSpan().SequenceEqual(a.Thumbnails[i]), $"{where}: thumbnail {i} differs");
            // Boundaries: the boundary frames' timestamps on the sequential path, k / fps on the seek path (which never
            // decodes them): equal up to the container's time base.
            Assert.True(Math.Abs(e.Start - a.Start) <= boundaryTolerance, $"{where}: start {e.Start} vs {a.Start}");
            Assert.True(Math.Abs(e.End - a.End) <= boundaryTolerance, $"{where}: end {e.End} vs {a.End}");
        }
    }

    private static void AssertSeekEqualsSequential(string path, bool seekable, int frames = 6)
    {
        foreach (var plan in Plans)
        {
            var (reference, refInfo) = Decode(path, plan, frames, Sequential);
            Assert.Equal(FrameAccess.Sequential, refInfo.Method);
            foreach (var read in new[] { SeekAlways, Auto })
            {
                var (sought, info) = Decode(path, plan, frames, read);
                AssertSame(path, reference, sought, 1.5e-3);
                Assert.Equal((refInfo.FrameCount, refInfo.Width, refInfo.Height), (info.FrameCount, info.Width, info.Height));
                Assert.Equal(refInfo.Duration, info.Duration, 9);
                if (read == SeekAlways)
                {
                    Assert.Equal(seekable ? FrameAccess.Seek : FrameAccess.Sequential, info.Method);
                    if (seekable) Assert.Equal(0, info.Passes);
                }
            }
        }
    }

    [Theory]
    [InlineData("cfr.mp4", true)]
    [InlineData("cfr.mkv", true)]
    [InlineData("vp9.webm", true)]
    [InlineData("faststart.mp4", true)]
    [InlineData("frag.mp4", true)]
    [InlineData("vfr.mp4", false)]
    [InlineData("vfr.mkv", false)]
    [InlineData("vfr-frag.mp4", false)]
    public void GeneratedLongVideosGiveTheSequentialSegments(string name, bool seekable) => AssertSeekEqualsSequential(videos[name], seekable);

    [Fact]
    public void EveryFixtureGivesTheSequentialSegments()
    {
        int compared = 0;
        foreach (var path in Directory.GetFiles(TestPaths.Videos).Where(p => IndexBuilder.VideoExtensions.Contains(Path.GetExtension(p))).Order())
        {
            string? refError = null;
            try { Decode(path, SegmentingOptions.WholeVideo, 4, Sequential); }
            catch (VidSeekException e) { refError = e.Message; }
            if (refError is not null)
            {
                // Undecodable on the reference path: the same error whatever the access.
                var e = Assert.Throws<VidSeekException>(() => Decode(path, SegmentingOptions.WholeVideo, 4, SeekAlways));
                Assert.Equal(refError, e.Message);
                continue;
            }
            foreach (var plan in new[] { SegmentingOptions.WholeVideo, new SegmentingOptions { Window = 1, Stride = 0.5 } })
            {
                var (reference, _) = Decode(path, plan, 4, Sequential);
                var (sought, _) = Decode(path, plan, 4, SeekAlways);
                AssertSame(path, reference, sought, 1.5e-3);
            }
            compared++;
        }
        Assert.True(compared >= 6, $"only {compared} fixtures decoded");
    }

    [Fact]
    public void SeekingStreamsSegmentBySegment()
    {
        // 60 s in 6 windows: each segment is handed on before the next one's frames are read, so the first arrives while
        // most of the file is still unread (the callback sees segments one at a time, in order).
        var path = videos["cfr.mp4"];
        var order = new List<int>();
        var info = SegmentDecoder.Decode(path, new SegmentingOptions { Window = 10, Stride = 10 }, 4, Preprocessor,
            s => order.Add(s.Ordinal), () => Assert.Fail("nothing to withdraw"), default, SeekAlways);
        Assert.Equal(FrameAccess.Seek, info.Method);
        Assert.Equal([0, 1, 2, 3, 4, 5], order);
        Assert.Null(info.Warning);
    }

    [Theory]
    [InlineData("cut.mkv")]
    [InlineData("cut.mp4")]
    public void CutFileIsIndexedInPartWithAWarning(string name)
    {
        var path = videos[name];
        // 30 s windows: sampled frames far enough apart that the default (Auto) access tries the seek path, whose check fails.
        var (segments, info) = Decode(path, SegmentingOptions.Default, 4, Auto);
        Assert.Equal(FrameAccess.Sequential, info.Method);
        Assert.NotNull(info.FallbackReason);
        Assert.NotNull(info.Warning);
        Assert.InRange(info.FrameCount, 100, GeneratedVideos.CfrFrames - 100);
        Assert.Contains($"{info.FrameCount} of ~{GeneratedVideos.CfrFrames} frames decoded", info.Warning);
        Assert.Contains("truncated", info.Warning);
        // What decodes is indexed: segments up to the last decoded frame.
        Assert.Equal(info.FrameCount, segments[^1].EndFrame);
    }

    [Fact]
    public void IndexPrintsTheWarningAndIndexesTheCutFile()
    {
        var cut = videos["cut.mkv"];
        using var dir = TestPaths.NewTempDir();
        File.Copy(cut, Path.Combine(dir.Path, "clip.mkv"));
        string index = Path.Combine(dir.Path, "i.vsi");
        var (code, stdout, stderr) = CliRunner.Run("index", dir.Path, "--model", Path.Combine(TestPaths.RepoRoot, "assets", "demo-model"), "--out", index);
        Assert.True(code == 0, stderr);
        Assert.Contains("1 added", stdout);
        Assert.Matches(@"warning: clip\.mkv: \d+ of ~1500 frames decoded \(.*file truncated\?\); indexed what decodes", stderr);
    }

    [Theory]
    [InlineData("vfr.mkv")]
    [InlineData("cfr.mkv")]
    public void WholeFilesGetNoWarning(string name)
    {
        var (_, info) = Decode(videos[name], SegmentingOptions.WholeVideo, 4, Auto);
        Assert.Null(info.Warning);
    }
}
