using System.Globalization;
using System.Text.Json.Serialization;

namespace VidSeek.Index;

/// <summary>How a video is cut into the segments (moments) that search ranks.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<SegmentMode>))]
public enum SegmentMode
{
    /// <summary>The whole video is one segment (every clip of an annotated dataset; indexes built before segments existed).</summary>
    None,
    /// <summary>Fixed windows of <see cref="SegmentingOptions.Window"/> seconds every <see cref="SegmentingOptions.Stride"/> seconds.</summary>
    Window,
    /// <summary>Shots: cut where the picture changes (<see cref="Video.ShotDetector"/>), long shots split into windows.</summary>
    Shots,
}

/// <summary>
/// The segmenting choice, stored in the <see cref="IndexManifest"/>: an index holds one kind of segments, so updating it with
/// another choice is refused (like another model), since its old and new videos would no longer be comparable moments.
/// </summary>
/// <remarks>
/// Segments are planned on frame indices with the container's nominal frame rate (a window of 30 s at 25 fps is 750
/// frames), so the plan is known before decoding and the frames are taken in one pass; the stored start and end times are
/// the decoder's timestamps of the first frame of the segment and of the frame after it. A video no longer than
/// <see cref="MinWindowsFactor"/> windows stays one segment, so short clips are indexed as before.
/// </remarks>
public sealed record SegmentingOptions
{
    /// <summary>A video is cut into windows only when it is longer than this many windows.</summary>
    public const double MinWindowsFactor = 2;

    public SegmentMode Mode { get; init; } = SegmentMode.Window;
    /// <summary>Window length in seconds (windows, and the pieces long shots are split into).</summary>
    public double Window { get; init; } = 30;
    /// <summary>Seconds from one window's start to the next's (less than <see cref="Window"/>: overlapping windows).</summary>
    public double Stride { get; init; } = 30;
    /// <summary>Shots: the detector's threshold (mean HSV difference between consecutive frames).</summary>
    public double ShotThreshold { get; init; } = Video.ShotDetector.DefaultThreshold;
    /// <summary>Shots: the shortest shot in seconds; a change sooner after a cut is not a new shot.</summary>
    public double MinShot { get; init; } = 1;

    /// <summary>Windows of 30 s every 30 s, for videos longer than a minute.</summary>
    public static SegmentingOptions Default { get; } = new();

    /// <summary>One segment per video.</summary>
    public static SegmentingOptions WholeVideo { get; } = new() { Mode = SegmentMode.None };

    /// <summary>A short, exact description (also what two manifests are compared by): "none", "window 30s/30s", "shots 27 min 1s, window 30s".</summary>
    public string Describe() => Mode switch
    {
        SegmentMode.None => "none",
        SegmentMode.Window => $"window {Seconds(Window)}/{Seconds(Stride)}",
        _ => $"shots {ShotThreshold.ToString(CultureInfo.InvariantCulture)} min {Seconds(MinShot)}, window {Seconds(Window)}",
    };

    public override string ToString() => Describe();

    private static string Seconds(double s) => s.ToString("0.###", CultureInfo.InvariantCulture) + "s";

    /// <exception cref="VidSeekException">A length is not positive, or the stride is longer than the window (frames would be skipped).</exception>
    public void Validate()
    {
        if (Mode == SegmentMode.None) return;
        if (!(Window > 0) || !double.IsFinite(Window)) throw new VidSeekException($"--segment must be a positive duration, got {Window}");
        if (Mode == SegmentMode.Window && (!(Stride > 0) || Stride > Window))
            throw new VidSeekException($"--stride must be positive and at most the window ({Seconds(Window)}), got {Seconds(Stride)}");
        if (Mode == SegmentMode.Shots && (!(ShotThreshold > 0) || !(MinShot > 0)))
            throw new VidSeekException("--shot-threshold and --min-shot must be positive");
    }

    /// <summary>Parses a duration: <c>30</c>, <c>30s</c>, <c>1.5s</c>, <c>2m</c>, <c>1h</c>, <c>1:30</c> (m:s) or <c>1:02:03</c>.</summary>
    /// <exception cref="VidSeekException">Not a duration.</exception>
    public static double ParseDuration(string text, string option)
    {
        string t = text.Trim().ToLowerInvariant();
        double value;
        if (t.Contains(':'))
        {
            var parts = t.Split(':');
            value = 0;
            foreach (var p in parts)
            {
                if (!double.TryParse(p, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || v < 0) return Bad();
                value = value * 60 + v;
            }
            return parts.Length <= 3 ? value : Bad();
        }
        double unit = t.EndsWith("ms") ? 0.001 : t.EndsWith('s') ? 1 : t.EndsWith('m') ? 60 : t.EndsWith('h') ? 3600 : 1;
        string number = t.EndsWith("ms") ? t[..^2] : char.IsLetter(t[^1]) ? t[..^1] : t;
        return double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out value) && value >= 0 && double.IsFinite(value) ? value * unit : Bad();

        double Bad() => throw new VidSeekException($"{option} expects a duration like 30s, 2m or 1:30, got '{text}'");
    }

    /// <summary>
    /// The segments of a video of <paramref name="frameCount"/> frames at <paramref name="fps"/>, as half-open frame ranges
    /// <c>[Start, End)</c> in time order that cover every frame. <paramref name="cuts"/>: for <see cref="SegmentMode.Shots"/>, the
    /// frames at which shots start (from <see cref="Video.ShotDetector"/>).
    /// </summary>
    public List<(int Start, int End)> Plan(int frameCount, double fps, IReadOnlyList<int>? cuts = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(frameCount, 1);
        if (fps <= 0 || !double.IsFinite(fps)) fps = 25; // unknown rate: plan as if 25 fps (the times stored are the decoder's anyway)
        switch (Mode)
        {
            case SegmentMode.None:
                return [(0, frameCount)];
            case SegmentMode.Window:
                return Windows(0, frameCount, fps);
            default:
                ArgumentNullException.ThrowIfNull(cuts);
                var shots = new List<(int Start, int End)>();
                int start = 0;
                foreach (int c in cuts.Where(c => c > 0 && c < frameCount).Distinct().Order())
                {
                    shots.Add((start, c));
                    start = c;
                }
                shots.Add((start, frameCount));
                // The detector keeps shots at least MinShot long, except the last, which the end of the video may cut short.
                int minFrames = MinShotFrames(fps);
                if (shots.Count > 1 && shots[^1].End - shots[^1].Start < minFrames)
                {
                    shots[^2] = (shots[^2].Start, frameCount);
                    shots.RemoveAt(shots.Count - 1);
                }
                // A long shot (a lecture, a static camera) is split into windows, so no moment is longer than a couple of windows.
                return shots.SelectMany(s => Windows(s.Start, s.End, fps)).ToList();
        }
    }

    /// <summary>The detector's minimum shot length in frames at <paramref name="fps"/>.</summary>
    public int MinShotFrames(double fps) => Math.Max(1, (int)Math.Round(MinShot * (fps > 0 ? fps : 25)));

    /// <summary>
    /// Windows over frames <c>[from, to)</c>: starts every stride until a window reaches the end; a last window shorter than half
    /// a window is merged into the one before it. A range no longer than <see cref="MinWindowsFactor"/> windows is one segment.
    /// </summary>
    private List<(int Start, int End)> Windows(int from, int to, double fps)
    {
        int n = to - from;
        int w = Math.Max(1, (int)Math.Round(Window * fps));
        int s = Mode == SegmentMode.Window ? Math.Max(1, (int)Math.Round(Stride * fps)) : w;
        if (n <= MinWindowsFactor * w) return [(from, to)];
        var result = new List<(int Start, int End)>();
        for (int start = 0; ; start += s)
        {
            result.Add((from + start, from + Math.Min(start + w, n)));
            if (start + w >= n) break;
        }
        if (result.Count > 1 && result[^1].End - result[^1].Start < w / 2.0)
        {
            result.RemoveAt(result.Count - 1);
            result[^1] = (result[^1].Start, to);
        }
        return result;
    }
}
