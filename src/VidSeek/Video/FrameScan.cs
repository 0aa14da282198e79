using System.Runtime.CompilerServices;
using OpenCvSharp;

namespace VidSeek.Video;

/// <summary>What a container says about a video before anything is decoded (estimates: see <see cref="VideoReader"/>).</summary>
/// <param name="EstimatedFrames">CAP_PROP_FRAME_COUNT, or 0 when the container reports none.</param>
/// <param name="Fps">The nominal frame rate, or 0 when unknown.</param>
public sealed record ContainerInfo(int EstimatedFrames, double Fps, int Width, int Height)
{
    /// <summary>Estimated duration in seconds (0 when the container gives neither count nor rate).</summary>
    public double EstimatedDuration => Fps > 0 ? EstimatedFrames / Fps : 0;
}

/// <summary>What one <see cref="FrameScan.Pass"/> found: the true frame count and every frame's presentation time.</summary>
/// <param name="Times">Seconds, one per decoded frame (from the decoder's timestamps; index / fps where it has none).</param>
public sealed record ScanPass(int FrameCount, double Fps, double[] Times, int Width, int Height)
{
    /// <summary>End of the video: the last frame's time plus one frame interval.</summary>
    public double Duration => FrameCount == 0 ? 0 : Times[^1] + (Fps > 0 ? 1 / Fps : 0);
}

/// <summary>
/// One sequential pass over a video (OpenCV's FFmpeg, <see cref="VideoCapture.Grab"/> for every frame,
/// <see cref="VideoCapture.Retrieve(Mat, int)"/> only where asked), handing each retrieved frame to a callback with its index
/// and time, so a caller can take the few frames it needs (or a small copy of every frame, for the shot detector) without
/// holding a long video's frames in memory.
/// </summary>
/// <remarks>
/// Same decoding rules as <see cref="VideoReader"/> (which this does not change: the seeking path will replace the sequential
/// pass there and here alike): front to back, never seeking, the true count counted while decoding.
/// </remarks>
public static class FrameScan
{
    // VideoReader's static constructor silences FFmpeg's and OpenCV's logs; it must run before the first file is opened.
    static FrameScan() => RuntimeHelpers.RunClassConstructor(typeof(VideoReader).TypeHandle);

    /// <summary>Opens the file and reads the container's frame count, rate and size; decodes nothing.</summary>
    /// <exception cref="VidSeekException">The file is missing, empty, a folder or not a video.</exception>
    public static ContainerInfo Probe(string path)
    {
        using var capture = Open(path);
        return ProbeOpen(capture);
    }

    private static ContainerInfo ProbeOpen(VideoCapture capture)
    {
        double reported = capture.Get(VideoCaptureProperties.FrameCount);
        int estimate = double.IsFinite(reported) && reported >= 1 && reported < int.MaxValue ? (int)reported : 0;
        double fps = capture.Fps is var f && double.IsFinite(f) && f > 0 ? f : 0;
        return new ContainerInfo(estimate, fps, capture.FrameWidth, capture.FrameHeight);
    }

    /// <summary>
    /// Decodes <paramref name="path"/> front to back. For every frame whose index <paramref name="retrieve"/> accepts, the
    /// frame is converted to 8-bit BGR and passed to <paramref name="onFrame"/> with its index and time in seconds; the
    /// <see cref="Mat"/> is reused, so copy what must outlive the call.
    /// </summary>
    /// <param name="onStart">Called once before the first frame with what the container says (e.g. to plan which frames to take).</param>
    /// <param name="onGrab">Called for every frame, retrieved or not, with its index and time, before <paramref name="retrieve"/>.</param>
    /// <exception cref="VidSeekException">The file cannot be opened, or a frame that was grabbed cannot be retrieved.</exception>
    public static ScanPass Pass(string path, Func<int, bool> retrieve, Action<int, double, Mat> onFrame, Action<ContainerInfo>? onStart = null,
        CancellationToken cancel = default, Action<int, double>? onGrab = null)
    {
        using var capture = Open(path);
        var probe = ProbeOpen(capture);
        onStart?.Invoke(probe);
        var times = new List<double>(Math.Max(16, probe.EstimatedFrames + 1));
        using var decoded = new Mat();
        using var bgr = new Mat();
        int width = 0, height = 0;
        while (capture.Grab())
        {
            cancel.ThrowIfCancellationRequested();
            int index = times.Count;
            double ms = capture.PosMsec; // the frame just grabbed, from its timestamp
            double time = double.IsFinite(ms) && ms >= 0 ? ms / 1000.0 : probe.Fps > 0 ? index / probe.Fps : 0;
            times.Add(time);
            onGrab?.Invoke(index, time);
            if (!retrieve(index)) continue;
            if (!capture.Retrieve(decoded) || decoded.Empty())
                throw new VidSeekException($"frame {index} of {path} could not be decoded");
            var frame = ToBgr(decoded, bgr);
            if (width == 0) (width, height) = (frame.Width, frame.Height);
            else if (frame.Width != width || frame.Height != height)
                throw new VidSeekException($"{path} changes frame size mid-stream ({width}x{height}, then {frame.Width}x{frame.Height} at frame {index})");
            onFrame(index, time, frame);
        }
        return new ScanPass(times.Count, probe.Fps, times.ToArray(), width > 0 ? width : probe.Width, height > 0 ? height : probe.Height);
    }

    /// <summary>OpenCV hands out BGR, or grey/BGRA for some codecs: always give 8-bit BGR.</summary>
    internal static Mat ToBgr(Mat decoded, Mat buffer)
    {
        if (decoded.Depth() != MatType.CV_8U) throw new InvalidOperationException($"unexpected decoded depth {decoded.Type()}");
        switch (decoded.Channels())
        {
            case 3: return decoded;
            case 1: Cv2.CvtColor(decoded, buffer, ColorConversionCodes.GRAY2BGR); return buffer;
            case 4: Cv2.CvtColor(decoded, buffer, ColorConversionCodes.BGRA2BGR); return buffer;
            default: throw new InvalidOperationException($"unexpected decoded channel count {decoded.Channels()}");
        }
    }

    /// <summary>Opens as <see cref="VideoReader"/> does (the same checks and messages, the FFmpeg backend only).</summary>
    private static VideoCapture Open(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        return VideoReader.OpenChecked(path);
    }
}
