using VidSeek.Video;

namespace VidSeek.Tests.Video;

public class FrameSamplerTests
{
    [Theory]
    [InlineData(36, 12, new[] { 1, 4, 7, 10, 13, 16, 19, 22, 25, 28, 31, 34 })]
    [InlineData(10, 4, new[] { 1, 3, 6, 8 })]       // floor((i + 0.5) * 2.5)
    [InlineData(25, 12, new[] { 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23 })]
    [InlineData(12, 12, new[] { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 })]
    [InlineData(1, 4, new[] { 0, 0, 0, 0 })]
    [InlineData(3, 6, new[] { 0, 1, 2, 2, 2, 2 })]   // shorter than F: every frame once, then the last repeats
    [InlineData(100, 1, new[] { 50 })]
    public void UniformTakesIntervalMidpoints(int n, int f, int[] expected) =>
        Assert.Equal(expected, FrameSampler.Uniform(n, f));

    [Fact]
    public void UniformHandlesHugeCountsWithoutOverflow()
    {
        var idx = FrameSampler.Uniform(int.MaxValue, 7);
        Assert.All(idx, i => Assert.InRange(i, 0, int.MaxValue - 1));
        Assert.Equal((int)(13L * int.MaxValue / 14), idx[6]);
    }

    [Theory]
    [InlineData(10, 4)]
    [InlineData(36, 12)]
    [InlineData(13, 12)]
    [InlineData(1000, 7)]
    public void RandomStaysInsideEachIntervalAndReachesAllOfIt(int n, int f)
    {
        var rng = new Random(1234);
        var seen = new HashSet<int>();
        for (int trial = 0; trial < 400; trial++)
        {
            var idx = FrameSampler.Random(n, f, rng);
            Assert.Equal(f, idx.Length);
            for (int i = 0; i < f; i++)
            {
                int start = (int)((long)i * n / f), end = (int)((long)(i + 1) * n / f);
                Assert.InRange(idx[i], start, end - 1);
                seen.Add(idx[i]);
            }
        }
        if (n <= 40) Assert.Equal(n, seen.Count); // the intervals tile [0, n): every frame can be drawn
    }

    [Fact]
    public void RandomIsReproducibleWithTheSameSeed() =>
        Assert.Equal(FrameSampler.Random(300, 12, new Random(7)), FrameSampler.Random(300, 12, new Random(7)));

    [Fact]
    public void RandomOnShortVideoRepeatsLastFrame()
    {
        Assert.Equal(new[] { 0, 0, 0 }, FrameSampler.Random(1, 3, new Random(1)));
        Assert.Equal(new[] { 0, 1, 1, 1 }, FrameSampler.Random(2, 4, new Random(1)));
    }

    [Fact]
    public void SampleDispatchesOnMode()
    {
        Assert.Equal(FrameSampler.Uniform(50, 8), FrameSampler.Sample(SamplingMode.Uniform, 50, 8));
        Assert.Equal(FrameSampler.Random(50, 8, new Random(3)), FrameSampler.Sample(SamplingMode.Random, 50, 8, new Random(3)));
        Assert.Equal(8, FrameSampler.Sample(SamplingMode.Random, 50, 8).Length); // null rng: Random.Shared
    }

    [Fact]
    public void RejectsNonPositiveCounts()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => FrameSampler.Uniform(0, 4));
        Assert.Throws<ArgumentOutOfRangeException>(() => FrameSampler.Uniform(10, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => FrameSampler.Random(-1, 4, new Random()));
    }
}
