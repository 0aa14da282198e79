using OpenCvSharp;
using TorchSharp;
using VidSeek.Video;

namespace VidSeek.Index;

/// <summary>One segment's sampled frames, preprocessed for the model, with their thumbnails: what the encoder stage takes.</summary>
/// <param name="Ordinal">0, 1, ... in time order.</param>
/// <param name="FirstFrame">First frame index of the segment; <paramref name="EndFrame"/> is one past its last.</param>
/// <param name="Start">The first frame's time in seconds; <paramref name="End"/>: the next segment's first frame's time, or the video's end.</param>
/// <param name="Indices">The F sampled frame indices (<see cref="FrameSampler.Uniform"/> within the segment).</param>
/// <param name="Times">Their times in seconds.</param>
/// <param name="Pixels">Row-major <c>[F, 3, S, S]</c> float32, CLIP-preprocessed.</param>
/// <param name="Thumbnails">A JPEG per sampled frame.</param>
public sealed record DecodedSegment(int Ordinal, int FirstFrame, int EndFrame, double Start, double End, int[] Indices, double[] Times, float[] Pixels,
    IReadOnlyList<byte[]> Thumbnails);

/// <summary>What decoding a video found: its true frame count, rate, size and duration, and how many passes it took.</summary>
/// <param name="Passes">Sequential passes over the whole file (0 when every frame was reached by seeking).</param>
/// <param name="Method">How the sampled frames were reached.</param>
/// <param name="FallbackReason">Why the seek path was tried and not used (null when it was used, or not tried).</param>
/// <param name="Warning">Set when the file decodes only in part (e.g. cut short): what decoded of what the container promised.</param>
public sealed record DecodedVideoInfo(int FrameCount, double Fps, int Width, int Height, double Duration, int Passes, int Segments,
    FrameAccess Method = FrameAccess.Sequential, string? FallbackReason = null, string? Warning = null);

/// <summary>
/// Decodes a video into its segments (<see cref="SegmentingOptions.Plan"/>), streaming: each segment is handed on as soon as its
/// frames are decoded, so a film never has more than a segment's sampled frames in memory.
/// </summary>
/// <remarks>
/// Windows and whole videos of MP4/MOV and Matroska/WebM files whose frame count and timestamps check out (one
/// <see cref="VideoReader.SeekCheck"/> per video) are read by seeking: one open file, the sampled frames taken in ascending
/// order (decoding forward over short hops, seeking over long ones, every frame's timestamp verified), each segment handed on
/// once its frames are in, so the frames are the sequential path's (same indices, pixels and times; tested). Otherwise (AVI,
/// variable frame rate, damaged files, or sampled frames so dense that seeking cannot pay) the file is decoded front to back:
/// windows and whole videos are planned from the container's frame count, so one pass takes the frames. When the count turns
/// out wrong (truncated files, containers without a count), the segments handed on are withdrawn (<c>discard</c>) and a
/// second pass takes the frames of the plan made from the true count, as <see cref="VideoReader.Read"/> does. Shots need the
/// whole video seen first: one pass runs the <see cref="ShotDetector"/> on a small copy of every frame, then the sampled
/// frames are taken by seeking where the file passes the same check (a second decode of the whole file otherwise).
/// </remarks>
public static class SegmentDecoder
{
    /// <param name="read">Seek or decode sequentially (default: decide per file, as <see cref="VideoReader.Read"/>).</param>
    public static DecodedVideoInfo Decode(string path, SegmentingOptions options, int frames, ClipImagePreprocessor preprocessor,
        Action<DecodedSegment> emit, Action discard, CancellationToken cancel = default, VideoReadOptions? read = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(frames, 1);
        read ??= VideoReadOptions.Default;
        if (options.Mode == SegmentMode.Shots) return DecodeShots(path, options, frames, preprocessor, emit, discard, cancel, read);

        string? fallback = null;
        if (read.Access != FrameAccessMode.Sequential)
        {
            var header = FrameScan.Probe(path);
            if (header.EstimatedFrames > 0 && header.Fps > 0)
            {
                var plan = options.Plan(header.EstimatedFrames, header.Fps);
                var seeking = new PassState(frames, preprocessor, emit);
                seeking.Plan(plan);
                // Seeking pays only when the sampled frames lie further apart than a forward decode would cover (as VideoReader.Read).
                if (read.Access == FrameAccessMode.Seek || header.EstimatedFrames / (double)seeking.WantedCount > read.MinSeekDistance)
                {
                    fallback = VideoReader.SeekCheck(path, out int count, out double fps);
                    if (fallback is null)
                    {
                        var seek = TakeSeeking(path, seeking, count, fps, read.MinSeekDistance, cancel, out fallback);
                        if (seek is not null) return seek;
                    }
                    // A frame failed its check after all: withdraw what was handed on; the sequential path starts afresh.
                    if (seeking.Emitted > 0) discard();
                }
            }
        }

        // Windows or whole video, sequentially: plan from the container's count and take the frames in the same pass.
        List<(int Start, int End)>? planned = null;
        ContainerInfo? container = null;
        var state = new PassState(frames, preprocessor, emit);
        var first = FrameScan.Pass(path, i => state.Wants(i), state.OnFrame, probe =>
        {
            container = probe;
            if (probe.EstimatedFrames > 0) state.Plan(planned = options.Plan(probe.EstimatedFrames, probe.Fps));
        }, cancel, state.OnGrab);
        if (first.FrameCount == 0) throw NoFrames(path);
        string? warning = PartlyDecoded(path, container!, first);
        if (planned is not null && first.FrameCount == planned[^1].End)
        {
            state.Finish(first);
            return Info(first, 1, state.Emitted) with { FallbackReason = fallback, Warning = warning };
        }
        // The count was wrong or missing: withdraw what was handed on and take the frames of the true plan.
        if (state.Emitted > 0) discard();
        return Take(path, options.Plan(first.FrameCount, first.Fps), frames, preprocessor, emit, first.FrameCount, passes: 2, cancel)
            with { FallbackReason = fallback, Warning = warning };
    }

    /// <summary>
    /// Shots: a first pass decodes every frame for the <see cref="ShotDetector"/> (on a small copy of each) and learns the true
    /// count and every frame's timestamp; the second takes the sampled frames of the plan made from the cuts, by seeking when
    /// the file passes <see cref="VideoReader.SeekCheck"/> (its count must also be the one the first pass counted) and the
    /// sampled frames lie far enough apart for seeking to pay, else by decoding the whole file again.
    /// </summary>
    /// <remarks>
    /// Why a second pass at all, rather than keeping frames during the first: which frames a shot samples depends on where the
    /// shot ends, unknown until the next cut, so one pass would have to preprocess and keep every frame of the open shot (up to
    /// two windows, 1,800 frames at 30 fps). docs/PERFORMANCE.md ("Shots: the second pass") has the measurement that chose
    /// seeking. The segments' boundary times are the first pass's timestamps of the boundary frames, so the seek path gives the
    /// sequential path's segments exactly (tested).
    /// </remarks>
    private static DecodedVideoInfo DecodeShots(string path, SegmentingOptions options, int frames, ClipImagePreprocessor preprocessor,
        Action<DecodedSegment> emit, Action discard, CancellationToken cancel, VideoReadOptions read)
    {
        double fps = 0;
        ShotDetector? live = null;
        try
        {
            var scan = FrameScan.Pass(path, _ => true, (i, _, bgr) => live!.Push(i, bgr), probe =>
            {
                fps = probe.Fps;
                live = new ShotDetector(options.ShotThreshold, options.MinShotFrames(probe.Fps));
            }, cancel);
            if (scan.FrameCount == 0) throw NoFrames(path);
            var plan = options.Plan(scan.FrameCount, fps, live!.Cuts);
            string? fallback = null;
            if (read.Access != FrameAccessMode.Sequential)
            {
                var seeking = new PassState(frames, preprocessor, emit);
                seeking.Plan(plan);
                if (read.Access == FrameAccessMode.Seek || scan.FrameCount / (double)seeking.WantedCount > read.MinSeekDistance)
                {
                    fallback = VideoReader.SeekCheck(path, out int count, out double seekFps);
                    if (fallback is null && count != scan.FrameCount)
                        fallback = $"the container promises {count} frames, but {scan.FrameCount} decoded";
                    if (fallback is null)
                    {
                        // Boundaries at the first pass's timestamps (the end of the last segment: the duration, as Finish gives).
                        double Boundary(int k) => k < scan.FrameCount ? scan.Times[k] : Duration(scan);
                        var seek = TakeSeeking(path, seeking, count, seekFps, read.MinSeekDistance, cancel, out fallback, Boundary);
                        if (seek is not null) return seek with { Passes = 1, Fps = scan.Fps, Duration = Duration(scan) };
                    }
                    if (seeking.Emitted > 0) discard();
                }
            }
            return Take(path, plan, frames, preprocessor, emit, scan.FrameCount, passes: 2, cancel) with { FallbackReason = fallback };
        }
        finally { live?.Dispose(); }
    }

    /// <summary>
    /// The frames of a verified file (<see cref="VideoReader.SeekCheck"/>: <paramref name="count"/> is the true count, frame k
    /// is stamped k / fps) by seeking, handing each segment on as soon as its frames are in. Null, with the reason, when a frame
    /// fails its check (the caller withdraws what was handed on).
    /// </summary>
    /// <remarks>
    /// Segment boundaries are never decoded here, so their times are k / fps: the sequential path's are the boundary frames'
    /// timestamps, which equal k / fps up to the container's time base (e.g. 1 ms in Matroska). The sampled frames' times are
    /// their own timestamps, as on the sequential path.
    /// </remarks>
    /// <param name="boundary">The time of segment boundary frame k (default k / fps, the verified grid).</param>
    private static DecodedVideoInfo? TakeSeeking(string path, PassState state, int count, double fps, int minSeekDistance,
        CancellationToken cancel, out string? reason, Func<int, double>? boundary = null)
    {
        int width = 0, height = 0;
        using var seeker = new VideoReader.Seeker(path, fps, minSeekDistance);
        using var buffer = new Mat();
        foreach (int index in state.WantedAscending())
        {
            cancel.ThrowIfCancellationRequested();
            if (seeker.Read(index, out double ms, out reason) is not { } decoded) return null;
            var frame = FrameScan.ToBgr(decoded, buffer);
            if (width == 0) (width, height) = (frame.Width, frame.Height);
            else if (frame.Width != width || frame.Height != height)
                throw new VidSeekException($"{path} changes frame size mid-stream ({width}x{height}, then {frame.Width}x{frame.Height} at frame {index})");
            // As FrameScan.Pass: the frame's own timestamp, index / fps where it has none.
            state.OnFrame(index, double.IsFinite(ms) && ms >= 0 ? ms / 1000.0 : index / fps, frame);
            state.HandReady(boundary ?? (k => k >= count ? count / fps : k / fps));
        }
        reason = null;
        return new DecodedVideoInfo(count, fps, width, height, count / fps, 0, state.Emitted, FrameAccess.Seek);
    }

    /// <summary>
    /// A warning when the decoded frames end well before the container's duration (a file cut short: what decodes is indexed);
    /// null otherwise. A variable-rate file also decodes a count other than the container's estimate, but its last frame still
    /// lies near the container's end, so it is not flagged.
    /// </summary>
    private static string? PartlyDecoded(string path, ContainerInfo container, ScanPass pass)
    {
        double promised = container.EstimatedDuration;
        if (container.EstimatedFrames <= 0 || pass.FrameCount >= container.EstimatedFrames || promised <= 0) return null;
        if (pass.Duration >= 0.9 * promised) return null;
        return $"{pass.FrameCount} of ~{container.EstimatedFrames} frames decoded ({pass.Duration:F1} of {promised:F1} s; file truncated?); indexed what decodes";
    }

    private static VidSeekException NoFrames(string path) => new($"no frames could be decoded from {path} (the file may be truncated or corrupt)");

    private static DecodedVideoInfo Info(ScanPass pass, int passes, int segments) =>
        new(pass.FrameCount, pass.Fps, pass.Width, pass.Height, Duration(pass), passes, segments);

    /// <summary>The video's duration: frame count over the nominal rate (as the index always stored it), else the last timestamp.</summary>
    private static double Duration(ScanPass pass) => pass.Fps > 0 ? pass.FrameCount / pass.Fps : pass.Duration;

    /// <summary>A pass that takes the frames of a plan known to be right (the frame count is known).</summary>
    private static DecodedVideoInfo Take(string path, List<(int Start, int End)> plan, int frames, ClipImagePreprocessor preprocessor,
        Action<DecodedSegment> emit, int frameCount, int passes, CancellationToken cancel)
    {
        var state = new PassState(frames, preprocessor, emit);
        state.Plan(plan);
        var pass = FrameScan.Pass(path, state.Wants, state.OnFrame, null, cancel, state.OnGrab);
        if (pass.FrameCount != frameCount)
            throw new VidSeekException($"{path} decoded {frameCount} frames, then {pass.FrameCount} on a second read");
        state.Finish(pass);
        return Info(pass, passes, state.Emitted);
    }

    /// <summary>The segments of one pass: which frames are wanted, the frames taken so far, and handing segments on when complete.</summary>
    private sealed class PassState(int frames, ClipImagePreprocessor preprocessor, Action<DecodedSegment> emit)
    {
        private sealed class Pending(int ordinal, int start, int end, int[] indices)
        {
            public int Ordinal = ordinal, Start = start, End = end;
            public int[] Indices = indices;
            public float[]?[] Pixels = new float[indices.Length][];
            public byte[]?[] Thumbs = new byte[indices.Length][];
            public double[] Times = new double[indices.Length];
        }

        private readonly List<Pending> pending = [];
        private readonly Dictionary<int, List<(Pending Segment, int Slot)>> wanted = [];
        private readonly Dictionary<int, double> startTimes = [];
        private int next; // the first pending segment not yet handed on
        public int Emitted { get; private set; }

        public void Plan(List<(int Start, int End)> plan)
        {
            for (int o = 0; o < plan.Count; o++)
            {
                var (start, end) = plan[o];
                var indices = FrameSampler.Uniform(end - start, frames).Select(i => start + i).ToArray();
                var p = new Pending(o, start, end, indices);
                pending.Add(p);
                starts.Add(start);
                for (int slot = 0; slot < indices.Length; slot++)
                {
                    if (!wanted.TryGetValue(indices[slot], out var list)) wanted[indices[slot]] = list = [];
                    list.Add((p, slot));
                }
            }
        }

        public bool Wants(int index) => wanted.ContainsKey(index);

        /// <summary>Distinct frames sampled by the plan.</summary>
        public int WantedCount => wanted.Count;

        public IEnumerable<int> WantedAscending() => wanted.Keys.Order();

        /// <summary>
        /// The seek path's hand-off: every leading segment whose frames are all in, with its boundaries' times from
        /// <paramref name="boundary"/> (frame index -> seconds; the frame count -> the video's end).
        /// </summary>
        public void HandReady(Func<int, double> boundary)
        {
            while (next < pending.Count && pending[next].Pixels.All(x => x is not null))
            {
                var p = pending[next++];
                startTimes[p.Start] = boundary(p.Start);
                Hand(p, boundary(p.End));
            }
        }

        private readonly HashSet<int> starts = [];

        public void OnFrame(int index, double time, Mat bgr)
        {
            float[] pixels;
            using (var scope = torch.NewDisposeScope())
                pixels = preprocessor.ProcessBgr([bgr]).contiguous().data<float>().ToArray();   // [1, 3, S, S]
            var thumb = IndexBuilder.Thumbnail(bgr);
            foreach (var (segment, slot) in wanted[index])
            {
                // A frame sampled twice (a segment shorter than F frames, or overlapping windows) gets its own copies.
                segment.Pixels[slot] = segment.Pixels.Contains(pixels) ? (float[])pixels.Clone() : pixels;
                segment.Thumbs[slot] = thumb;
                segment.Times[slot] = time;
            }
        }

        /// <summary>Every grabbed frame: a segment is complete once the frame after it is reached.</summary>
        public void OnGrab(int index, double time)
        {
            if (pending.Count == 0) return;
            if (starts.Contains(index)) startTimes[index] = time;
            while (next < pending.Count && pending[next].End <= index) Hand(pending[next++], time);
        }

        public void Finish(ScanPass pass)
        {
            while (next < pending.Count) Hand(pending[next++], Duration(pass));
        }

        private void Hand(Pending p, double end)
        {
            if (p.Pixels.Any(x => x is null)) return; // planned past the true end: the caller re-plans
            int per = p.Pixels[0]!.Length;
            var flat = new float[per * p.Indices.Length];
            for (int i = 0; i < p.Indices.Length; i++) p.Pixels[i]!.CopyTo(flat, i * per);
            double start = startTimes.TryGetValue(p.Start, out double s) ? s : p.Times[0];
            emit(new DecodedSegment(p.Ordinal, p.Start, p.End, start, end, p.Indices, p.Times, flat, p.Thumbs.Select(t => t!).ToList()));
            Emitted++;
            p.Pixels = []; p.Thumbs = []; // release the frames
        }
    }
}
