using System.Runtime.InteropServices;
using OpenCvSharp;

namespace VidSeek.Video;

/// <summary>Decodes the F sampled frames of a video file with OpenCV's bundled FFmpeg.</summary>
/// <remarks>
/// Two paths give the same frames (same indices, same pixels; tested on every fixture and on long generated videos):
/// <list type="bullet">
/// <item><b>Sequential</b> (the reference): the file is read front to back with <see cref="VideoCapture.Grab"/>
/// (demux + decode, no colour conversion), and <see cref="VideoCapture.Retrieve(Mat, int)"/> runs only for the
/// wanted indices. CAP_PROP_FRAME_COUNT is only an estimate (from the header, or duration × fps), wrong for
/// truncated or variable-rate files, so the same pass counts the frames; when the true count differs from the
/// estimate the wanted indices were wrong, so they are computed again from the true count and a second pass
/// retrieves exactly those.</item>
/// <item><b>Seek</b> (VideoReader.Seek.cs), for MP4/MOV and Matroska/WebM files whose frame count and timestamps
/// check out: each wanted frame is reached by seeking to the keyframe before it and decoding forward, and its
/// timestamp is verified. Any failed check falls back to the sequential path and says why
/// (<see cref="DecodedFrames.FallbackReason"/>).</item>
/// </list>
/// </remarks>
public static partial class VideoReader
{
    static VideoReader() => QuietNativeLogs();

    /// <summary>
    /// Reads <paramref name="numFrames"/> frames of <paramref name="path"/>, chosen by
    /// <see cref="FrameSampler.Sample"/> on the video's true frame count.
    /// </summary>
    /// <param name="path">A video file OpenCV's FFmpeg can decode (mp4, mkv, mov, webm, avi, ...).</param>
    /// <param name="numFrames">F, at least 1. A video shorter than F frames repeats its last frame.</param>
    /// <param name="mode">Middle frame of each interval, or a random one.</param>
    /// <param name="rng">
    /// Random source for <see cref="SamplingMode.Random"/>; <see cref="Random.Shared"/> when null. Indices are
    /// drawn once from the container's count and, when that count proves wrong, once more from the true count, on
    /// both paths, so the same seed gives the same frames whichever path runs.
    /// </param>
    /// <param name="options">Seek or decode sequentially (default: decide per file, <see cref="VideoReadOptions"/>).</param>
    /// <returns>F RGB frames of <c>[H, W, 3]</c> bytes and their indices and times.</returns>
    /// <exception cref="VidSeekException">The file is missing, empty, a folder, not a video, or has no decodable frame.</exception>
    public static DecodedFrames Read(string path, int numFrames, SamplingMode mode, Random? rng = null, VideoReadOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentOutOfRangeException.ThrowIfLessThan(numFrames, 1);
        CheckFile(path);
        options ??= VideoReadOptions.Default;

        int estimate;
        double fps;
        using (var capture = Open(path))
        {
            (estimate, fps) = HeaderOf(capture);
            bool trySeek = options.Access switch
            {
                FrameAccessMode.Sequential => false,
                FrameAccessMode.Seek => true,
                // Seeking pays only when the sampled frames are further apart than a forward decode would cover.
                _ => estimate / numFrames > options.MinSeekDistance,
            };
            // The capture just opened serves the first pass, as before the seek path existed (one open per short clip).
            if (!trySeek) return ReadSequential(path, numFrames, mode, rng, estimate, fps, null, capture);
        }

        string? reason = CheckSeekable(path, estimate, fps);
        if (reason is not null) return ReadSequential(path, numFrames, mode, rng, estimate, fps, null) with { FallbackReason = reason };

        // The checks made the container's count the true count: draw the indices from it, as the sequential path would.
        var indices = FrameSampler.Sample(mode, estimate, numFrames, rng);
        var frames = ReadSeeking(path, indices, fps, options.MinSeekDistance, out reason);
        if (frames is not null)
            return Assemble(path, new Pass(estimate, frames), indices, estimate, fps, 0) with { Method = FrameAccess.Seek };
        // A frame's timestamp did not match after all: the sequential path, starting from the same draw.
        return ReadSequential(path, numFrames, mode, rng, estimate, fps, indices) with { FallbackReason = reason };
    }

    /// <summary>
    /// The frames at <paramref name="indices"/> (any order, repeats allowed; 0-based in decode order, as
    /// <see cref="DecodedFrames.Indices"/>), by seeking where the container can be trusted, else sequentially.
    /// </summary>
    /// <exception cref="VidSeekException">As <see cref="Read"/>, or an index at or past the video's last frame.</exception>
    public static DecodedFrames ReadAt(string path, IReadOnlyList<int> indices, VideoReadOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(indices);
        if (indices.Count == 0) throw new ArgumentException("no frame indices given", nameof(indices));
        foreach (int i in indices) ArgumentOutOfRangeException.ThrowIfNegative(i, nameof(indices));
        CheckFile(path);
        options ??= VideoReadOptions.Default;
        var wanted = indices.ToArray();

        var (estimate, fps) = Header(path);
        string? reason = null;
        if (options.Access != FrameAccessMode.Sequential)
        {
            reason = CheckSeekable(path, estimate, fps);
            if (reason is null)
            {
                CheckInRange(path, wanted, estimate);
                var frames = ReadSeeking(path, wanted, fps, options.MinSeekDistance, out reason);
                if (frames is not null)
                    return Assemble(path, new Pass(estimate, frames), wanted, estimate, fps, 0) with { Method = FrameAccess.Seek };
            }
        }
        Pass pass;
        using (var capture = Open(path)) pass = ReadPass(capture, wanted, path);
        if (pass.Count == 0)
            throw new VidSeekException($"no frames could be decoded from {path} (the file may be truncated or corrupt)");
        CheckInRange(path, wanted, pass.Count);
        return Assemble(path, pass, wanted, estimate, fps, 1) with { FallbackReason = reason };
    }

    /// <summary>
    /// The frames shown at <paramref name="seconds"/> (from the first frame's time): for each time, the last frame
    /// whose timestamp is at or before it (the first frame for earlier times, the last for later ones).
    /// </summary>
    /// <exception cref="VidSeekException">As <see cref="Read"/>.</exception>
    public static DecodedFrames ReadAtTimes(string path, IReadOnlyList<double> seconds, VideoReadOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(seconds);
        if (seconds.Count == 0) throw new ArgumentException("no times given", nameof(seconds));
        var info = Probe(path, options);
        int[] indices;
        if (info.Method == FrameAccess.Seek)
        {
            // Verified constant rate: frame i is stamped i / fps (a millisecond of slack for rounded timestamps).
            indices = seconds.Select(t => (int)Math.Clamp(Math.Floor(t * info.Fps + 1e-3 * info.Fps), 0, info.FrameCount - 1)).ToArray();
            return ReadAt(path, indices, options);
        }
        var times = FrameTimes(path);
        indices = seconds.Select(t =>
        {
            int k = Array.BinarySearch(times, t * 1000 + 1e-3);
            return Math.Clamp(k >= 0 ? k : ~k - 1, 0, times.Length - 1);
        }).ToArray();
        return ReadAt(path, indices, (options ?? VideoReadOptions.Default) with { Access = FrameAccessMode.Sequential }) with { FallbackReason = info.FallbackReason };
    }

    /// <summary>
    /// The true frame count and how frames of <paramref name="path"/> will be reached: by the seek checks where they pass
    /// (cheap), else by counting in a sequential pass (decodes the whole file).
    /// </summary>
    /// <exception cref="VidSeekException">As <see cref="Read"/>.</exception>
    public static VideoProbe Probe(string path, VideoReadOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        CheckFile(path);
        options ??= VideoReadOptions.Default;
        var (estimate, fps) = Header(path);
        string? reason = null;
        if (options.Access != FrameAccessMode.Sequential)
        {
            reason = CheckSeekable(path, estimate, fps);
            if (reason is null) return new VideoProbe(path, estimate, estimate, fps, FrameAccess.Seek, null);
        }
        int count = FrameTimes(path).Length;
        return new VideoProbe(path, count, estimate, fps, FrameAccess.Sequential, reason);
    }

    private static void CheckInRange(string path, int[] indices, int count)
    {
        int max = indices.Max();
        if (max >= count)
            throw new VidSeekException($"frame {max} asked of {path}, which has {count} frames (0-{count - 1})");
    }

    /// <summary>Every frame's timestamp in milliseconds, by a grab-only pass (decodes, converts nothing).</summary>
    private static double[] FrameTimes(string path)
    {
        using var capture = Open(path);
        var times = new List<double>();
        while (capture.Grab()) times.Add(capture.PosMsec);
        if (times.Count == 0)
            throw new VidSeekException($"no frames could be decoded from {path} (the file may be truncated or corrupt)");
        return times.ToArray();
    }

    /// <summary>The container's frame count estimate (0 when it has none) and frame rate (0 when unknown).</summary>
    private static (int Estimate, double Fps) Header(string path)
    {
        using var capture = Open(path);
        return HeaderOf(capture);
    }

    private static (int Estimate, double Fps) HeaderOf(VideoCapture capture)
    {
        double reported = capture.Get(VideoCaptureProperties.FrameCount);
        int estimate = double.IsFinite(reported) && reported >= 1 && reported < int.MaxValue ? (int)reported : 0;
        double fps = capture.Fps is var f && double.IsFinite(f) && f > 0 ? f : 0;
        return (estimate, fps);
    }

    /// <summary>
    /// Today's exact path: one pass with indices from the estimate (or <paramref name="firstIndices"/>, already drawn
    /// from it), and a second with indices from the true count when the estimate was wrong.
    /// </summary>
    private static DecodedFrames ReadSequential(string path, int numFrames, SamplingMode mode, Random? rng, int estimate, double fps,
        int[]? firstIndices, VideoCapture? opened = null)
    {
        Pass pass;
        int[]? indices = firstIndices ?? (estimate > 0 ? FrameSampler.Sample(mode, estimate, numFrames, rng) : null);
        if (opened is not null) pass = ReadPass(opened, indices ?? [], path);
        else using (var capture = Open(path)) pass = ReadPass(capture, indices ?? [], path);
        if (pass.Count == 0)
            throw new VidSeekException($"no frames could be decoded from {path} (the file may be truncated or corrupt)");

        int passes = 1;
        if (pass.Count != estimate)
        {
            // The estimate was wrong (or missing), so the indices above may point past the end or at the
            // wrong frames: recompute them from the true count and read again.
            indices = FrameSampler.Sample(mode, pass.Count, numFrames, rng);
            using var capture = Open(path);
            var second = ReadPass(capture, indices, path);
            if (second.Count != pass.Count)
                throw new VidSeekException($"{path} decoded {pass.Count} frames, then {second.Count} on a second read");
            pass = second;
            passes = 2;
        }

        return Assemble(path, pass, indices!, estimate, fps, passes);
    }

    /// <summary>
    /// Reads every frame of <paramref name="path"/> in one sequential pass (for training, where frames are
    /// sampled again every epoch from a cache). Indices are 0..n-1 with n the true frame count.
    /// </summary>
    /// <exception cref="VidSeekException">As <see cref="Read"/>.</exception>
    public static DecodedFrames ReadAll(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        CheckFile(path);
        using var capture = Open(path);
        double reported = capture.Get(VideoCaptureProperties.FrameCount);
        int estimate = double.IsFinite(reported) && reported >= 1 && reported < int.MaxValue ? (int)reported : 0;
        double fps = capture.Fps is var f && double.IsFinite(f) && f > 0 ? f : 0;
        var pass = ReadPass(capture, _ => true, path);
        if (pass.Count == 0)
            throw new VidSeekException($"no frames could be decoded from {path} (the file may be truncated or corrupt)");
        return Assemble(path, pass, Enumerable.Range(0, pass.Count).ToArray(), estimate, fps, 1);
    }

    private static DecodedFrames Assemble(string path, Pass pass, int[] indices, int estimate, double fps, int passes)
    {
        int width = pass.Frames[indices[0]].Width, height = pass.Frames[indices[0]].Height;
        var frames = new byte[indices.Length][];
        var times = new double[indices.Length];
        for (int i = 0; i < indices.Length; i++)
        {
            var frame = pass.Frames[indices[i]];
            frames[i] = i > 0 && indices[i] == indices[i - 1] ? (byte[])frame.Rgb.Clone() : frame.Rgb;
            times[i] = frame.TimeMs >= 0 ? frame.TimeMs / 1000.0 : fps > 0 ? indices[i] / fps : 0;
            if (frame.Width != width || frame.Height != height)
                throw new VidSeekException($"{path} changes frame size mid-stream ({width}x{height}, then {frame.Width}x{frame.Height} at frame {indices[i]})");
        }
        return new DecodedFrames(path, frames, width, height, pass.Count, estimate, fps, indices, times, passes);
    }

    private sealed record Frame(byte[] Rgb, int Width, int Height, double TimeMs);

    private sealed record Pass(int Count, Dictionary<int, Frame> Frames);

    /// <summary>Grabs every frame of an opened capture, retrieving (as RGB) those in <paramref name="wanted"/>.</summary>
    private static Pass ReadPass(VideoCapture capture, int[] wanted, string path) =>
        ReadPass(capture, new HashSet<int>(wanted).Contains, path);

    private static Pass ReadPass(VideoCapture capture, Func<int, bool> want, string path)
    {
        var frames = new Dictionary<int, Frame>();
        using var bgr = new Mat();
        int count = 0;
        while (capture.Grab())
        {
            if (want(count))
            {
                double ms = capture.PosMsec; // the frame just grabbed, from its timestamp
                if (!capture.Retrieve(bgr) || bgr.Empty())
                    throw new VidSeekException($"frame {count} of {path} could not be decoded");
                frames[count] = new Frame(ToRgbBytes(bgr), bgr.Width, bgr.Height, double.IsFinite(ms) ? ms : -1);
            }
            count++;
        }
        return new Pass(count, frames);
    }

    /// <summary>OpenCV hands out BGR (or grey/BGRA for some codecs); the rest of VidSeek wants RGB bytes.</summary>
    private static byte[] ToRgbBytes(Mat decoded)
    {
        var code = decoded.Channels() switch
        {
            1 => ColorConversionCodes.GRAY2RGB,
            4 => ColorConversionCodes.BGRA2RGB,
            _ => ColorConversionCodes.BGR2RGB,
        };
        using var rgb = new Mat();
        Cv2.CvtColor(decoded, rgb, code);
        if (rgb.Depth() != MatType.CV_8U) throw new InvalidOperationException($"unexpected decoded depth {rgb.Type()}");
        var bytes = new byte[rgb.Rows * rgb.Cols * 3];
        Marshal.Copy(rgb.Data, bytes, 0, bytes.Length); // a fresh CvtColor output is continuous
        return bytes;
    }

    /// <summary>
    /// Every frame of <paramref name="path"/> in order, as a JPEG no larger than <paramref name="maxSide"/> pixels, with its
    /// time in seconds: a preview stream for clients that cannot decode the file's codec themselves (browsers and mp4v).
    /// </summary>
    public static IEnumerable<(byte[] Jpeg, double Time)> JpegFrames(string path, int maxSide = 320)
    {
        CheckFile(path);
        using var capture = Open(path);
        double fps = capture.Fps is var f && double.IsFinite(f) && f > 0 ? f : 25;
        using var frame = new Mat();
        using var small = new Mat();
        for (int i = 0; capture.Read(frame) && !frame.Empty(); i++)
        {
            double scale = Math.Min(1.0, maxSide / (double)Math.Max(frame.Width, frame.Height));
            var target = scale < 1 ? small : frame;
            if (scale < 1) Cv2.Resize(frame, small, new Size(Math.Max(1, (int)(frame.Width * scale)), Math.Max(1, (int)(frame.Height * scale))), interpolation: InterpolationFlags.Area);
            Cv2.ImEncode(".jpg", target, out var jpeg, new ImageEncodingParam(ImwriteFlags.JpegQuality, 85));
            yield return (jpeg, i / fps);
        }
    }

    /// <summary><see cref="CheckFile"/>, then <see cref="Open"/>: for the other readers of this folder (FrameScan).</summary>
    internal static VideoCapture OpenChecked(string path)
    {
        CheckFile(path);
        return Open(path);
    }

    /// <summary>Opens with the FFmpeg backend only (ANY would also try e.g. the image-sequence backend, which reads '%' in names as a pattern).</summary>
    private static VideoCapture Open(string path)
    {
        VideoCapture capture;
        try
        {
            capture = new VideoCapture(path, VideoCaptureAPIs.FFMPEG);
        }
        catch (OpenCVException e)
        {
            throw new VidSeekException($"cannot open video: {path} ({e.Message})", e);
        }
        if (!capture.IsOpened())
        {
            capture.Dispose();
            throw new VidSeekException($"cannot open video: {path} (not a video file, or a format FFmpeg cannot read)");
        }
        return capture;
    }

    /// <summary>Fails early, with a clear message, on what OpenCV would only answer with "not opened".</summary>
    private static void CheckFile(string path)
    {
        if (Directory.Exists(path))
            throw new VidSeekException($"expected a video file but found a folder: {path}");
        if (!File.Exists(path))
            throw new VidSeekException($"video file not found: {path}");
        if (new FileInfo(path).Length == 0)
            throw new VidSeekException($"video file is empty (0 bytes): {path}");
    }

    /// <summary>
    /// FFmpeg prints decoder errors ("moov atom not found", "Invalid NAL unit size") and OpenCV prints
    /// warnings to stderr for corrupt files; VidSeek reports those files through
    /// <see cref="VidSeekException"/>, so the noise only confuses. OpenCV reads OPENCV_FFMPEG_LOGLEVEL when it
    /// first opens a file with FFmpeg and OPENCV_LOG_LEVEL on its first log line, both with getenv; on Linux
    /// .NET's <see cref="Environment.SetEnvironmentVariable(string, string)"/> changes only a managed copy, so
    /// libc's setenv is called as well. A value the user already set is kept (overwrite = 0), so
    /// OPENCV_FFMPEG_LOGLEVEL=24 (warnings) brings the messages back. Too late if something else in the process
    /// opened a video through OpenCV first.
    /// </summary>
    private static void QuietNativeLogs()
    {
        Set("OPENCV_FFMPEG_LOGLEVEL", "-8"); // AV_LOG_QUIET
        Set("OPENCV_LOG_LEVEL", "ERROR");

        static void Set(string name, string value)
        {
            if (!string.IsNullOrEmpty(Environment.GetEnvironmentVariable(name))) return;
            Environment.SetEnvironmentVariable(name, value);
            if (OperatingSystem.IsLinux())
            {
                try { _ = setenv(name, value, 0); }
                catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { } // only noise is at stake
            }
        }
    }

    [DllImport("libc.so.6", CharSet = CharSet.Ansi)] // Ansi is UTF-8 on Unix
    private static extern int setenv(string name, string value, int overwrite);
}
