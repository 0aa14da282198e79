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
public sealed record DecodedVideoInfo(int FrameCount, double Fps, int Width, int Height, double Duration, int Passes, int Segments);

/// <summary>
/// Decodes a video into its segments (<see cref="SegmentingOptions.Plan"/>), streaming: each segment is handed on as soon as its
/// frames are decoded, so a film never has more than a segment's sampled frames in memory.
/// </summary>
/// <remarks>
/// Windows and whole videos are planned from the container's frame count, so one pass takes the frames. When the count turns
/// out wrong (truncated files, containers without a count), the segments handed on are withdrawn (<c>discard</c>) and a
/// second pass takes the frames of the plan made from the true count, as <see cref="VideoReader.Read"/> does. Shots need the
/// whole video seen first: one pass runs the <see cref="ShotDetector"/> on a small copy of every frame, a second takes the
/// frames (shots cost two decodes).
/// </remarks>
public static class SegmentDecoder
{
    public static DecodedVideoInfo Decode(string path, SegmentingOptions options, int frames, ClipImagePreprocessor preprocessor,
        Action<DecodedSegment> emit, Action discard, CancellationToken cancel = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(frames, 1);
        if (options.Mode == SegmentMode.Shots)
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
                return Take(path, plan, frames, preprocessor, emit, scan.FrameCount, passes: 2, cancel);
            }
            finally { live?.Dispose(); }
        }

        // Windows or whole video: plan from the container's count and take the frames in the same pass.
        List<(int Start, int End)>? planned = null;
        var state = new PassState(frames, preprocessor, emit);
        var first = FrameScan.Pass(path, i => state.Wants(i), state.OnFrame, probe =>
        {
            if (probe.EstimatedFrames > 0) state.Plan(planned = options.Plan(probe.EstimatedFrames, probe.Fps));
        }, cancel, state.OnGrab);
        if (first.FrameCount == 0) throw NoFrames(path);
        if (planned is not null && first.FrameCount == planned[^1].End)
        {
            state.Finish(first);
            return Info(first, 1, state.Emitted);
        }
        // The count was wrong or missing: withdraw what was handed on and take the frames of the true plan.
        if (state.Emitted > 0) discard();
        return Take(path, options.Plan(first.FrameCount, first.Fps), frames, preprocessor, emit, first.FrameCount, passes: 2, cancel);
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
