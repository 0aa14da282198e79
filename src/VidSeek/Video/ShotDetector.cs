using OpenCvSharp;

namespace VidSeek.Video;

/// <summary>
/// Finds hard cuts the way PySceneDetect's <c>ContentDetector</c> does (its defaults: threshold 27, weights 1, 1, 1 on hue,
/// saturation and value, no edges): each frame is converted to HSV, its score is the mean absolute difference from the
/// previous frame averaged over the three channels (8-bit OpenCV HSV: hue 0..179, saturation and value 0..255), and a cut is
/// placed at a frame whose score reaches the threshold, unless the shot it would end is shorter than the minimum length.
/// </summary>
/// <remarks>
/// Hand-written rather than a library because there is no .NET port; it is a few lines over OpenCV. As PySceneDetect does,
/// frames are shrunk first (to at most <see cref="AnalysisWidth"/> pixels wide): a cut changes the whole picture, so the
/// small copy finds the same cuts at a fraction of the cost, and the noise of a large frame averages out.
/// </remarks>
public sealed class ShotDetector : IDisposable
{
    /// <summary>PySceneDetect's default threshold.</summary>
    public const double DefaultThreshold = 27;

    /// <summary>Frames are analysed at most this wide (PySceneDetect downscales to about 256 too).</summary>
    public const int AnalysisWidth = 256;

    private readonly double threshold;
    private readonly int minShotFrames;
    private readonly List<int> cuts = [];
    private Mat? previous;
    private readonly Mat small = new(), diff = new();
    private int lastCut;

    /// <param name="threshold">Score (mean HSV difference, 0..~240) at or above which a frame starts a new shot.</param>
    /// <param name="minShotFrames">No shot shorter than this is cut off (PySceneDetect's <c>min_scene_len</c>, 15 frames by default).</param>
    public ShotDetector(double threshold = DefaultThreshold, int minShotFrames = 15)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(threshold);
        ArgumentOutOfRangeException.ThrowIfLessThan(minShotFrames, 1);
        this.threshold = threshold;
        this.minShotFrames = minShotFrames;
    }

    /// <summary>The frames (indices) at which a new shot starts, in order; frame 0 is never among them.</summary>
    public IReadOnlyList<int> Cuts => cuts;

    /// <summary>The score of the last frame pushed (NaN for the first).</summary>
    public double LastScore { get; private set; } = double.NaN;

    /// <summary>Feeds the next frame (8-bit BGR), in order; <paramref name="index"/> counts from 0.</summary>
    public void Push(int index, Mat bgr)
    {
        double scale = Math.Min(1.0, AnalysisWidth / (double)bgr.Width);
        if (scale < 1) Cv2.Resize(bgr, small, new Size(Math.Max(1, (int)Math.Round(bgr.Width * scale)), Math.Max(1, (int)Math.Round(bgr.Height * scale))), interpolation: InterpolationFlags.Area);
        else bgr.CopyTo(small);
        var hsv = new Mat();
        Cv2.CvtColor(small, hsv, ColorConversionCodes.BGR2HSV);
        if (previous is null || previous.Size() != hsv.Size())
        {
            previous?.Dispose();
            previous = hsv;
            LastScore = double.NaN;
            lastCut = index; // as PySceneDetect: the first shot also needs its minimum length before a cut
            return;
        }
        Cv2.Absdiff(hsv, previous, diff);
        var mean = Cv2.Mean(diff);
        LastScore = (mean.Val0 + mean.Val1 + mean.Val2) / 3;
        previous.Dispose();
        previous = hsv;
        if (LastScore >= threshold && index - lastCut >= minShotFrames)
        {
            cuts.Add(index);
            lastCut = index;
        }
    }

    public void Dispose()
    {
        previous?.Dispose();
        small.Dispose();
        diff.Dispose();
    }
}
