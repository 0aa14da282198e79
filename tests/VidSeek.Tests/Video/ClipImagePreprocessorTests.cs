using OpenCvSharp;
using TorchSharp;
using VidSeek.Video;

namespace VidSeek.Tests.Video;

public class ClipImagePreprocessorTests
{
    // (v / 255 - mean) / std for v = 255 and v = 0, per RGB channel, with CLIP's constants (computed in Python).
    private const float RedOn = 1.930336254f, RedOff = -1.792262534f;
    private const float GreenOff = -1.752097128f;
    private const float BlueOn = 2.145896989f, BlueOff = -1.480219769f;

    /// <summary>80x60 RGB bytes: columns 0-3 green, 4-39 red, 40-79 blue.</summary>
    private static byte[] RedBlueRgb()
    {
        var rgb = new byte[60 * 80 * 3];
        for (int y = 0; y < 60; y++)
            for (int x = 0; x < 80; x++)
            {
                int at = (y * 80 + x) * 3;
                if (x < 4) rgb[at + 1] = 255;
                else if (x < 40) rgb[at] = 255;
                else rgb[at + 2] = 255;
            }
        return rgb;
    }

    private static float[] Data(torch.Tensor t) => t.data<float>().ToArray();

    [Theory]
    [InlineData(80, 60, 32, 42, 32, 5, 0)]
    [InlineData(60, 80, 32, 32, 42, 0, 5)]
    [InlineData(320, 240, 224, 298, 224, 37, 0)]   // int(224 * 320 / 240) = 298, round(37.0)
    [InlineData(86, 64, 32, 43, 32, 6, 0)]         // round(5.5) = 6
    [InlineData(82, 64, 32, 41, 32, 4, 0)]         // round(4.5) = 4: halves to even, as Python
    [InlineData(32, 32, 32, 32, 32, 0, 0)]
    public void ResizeAndCenterCropGeometryFollowsTorchvision(int w, int h, int s, int rw, int rh, int cx, int cy)
    {
        Assert.Equal((rw, rh), ClipImagePreprocessor.ResizedSize(w, h, s));
        Assert.Equal(new CropBox(cx, cy, s, s), ClipImagePreprocessor.CenterCropBox(rw, rh, s));
    }

    [Fact]
    public void SyntheticImageGivesShapeCropAndNormalisedRgb()
    {
        var rgb = RedBlueRgb();
        using var t = new ClipImagePreprocessor(32).Process([rgb, rgb], 80, 60);
        Assert.Equal(new long[] { 2, 3, 32, 32 }, t.shape);
        Assert.Equal(torch.ScalarType.Float32, t.dtype);
        var d = Data(t);
        float At(int f, int c, int y, int x) => d[((f * 3 + c) * 32 + y) * 32 + x];

        for (int f = 0; f < 2; f++)
            for (int y = 0; y < 32; y++)
            {
                // The crop starts 5 columns into the 42-wide resize: the green strip (resized columns 0-2) is cut off.
                for (int x = 0; x < 32; x++) Assert.Equal(GreenOff, At(f, 1, y, x), 5);
                // Red/blue edge: source column 40 -> resized 21 -> crop column 16.
                for (int x = 0; x <= 13; x++)
                {
                    Assert.Equal(RedOn, At(f, 0, y, x), 5);
                    Assert.Equal(BlueOff, At(f, 2, y, x), 5);
                }
                for (int x = 18; x < 32; x++)
                {
                    Assert.Equal(RedOff, At(f, 0, y, x), 5);
                    Assert.Equal(BlueOn, At(f, 2, y, x), 5);
                }
                Assert.True(At(f, 0, y, 15) > 0 && At(f, 2, y, 15) < 0, "column 15 should be mostly red");
                Assert.True(At(f, 0, y, 16) < 0 && At(f, 2, y, 16) > 0, "column 16 should be mostly blue");
            }
    }

    [Fact]
    public void BgrMatsAreConvertedToRgb()
    {
        var rgb = RedBlueRgb();
        using var rgbMat = Mat.FromPixelData(60, 80, MatType.CV_8UC3, rgb);
        using var bgrMat = new Mat();
        Cv2.CvtColor(rgbMat, bgrMat, ColorConversionCodes.RGB2BGR);
        Assert.Equal(255, bgrMat.At<Vec3b>(30, 20).Item2); // red lives in OpenCV's third channel

        var p = new ClipImagePreprocessor(32);
        using var fromBgr = p.ProcessBgr([bgrMat]);
        using var fromRgb = p.Process([rgb], 80, 60);
        Assert.Equal(Data(fromRgb), Data(fromBgr));
        Assert.Equal(RedOn, Data(fromBgr)[0], 5); // channel 0, top-left: red
    }

    [Fact]
    public void LargeDownscaleIsAntialiased()
    {
        // 1000x800 of 1-pixel stripes (grey 0/255) -> 40x32 -> 32x32. An antialiased resize gives about
        // mid-grey everywhere; a plain 4-tap cubic at 25x samples single stripes and aliases to near 0/255.
        var rgb = new byte[800 * 1000 * 3];
        for (int y = 0; y < 800; y++)
            for (int x = 0; x < 1000; x += 2)
                rgb.AsSpan((y * 1000 + x) * 3, 3).Fill(255);
        using var t = new ClipImagePreprocessor(32).Process([rgb], 1000, 800);
        var d = Data(t);
        double worst = 0; // in grey levels
        for (int c = 0; c < 3; c++)
            for (int p = 0; p < 32 * 32; p++)
                worst = Math.Max(worst, Math.Abs((d[c * 1024 + p] * ClipImagePreprocessor.Std[c] + ClipImagePreprocessor.Mean[c]) * 255 - 127.5));
        Assert.True(worst < 16, $"worst deviation from mid-grey {worst:0.0} levels");

        using var src = Mat.FromPixelData(800, 1000, MatType.CV_8UC3, rgb);
        using var plain = new Mat();
        Cv2.Resize(src, plain, new OpenCvSharp.Size(40, 32), 0, 0, InterpolationFlags.Cubic);
        Cv2.MinMaxLoc(plain.Reshape(1), out double lo, out double hi);
        Assert.True(hi - lo > 100, "control: plain cubic should alias"); // the test above would catch its absence
    }

    [Fact]
    public void RandomResizedCropUsesOneBoxForTheWholeClip()
    {
        // A gradient, so that any two different boxes give different pixels.
        int w = 96, h = 64;
        var rgb = new byte[w * h * 3];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                int at = (y * w + x) * 3;
                (rgb[at], rgb[at + 1], rgb[at + 2]) = ((byte)(x * 2), (byte)(y * 4), (byte)(x * y % 256));
            }
        var frames = Enumerable.Range(0, 5).Select(_ => (byte[])rgb.Clone()).ToArray();
        var clip = new DecodedFrames("synthetic", frames, w, h, 5, 5, 10, [0, 1, 2, 3, 4], [0, .1, .2, .3, .4], 1);
        var p = new ClipImagePreprocessor(32);

        var outputs = new List<float[]>();
        for (int seed = 0; seed < 4; seed++)
        {
            using var t = p.ProcessRandomResizedCrop(clip, new Random(seed));
            Assert.Equal(new long[] { 5, 3, 32, 32 }, t.shape);
            var d = Data(t);
            int frame = 3 * 32 * 32;
            for (int f = 1; f < 5; f++)
                Assert.Equal(d.AsSpan(0, frame).ToArray(), d.AsSpan(f * frame, frame).ToArray());

            var box = RandomResizedCrop.Sample(w, h, new Random(seed));
            using var expected = p.ProcessCrop(frames, w, h, box);
            Assert.Equal(Data(expected), d);
            outputs.Add(d);
        }
        Assert.True(outputs.Skip(1).Any(o => !o.SequenceEqual(outputs[0])), "different seeds should give different crops");
    }

    [Fact]
    public void RandomResizedCropBoxesRespectScaleAndRatio()
    {
        var rng = new Random(11);
        for (int i = 0; i < 500; i++)
        {
            var b = RandomResizedCrop.Sample(320, 240, rng);
            Assert.InRange(b.X, 0, 320 - b.Width);
            Assert.InRange(b.Y, 0, 240 - b.Height);
            Assert.InRange((double)b.Width * b.Height / (320 * 240), 0.5 - 0.01, 1.0 + 0.01);
            Assert.InRange((double)b.Width / b.Height, 0.75 - 0.01, 4.0 / 3 + 0.01);
        }
        Assert.Equal(RandomResizedCrop.Sample(320, 240, new Random(3)), RandomResizedCrop.Sample(320, 240, new Random(3)));
    }

    [Fact]
    public void RandomResizedCropFallsBackToCentredClampedBox()
    {
        // 400x10: no box of >= half the area with ratio <= 4/3 fits, so torchvision's fallback applies.
        Assert.Equal(new CropBox(193, 0, 13, 10), RandomResizedCrop.Sample(400, 10, new Random(0)));
        Assert.Equal(new CropBox(0, 193, 10, 13), RandomResizedCrop.Sample(10, 400, new Random(0)));
    }

    [Fact]
    public void RejectsFramesOfTheWrongSize()
    {
        var p = new ClipImagePreprocessor(32);
        Assert.Throws<ArgumentException>(() => p.Process([new byte[10]], 80, 60));
        Assert.Throws<ArgumentOutOfRangeException>(() => p.ProcessCrop([RedBlueRgb()], 80, 60, new CropBox(70, 0, 20, 20)));
    }
}
