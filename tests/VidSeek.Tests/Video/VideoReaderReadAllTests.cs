using VidSeek.Video;

namespace VidSeek.Tests.Video;

public class VideoReaderReadAllTests
{
    [Theory]
    [InlineData("numbered_h264.mp4", 10)]
    [InlineData("moving_vp8.webm", 30)]
    [InlineData("oneframe_h264.mov", 1)]
    public void ReadAllGivesEveryFrameAsReadDoes(string file, int frames)
    {
        string path = Path.Combine(TestPaths.Videos, file);
        var all = VideoReader.ReadAll(path);
        Assert.Equal(frames, all.FrameCount);
        Assert.Equal(Enumerable.Range(0, frames), all.Indices);
        var some = VideoReader.Read(path, 3, SamplingMode.Uniform);
        for (int i = 0; i < some.Indices.Length; i++)
            Assert.Equal(some.Frames[i], all.Frames[some.Indices[i]]);
    }

    [Fact]
    public void ReadAllOfACorruptFileNamesIt()
    {
        string path = Path.Combine(TestPaths.Videos, "corrupt_truncated.mp4");
        Assert.Contains(path, Assert.Throws<VidSeekException>(() => VideoReader.ReadAll(path)).Message);
    }
}
