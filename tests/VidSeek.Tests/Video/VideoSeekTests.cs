using VidSeek.Video;

namespace VidSeek.Tests.Video;

/// <summary>The seek path gives the sequential path's frames (indices and pixels), or falls back and says why.</summary>
public class VideoSeekTests(GeneratedVideos videos) : IClassFixture<GeneratedVideos>
{
    private static readonly VideoReadOptions Sequential = new() { Access = FrameAccessMode.Sequential };
    // Every hop a seek, so that even the fixtures' short distances go through av_seek_frame.
    private static readonly VideoReadOptions SeekAlways = new() { Access = FrameAccessMode.Seek, MinSeekDistance = 1 };

    private static string Fixture(string name) => Path.Combine(TestPaths.Videos, name);

    private static void AssertSameFrames(DecodedFrames expected, DecodedFrames actual)
    {
        Assert.Equal(expected.FrameCount, actual.FrameCount);
        Assert.Equal(expected.Indices, actual.Indices);
        Assert.Equal((expected.Width, expected.Height), (actual.Width, actual.Height));
        for (int i = 0; i < expected.Indices.Length; i++)
        {
            Assert.True(expected.Frames[i].AsSpan().SequenceEqual(actual.Frames[i]), $"frame {expected.Indices[i]} differs in pixels");
            Assert.Equal(expected.Times[i], actual.Times[i], 6);
        }
    }

    private static void AssertSeekEqualsSequential(string path, bool seekable, VideoReadOptions seek)
    {
        foreach (var (mode, f, seed) in new[] { (SamplingMode.Uniform, 12, 0), (SamplingMode.Uniform, 5, 0), (SamplingMode.Random, 8, 7) })
        {
            var reference = VideoReader.Read(path, f, mode, new Random(seed), Sequential);
            var sought = VideoReader.Read(path, f, mode, new Random(seed), seek);
            AssertSameFrames(reference, sought);
            Assert.Equal(FrameAccess.Sequential, reference.Method);
            Assert.Equal(seekable ? FrameAccess.Seek : FrameAccess.Sequential, sought.Method);
            if (seekable)
            {
                Assert.Null(sought.FallbackReason);
                Assert.Equal(0, sought.DecodePasses);
            }
            else
            {
                Assert.NotNull(sought.FallbackReason);
            }
        }
    }

    [Theory]
    [InlineData("bars_h264.mp4", true)]
    [InlineData("numbered_h264.mp4", true)]
    [InlineData("counter_mpeg4.mp4", true)]
    [InlineData("zoom_h264.mkv", true)]
    [InlineData("oneframe_h264.mov", true)]
    [InlineData("moving_vp8.webm", true)]
    [InlineData("rgb_vp9.webm", true)]
    [InlineData("cellauto_mjpeg.avi", false)] // AVI: no frame index trusted, read sequentially
    public void SeekEqualsSequentialOnEveryFixture(string name, bool seekable) =>
        AssertSeekEqualsSequential(Fixture(name), seekable, SeekAlways);

    [Theory]
    [InlineData("corrupt_truncated.mp4", "no frames could be decoded from")]
    [InlineData("zero_bytes.mp4", "empty")]
    [InlineData("not_a_video.mp4", "cannot open video")]
    [InlineData("no_such_file.mp4", "not found")]
    public void BadFixturesGiveTheSameErrorOnTheSeekPath(string name, string reason)
    {
        var path = Fixture(name);
        var e = Assert.Throws<VidSeekException>(() => VideoReader.Read(path, 4, SamplingMode.Uniform, null, SeekAlways));
        Assert.Contains(path, e.Message);
        Assert.Contains(reason, e.Message);
    }

    [Theory]
    [InlineData("cfr.mp4", GeneratedVideos.CfrFrames, 25)]
    [InlineData("cfr.mkv", GeneratedVideos.CfrFrames, 25)]
    [InlineData("faststart.mp4", GeneratedVideos.CfrFrames, 25)]
    [InlineData("frag.mp4", GeneratedVideos.CfrFrames, 25)]
    [InlineData("vp9.webm", GeneratedVideos.Vp9Frames, 10)]
    public void SeekEqualsSequentialOnLongConstantRateVideos(string name, int frames, double fps)
    {
        var path = videos[name];
        AssertSeekEqualsSequential(path, seekable: true, SeekAlways);
        AssertSeekEqualsSequential(path, seekable: true, new VideoReadOptions { Access = FrameAccessMode.Seek }); // default hops

        // Auto seeks here (125 frames between samples), and the frames carry their true times.
        var d = VideoReader.Read(path, 12, SamplingMode.Uniform);
        Assert.Equal(name == "vp9.webm" ? FrameAccess.Sequential : FrameAccess.Seek, d.Method); // VP9: 50 apart, under MinSeekDistance
        Assert.Equal(frames, d.FrameCount);
        Assert.Equal(FrameSampler.Uniform(frames, 12), d.Indices);
        for (int i = 0; i < 12; i++) Assert.Equal(d.Indices[i] / fps, d.Times[i], 3);
    }

    [Theory]
    [InlineData("vfr.mp4")]
    [InlineData("vfr-frag.mp4")]
    [InlineData("vfr.mkv")] // duration × fps still says 1500 frames and the last timestamp agrees: only the packet count shows the gaps
    public void VariableFrameRateFallsBackToTheSequentialFrames(string name)
    {
        var path = videos[name];
        var reference = VideoReader.Read(path, 12, SamplingMode.Uniform, null, Sequential);
        Assert.Equal(GeneratedVideos.VfrFrames, reference.FrameCount);
        foreach (var options in new[] { SeekAlways, VideoReadOptions.Default })
        {
            var d = VideoReader.Read(path, 12, SamplingMode.Uniform, null, options);
            Assert.Equal(FrameAccess.Sequential, d.Method);
            Assert.Contains("variable frame rate", d.FallbackReason);
            AssertSameFrames(reference, d);
        }
        // The gaps are real: the frame times jump by 17 frame intervals where 16 frames were dropped.
        Assert.Contains(Enumerable.Range(1, 11), i => reference.Times[i] - reference.Times[i - 1] > (reference.Indices[i] - reference.Indices[i - 1]) / 25.0 + 0.5);
    }

    [Theory]
    [InlineData("cut.mp4")] // moov at the front promises 1500 frames; 60% of the data is there
    [InlineData("cut.mkv")] // header duration promises 1500 frames; half the clusters, no cues
    public void TruncatedLongFileFallsBackAndReturnsWhatDecodes(string name)
    {
        var path = videos[name];
        var all = ReferenceDecoder.AllFramesRgb(path);
        Assert.InRange(all.Count, 300, GeneratedVideos.CfrFrames - 300);

        var d = VideoReader.Read(path, 12, SamplingMode.Uniform, null, SeekAlways);
        Assert.Equal(FrameAccess.Sequential, d.Method);
        Assert.NotNull(d.FallbackReason);
        Assert.Equal(GeneratedVideos.CfrFrames, d.EstimatedFrameCount);
        Assert.Equal(all.Count, d.FrameCount);
        Assert.Equal(FrameSampler.Uniform(all.Count, 12), d.Indices);
        for (int i = 0; i < 12; i++) Assert.Equal(all[d.Indices[i]], d.Frames[i]);
        Assert.Equal(d.FallbackReason, VideoReader.Read(path, 12, SamplingMode.Uniform).FallbackReason); // Auto reports it too
    }

    [Fact]
    public void ReadAtReturnsTheSequentialFramesAtAnyIndices()
    {
        var path = videos["cfr.mkv"];
        var all = ReferenceDecoder.AllFramesRgb(path);
        int[] indices = [1499, 0, 700, 701, 3, 700, 1200, 49, 50, 51];
        var d = VideoReader.ReadAt(path, indices);
        Assert.Equal(FrameAccess.Seek, d.Method);
        Assert.Equal(indices, d.Indices);
        for (int i = 0; i < indices.Length; i++)
        {
            Assert.Equal(all[indices[i]], d.Frames[i]);
            Assert.Equal(indices[i] / 25.0, d.Times[i], 3);
        }
        var sequential = VideoReader.ReadAt(path, indices, Sequential);
        AssertSameFrames(sequential, d);

        var e = Assert.Throws<VidSeekException>(() => VideoReader.ReadAt(path, [5, 1500]));
        Assert.Contains(path, e.Message);
        Assert.Contains("1500 frames", e.Message);
    }

    [Fact]
    public void ReadAtTimesPicksTheFrameShownAtEachTime()
    {
        foreach (var name in new[] { "cfr.mp4", "vfr.mkv" })
        {
            var path = videos[name];
            var times = new[] { 0.0, 1.21, 1.2, 33.333, 59.99, 120 };
            var d = VideoReader.ReadAtTimes(path, times);
            var timeline = VideoReader.ReadAt(path, Enumerable.Range(0, d.FrameCount).ToArray(), Sequential).Times;
            for (int i = 0; i < times.Length; i++)
            {
                // the last frame at or before the time
                int expected = Math.Max(0, Array.FindLastIndex(timeline, t => t <= times[i] + 1e-6));
                Assert.Equal(expected, d.Indices[i]);
            }
            Assert.Equal(name == "cfr.mp4" ? FrameAccess.Seek : FrameAccess.Sequential, d.Method);
        }
    }

    [Fact]
    public void ProbeGivesTheTrueCountAndThePath()
    {
        var cfr = VideoReader.Probe(videos["cfr.mp4"]);
        Assert.Equal((GeneratedVideos.CfrFrames, FrameAccess.Seek, 60.0), (cfr.FrameCount, cfr.Method, cfr.Duration));
        var vfr = VideoReader.Probe(videos["vfr.mkv"]);
        Assert.Equal((GeneratedVideos.VfrFrames, GeneratedVideos.CfrFrames, FrameAccess.Sequential), (vfr.FrameCount, vfr.EstimatedFrameCount, vfr.Method));
        Assert.NotNull(vfr.FallbackReason);
        var cut = VideoReader.Probe(videos["cut.mp4"]);
        Assert.Equal(FrameAccess.Sequential, cut.Method);
        Assert.Equal(ReferenceDecoder.AllFramesRgb(videos["cut.mp4"]).Count, cut.FrameCount);
    }

    [Fact]
    public void ContainerIsRecognisedByContentNotName()
    {
        using var tmp = TestPaths.NewTempDir();
        var renamed = Path.Combine(tmp.Path, "really-matroska.avi");
        File.Copy(Fixture("zoom_h264.mkv"), renamed);
        var d = VideoReader.Read(renamed, 4, SamplingMode.Uniform, null, SeekAlways);
        Assert.Equal(FrameAccess.Seek, d.Method);
        AssertSameFrames(VideoReader.Read(renamed, 4, SamplingMode.Uniform, null, Sequential), d);
    }
}
