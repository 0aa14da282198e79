using OpenCvSharp;
using VidSeek.Video;

namespace VidSeek.Tests.Video;

public class VideoReaderTests
{
    private static string Fixture(string name) => Path.Combine(TestPaths.Videos, name);

    // Frame counts and sizes from fixtures/videos/README.md (ffprobe -count_frames).
    [Theory]
    [InlineData("bars_h264.mp4", 36, 80, 60, 12)]
    [InlineData("numbered_h264.mp4", 10, 64, 64, 10)]
    [InlineData("counter_mpeg4.mp4", 25, 64, 64, 25)]
    [InlineData("zoom_h264.mkv", 20, 64, 64, 10)]
    [InlineData("oneframe_h264.mov", 1, 48, 48, 10)]
    [InlineData("moving_vp8.webm", 30, 64, 48, 15)]
    [InlineData("rgb_vp9.webm", 20, 64, 64, 10)]
    [InlineData("cellauto_mjpeg.avi", 30, 64, 64, 10)]
    public void FindsTrueFrameCountAndUniformIndices(string name, int frames, int width, int height, double fps)
    {
        foreach (int f in new[] { 12, 4 })
        {
            var d = VideoReader.Read(Fixture(name), f, SamplingMode.Uniform);
            Assert.Equal(frames, d.FrameCount);
            Assert.Equal(FrameSampler.Uniform(frames, f), d.Indices);
            Assert.Equal((width, height), (d.Width, d.Height));
            Assert.Equal(fps, d.Fps, 3);
            Assert.Equal(f, d.Frames.Count);
            Assert.All(d.Frames, b => Assert.Equal(width * height * 3, b.Length));
            for (int i = 0; i < f; i++) Assert.Equal(d.Indices[i] / fps, d.Times[i], 2); // constant-rate fixtures
        }
    }

    [Fact]
    public void OneFrameVideoGivesFCopiesOfItsFrame()
    {
        var d = VideoReader.Read(Fixture("oneframe_h264.mov"), 8, SamplingMode.Uniform);
        Assert.Equal(new int[8], d.Indices);
        Assert.Equal(8, d.Frames.Count);
        var reference = ReferenceDecoder.AllFramesRgb(Fixture("oneframe_h264.mov")).Single();
        Assert.All(d.Frames, b => Assert.Equal(reference, b));
        Assert.Equal(8, d.Frames.Distinct().Count()); // separate arrays: changing one leaves the others alone
    }

    // These change from frame to frame, so a frame off by one would not match.
    [Theory]
    [InlineData("numbered_h264.mp4")]
    [InlineData("counter_mpeg4.mp4")]
    [InlineData("moving_vp8.webm")]
    [InlineData("cellauto_mjpeg.avi")]
    [InlineData("zoom_h264.mkv")]
    public void ReturnsTheFrameASequentialReadGivesAtThatIndex(string name)
    {
        var reference = ReferenceDecoder.AllFramesRgb(Fixture(name));
        // Mostly distinct frames (zoom and moving hold still for a frame here and there).
        int changes = Enumerable.Range(1, reference.Count - 1).Count(k => ReferenceDecoder.MeanAbsDiff(reference[k - 1], reference[k]) > 0);
        Assert.True(changes >= reference.Count * 3 / 4, $"{name}: only {changes} of {reference.Count - 1} consecutive frames differ");

        foreach (var (mode, f) in new[] { (SamplingMode.Uniform, 12), (SamplingMode.Uniform, 4), (SamplingMode.Random, 6) })
        {
            var d = VideoReader.Read(Fixture(name), f, mode, new Random(42));
            for (int i = 0; i < f; i++)
                Assert.Equal(reference[d.Indices[i]], d.Frames[i]); // same decoder, same frame: pixel-exact
        }
    }

    [Fact]
    public void RandomModeIsReproducibleAndInsideIntervals()
    {
        var a = VideoReader.Read(Fixture("moving_vp8.webm"), 6, SamplingMode.Random, new Random(5));
        var b = VideoReader.Read(Fixture("moving_vp8.webm"), 6, SamplingMode.Random, new Random(5));
        Assert.Equal(a.Indices, b.Indices);
        Assert.Equal(FrameSampler.Random(30, 6, new Random(5)), a.Indices);
    }

    [Fact]
    public void FramesAreRgbNotBgr()
    {
        // numbered_h264.mp4 is a red background with the frame number drawn top-left.
        var d = VideoReader.Read(Fixture("numbered_h264.mp4"), 1, SamplingMode.Uniform);
        int at = ((d.Height - 2) * d.Width + (d.Width - 2)) * 3; // a background pixel near the bottom-right corner
        var (r, g, b) = (d.Frames[0][at], d.Frames[0][at + 1], d.Frames[0][at + 2]);
        Assert.True(r > 200 && g < 60 && b < 60, $"expected red, got R={r} G={g} B={b}");
    }

    [Fact]
    public void TruncatedVideoWithWrongEstimateIsReadAgainWithTrueCount()
    {
        // Cut at half: the Matroska header still promises 20 frames, fewer decode.
        using var tmp = TestPaths.NewTempDir();
        var path = Path.Combine(tmp.Path, "half.mkv");
        var bytes = File.ReadAllBytes(Fixture("zoom_h264.mkv"));
        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);
        var reference = ReferenceDecoder.AllFramesRgb(path);
        Assert.InRange(reference.Count, 2, 19);

        var d = VideoReader.Read(path, 4, SamplingMode.Uniform);
        Assert.Equal(20, d.EstimatedFrameCount);
        Assert.Equal(reference.Count, d.FrameCount);
        Assert.Equal(2, d.DecodePasses);
        Assert.Equal(FrameSampler.Uniform(reference.Count, 4), d.Indices);
        for (int i = 0; i < 4; i++) Assert.Equal(reference[d.Indices[i]], d.Frames[i]);
    }

    [Fact]
    public void StreamWithoutFrameCountIsCountedWhileReading()
    {
        // A raw MJPEG stream has no header: OpenCV reports a nonsense negative CAP_PROP_FRAME_COUNT.
        using var tmp = TestPaths.NewTempDir();
        var path = Path.Combine(tmp.Path, "raw.mjpeg");
        using (var writer = new VideoWriter(path, FourCC.MJPG, 10, new OpenCvSharp.Size(32, 24)))
        {
            Assert.True(writer.IsOpened());
            for (int i = 0; i < 7; i++)
            {
                using var m = new Mat(24, 32, MatType.CV_8UC3, new Scalar(0, 0, 30 * i)); // BGR: red rises
                writer.Write(m);
            }
        }
        var d = VideoReader.Read(path, 3, SamplingMode.Uniform);
        Assert.Equal(0, d.EstimatedFrameCount);
        Assert.Equal(7, d.FrameCount);
        Assert.Equal(2, d.DecodePasses);
        Assert.Equal(new[] { 1, 3, 5 }, d.Indices);
        for (int i = 0; i < 3; i++) Assert.InRange(d.Frames[i][0], 30 * d.Indices[i] - 8, 30 * d.Indices[i] + 8); // R of pixel 0
    }

    [Fact]
    public void FixturesNeedOnlyOnePass()
    {
        foreach (var name in new[] { "bars_h264.mp4", "zoom_h264.mkv", "moving_vp8.webm", "cellauto_mjpeg.avi" })
            Assert.Equal(1, VideoReader.Read(Fixture(name), 4, SamplingMode.Uniform).DecodePasses);
    }

    [Theory]
    [InlineData("corrupt_truncated.mp4", "no frames could be decoded from")]
    [InlineData("zero_bytes.mp4", "empty")]
    [InlineData("not_a_video.mp4", "cannot open video")]
    [InlineData("no_such_file.mp4", "not found")]
    public void BadFilesGiveVidSeekExceptionNamingTheFile(string name, string reason)
    {
        var path = Fixture(name);
        var e = Assert.Throws<VidSeekException>(() => VideoReader.Read(path, 4, SamplingMode.Uniform));
        Assert.Contains(path, e.Message);
        Assert.Contains(reason, e.Message);
    }

    [Fact]
    public void FolderGivesVidSeekException()
    {
        using var tmp = TestPaths.NewTempDir();
        var e = Assert.Throws<VidSeekException>(() => VideoReader.Read(tmp.Path, 4, SamplingMode.Uniform));
        Assert.Contains(tmp.Path, e.Message);
        Assert.Contains("folder", e.Message);
    }
}
