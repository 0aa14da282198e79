using TorchSharp;
using VidSeek.Video;

namespace VidSeek.Tests.Video;

public class VideoClipLoaderTests
{
    private static string Fixture(string name) => Path.Combine(TestPaths.Videos, name);

    [Fact]
    public void LoadsTensorAndFrameMetadata()
    {
        using var clip = VideoClipLoader.Load(Fixture("numbered_h264.mp4"), 4, imageSize: 32);
        Assert.Equal(new long[] { 4, 3, 32, 32 }, clip.Pixels.shape);
        Assert.Equal(new[] { 1, 3, 6, 8 }, clip.Indices);
        Assert.Equal(new[] { 0.1, 0.3, 0.6, 0.8 }, clip.Times.Select(t => Math.Round(t, 3)));
        Assert.Equal((10, 64, 64), (clip.FrameCount, clip.Width, clip.Height));

        // Bottom-right is the red background: R high, B low after normalisation.
        var d = clip.Pixels.data<float>().ToArray();
        int last = 32 * 32 - 1;
        Assert.True(d[last] > 1.5f && d[2 * 1024 + last] < -1f, $"R={d[last]} B={d[2 * 1024 + last]}");
    }

    [Fact]
    public void TrainingLoadIsReproducibleWithASeed()
    {
        using var a = VideoClipLoader.Load(Fixture("moving_vp8.webm"), 6, 32, SamplingMode.Random, new Random(8), randomResizedCrop: true);
        using var b = VideoClipLoader.Load(Fixture("moving_vp8.webm"), 6, 32, SamplingMode.Random, new Random(8), randomResizedCrop: true);
        Assert.Equal(a.Indices, b.Indices);
        Assert.Equal(a.Pixels.data<float>().ToArray(), b.Pixels.data<float>().ToArray());
    }

    [Fact]
    public void BadFileIsAVidSeekException()
    {
        var path = Fixture("not_a_video.mp4");
        var e = Assert.Throws<VidSeekException>(() => VideoClipLoader.Load(path, 4, 32));
        Assert.Contains(path, e.Message);
    }
}
