namespace VidSeek.Video;

/// <summary>
/// torchvision's <c>RandomResizedCrop.get_params</c>: a random box covering a random share of the image
/// area with a random aspect ratio (log-uniform), later resized to S x S. For a video the box is drawn
/// once per clip and applied to every frame, so the clip keeps consistent geometry over time.
/// </summary>
public static class RandomResizedCrop
{
    /// <summary>Default share of the image area the box covers (CLIP4Clip-style fine-tuning keeps at least half).</summary>
    public const double MinScale = 0.5, MaxScale = 1.0;

    /// <summary>Default width/height range of the box, as torchvision.</summary>
    public const double MinRatio = 3.0 / 4.0, MaxRatio = 4.0 / 3.0;

    /// <summary>
    /// Draws a box inside a <paramref name="width"/> x <paramref name="height"/> image: up to 10 tries of
    /// area share in [<paramref name="minScale"/>, <paramref name="maxScale"/>] and aspect ratio in
    /// [<paramref name="minRatio"/>, <paramref name="maxRatio"/>]; when no try fits, torchvision's fallback:
    /// the largest centred box whose aspect ratio is clamped into the range.
    /// </summary>
    public static CropBox Sample(int width, int height, Random rng,
        double minScale = MinScale, double maxScale = MaxScale, double minRatio = MinRatio, double maxRatio = MaxRatio)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        ArgumentNullException.ThrowIfNull(rng);
        double area = (double)width * height;
        double logMin = Math.Log(minRatio), logMax = Math.Log(maxRatio);
        for (int attempt = 0; attempt < 10; attempt++)
        {
            double targetArea = area * (minScale + rng.NextDouble() * (maxScale - minScale));
            double ratio = Math.Exp(logMin + rng.NextDouble() * (logMax - logMin));
            int w = PyRound(Math.Sqrt(targetArea * ratio));
            int h = PyRound(Math.Sqrt(targetArea / ratio));
            if (w > 0 && w <= width && h > 0 && h <= height)
            {
                int y = rng.Next(height - h + 1), x = rng.Next(width - w + 1);
                return new CropBox(x, y, w, h);
            }
        }
        double inRatio = (double)width / height;
        int cw = width, ch = height;
        if (inRatio < minRatio) ch = PyRound(cw / minRatio);
        else if (inRatio > maxRatio) cw = PyRound(ch * maxRatio);
        return new CropBox((width - cw) / 2, (height - ch) / 2, cw, ch);
    }

    /// <summary>Python's round(): halves go to the even neighbour, as torchvision computes its sizes.</summary>
    internal static int PyRound(double value) => (int)Math.Round(value, MidpointRounding.ToEven);
}
