using System.Runtime.InteropServices;
using OpenCvSharp;
using TorchSharp;
using static TorchSharp.torch;
using Size = OpenCvSharp.Size;

namespace VidSeek.Video;

/// <summary>
/// CLIP's image preprocessing, for the F frames of a clip: resize the shortest side to S (bicubic),
/// centre-crop S x S, scale RGB to [0, 1], normalise with CLIP's mean and std. Produces a float32 tensor
/// <c>[F, 3, S, S]</c> with channels in R, G, B order.
/// </summary>
/// <remarks>
/// CLIP resizes with PIL's bicubic filter, which antialiases (its kernel widens with the downscale factor)
/// and uses a = -0.5; OpenCV's <see cref="InterpolationFlags.Cubic"/> uses a fixed 4x4 kernel with
/// a = -0.75. The two agree closely on upscales and small downscales; on big downscales plain OpenCV
/// cubic would alias, so beyond 2x this first shrinks with <see cref="InterpolationFlags.Area"/> (a box
/// filter, OpenCV's antialiasing resize) to twice the target size and finishes with cubic. Pixels can
/// still differ from the reference by a few levels; the embedding barely moves.
/// </remarks>
public sealed class ClipImagePreprocessor
{
    /// <summary>CLIP ViT-B/32's input size; a model's config may say otherwise (e.g. 32 for a tiny test model).</summary>
    public const int DefaultImageSize = 224;

    /// <summary>CLIP's per-channel mean, in R, G, B order.</summary>
    public static IReadOnlyList<float> Mean { get; } = [0.48145466f, 0.4578275f, 0.40821073f];

    /// <summary>CLIP's per-channel standard deviation, in R, G, B order.</summary>
    public static IReadOnlyList<float> Std { get; } = [0.26862954f, 0.26130258f, 0.27577711f];

    // lut[c][v] = (v / 255 - mean[c]) / std[c], computed in float as torchvision's ToTensor + Normalize do.
    private static readonly float[][] Lut = Enumerable.Range(0, 3)
        .Select(c => Enumerable.Range(0, 256).Select(v => (v / 255f - Mean[c]) / Std[c]).ToArray()).ToArray();

    /// <summary>A preprocessor producing S x S images.</summary>
    /// <param name="imageSize">S, from the model's vision config (<c>image_size</c>).</param>
    public ClipImagePreprocessor(int imageSize = DefaultImageSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(imageSize, 1);
        ImageSize = imageSize;
    }

    /// <summary>S, the side of the square output images.</summary>
    public int ImageSize { get; }

    /// <summary>Evaluation preprocessing (resize + centre crop) of decoded frames: <c>[F, 3, S, S]</c>.</summary>
    public Tensor Process(DecodedFrames frames) => Process(frames.Frames, frames.Width, frames.Height);

    /// <summary>Evaluation preprocessing of F RGB images of <c>[H, W, 3]</c> bytes: <c>[F, 3, S, S]</c>.</summary>
    public Tensor Process(IReadOnlyList<byte[]> rgbFrames, int width, int height)
    {
        CheckFrames(rgbFrames, width, height);
        var (rw, rh) = ResizedSize(width, height, ImageSize);
        var crop = CenterCropBox(rw, rh, ImageSize);
        return Stack(rgbFrames.Count, i =>
        {
            using var rgb = Mat.FromPixelData(height, width, MatType.CV_8UC3, rgbFrames[i]);
            return ResizeAndCrop(rgb, new Size(rw, rh), crop);
        });
    }

    /// <summary>
    /// Evaluation preprocessing of OpenCV images in OpenCV's own BGR order (as <c>Cv2.ImRead</c> or
    /// <c>VideoCapture.Read</c> give them), converted to RGB first: <c>[F, 3, S, S]</c>. Sizes may differ per image.
    /// </summary>
    public Tensor ProcessBgr(IReadOnlyList<Mat> bgrFrames)
    {
        if (bgrFrames.Count == 0) throw new ArgumentException("no frames", nameof(bgrFrames));
        return Stack(bgrFrames.Count, i =>
        {
            var bgr = bgrFrames[i];
            if (bgr.Type() != MatType.CV_8UC3) throw new ArgumentException($"frame {i} is {bgr.Type()}, expected CV_8UC3 (BGR)", nameof(bgrFrames));
            using var rgb = new Mat();
            Cv2.CvtColor(bgr, rgb, ColorConversionCodes.BGR2RGB);
            var (rw, rh) = ResizedSize(rgb.Width, rgb.Height, ImageSize);
            return ResizeAndCrop(rgb, new Size(rw, rh), CenterCropBox(rw, rh, ImageSize));
        });
    }

    /// <summary>
    /// Training preprocessing: one <see cref="RandomResizedCrop"/> box drawn from <paramref name="rng"/>
    /// for the whole clip, cut from every frame and resized to S x S: <c>[F, 3, S, S]</c>.
    /// </summary>
    public Tensor ProcessRandomResizedCrop(DecodedFrames frames, Random rng) =>
        ProcessCrop(frames.Frames, frames.Width, frames.Height, RandomResizedCrop.Sample(frames.Width, frames.Height, rng));

    /// <summary>Cuts <paramref name="box"/> from every RGB frame and resizes it to S x S (aspect not kept): <c>[F, 3, S, S]</c>.</summary>
    public Tensor ProcessCrop(IReadOnlyList<byte[]> rgbFrames, int width, int height, CropBox box)
    {
        CheckFrames(rgbFrames, width, height);
        if (box.X < 0 || box.Y < 0 || box.Width < 1 || box.Height < 1 || box.X + box.Width > width || box.Y + box.Height > height)
            throw new ArgumentOutOfRangeException(nameof(box), box, $"not inside a {width}x{height} image");
        return Stack(rgbFrames.Count, i =>
        {
            using var rgb = Mat.FromPixelData(height, width, MatType.CV_8UC3, rgbFrames[i]);
            using var roi = new Mat(rgb, new Rect(box.X, box.Y, box.Width, box.Height));
            return Resize(roi, new Size(ImageSize, ImageSize));
        });
    }

    /// <summary>
    /// torchvision's <c>Resize(S)</c> size: the shortest side becomes S, the other
    /// <c>int(S * long / short)</c> (truncated, as torchvision does).
    /// </summary>
    public static (int Width, int Height) ResizedSize(int width, int height, int size) =>
        width <= height
            ? (size, (int)((long)size * height / width))
            : ((int)((long)size * width / height), size);

    /// <summary>torchvision's <c>CenterCrop(S)</c> box in an image at least S x S: offsets <c>round((side - S) / 2)</c>, halves to even.</summary>
    public static CropBox CenterCropBox(int width, int height, int size) =>
        new(RandomResizedCrop.PyRound((width - size) / 2.0), RandomResizedCrop.PyRound((height - size) / 2.0), size, size);

    private static Mat ResizeAndCrop(Mat rgb, Size resized, CropBox crop)
    {
        using var big = Resize(rgb, resized);
        using var roi = new Mat(big, new Rect(crop.X, crop.Y, crop.Width, crop.Height));
        return roi.Clone(); // continuous
    }

    /// <summary>Bicubic resize, preceded by an area (box-filter) shrink to 2x the target when shrinking more than 2x.</summary>
    private static Mat Resize(Mat src, Size target)
    {
        var dst = new Mat();
        if (src.Width == target.Width && src.Height == target.Height) { src.CopyTo(dst); return dst; }
        if (src.Width > 2 * target.Width && src.Height > 2 * target.Height)
        {
            using var half = new Mat();
            Cv2.Resize(src, half, new Size(2 * target.Width, 2 * target.Height), 0, 0, InterpolationFlags.Area);
            Cv2.Resize(half, dst, target, 0, 0, InterpolationFlags.Cubic);
        }
        else
            Cv2.Resize(src, dst, target, 0, 0, InterpolationFlags.Cubic);
        return dst;
    }

    /// <summary>
    /// Fills one float buffer, planar [F, 3, S, S], from F continuous S x S RGB byte images, then makes a
    /// single tensor of it (no per-pixel tensor indexing).
    /// </summary>
    private Tensor Stack(int count, Func<int, Mat> squareRgb)
    {
        int s = ImageSize, plane = s * s;
        var buffer = new float[(long)count * 3 * plane];
        var pixels = new byte[plane * 3];
        for (int i = 0; i < count; i++)
        {
            using (var square = squareRgb(i))
            {
                if (square.Width != s || square.Height != s || !square.IsContinuous())
                    throw new InvalidOperationException($"expected a continuous {s}x{s} image, got {square.Width}x{square.Height}");
                Marshal.Copy(square.Data, pixels, 0, pixels.Length);
            }
            int frameBase = i * 3 * plane;
            for (int c = 0; c < 3; c++)
            {
                var lut = Lut[c];
                int planeBase = frameBase + c * plane;
                for (int p = 0; p < plane; p++) buffer[planeBase + p] = lut[pixels[3 * p + c]];
            }
        }
        using var scope = torch.NewDisposeScope();
        return torch.tensor(buffer, [count, 3, s, s]).MoveToOuterDisposeScope();
    }

    private static void CheckFrames(IReadOnlyList<byte[]> rgbFrames, int width, int height)
    {
        ArgumentNullException.ThrowIfNull(rgbFrames);
        if (rgbFrames.Count == 0) throw new ArgumentException("no frames", nameof(rgbFrames));
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        for (int i = 0; i < rgbFrames.Count; i++)
            if (rgbFrames[i].Length != width * height * 3)
                throw new ArgumentException($"frame {i} has {rgbFrames[i].Length} bytes, expected {width}x{height}x3", nameof(rgbFrames));
    }
}
