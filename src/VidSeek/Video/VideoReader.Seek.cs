using OpenCvSharp;

namespace VidSeek.Video;

// The seek path. OpenCV's FFmpeg backend seeks on set(CAP_PROP_POS_FRAMES, k) by converting k to a time with the
// stream's frame rate, calling av_seek_frame(AVSEEK_FLAG_BACKWARD) to the keyframe at or before a point some frames
// earlier, and decoding forward until the frame whose timestamp (pts × fps) it takes for k - 1; the next grab then
// gives "frame k". Its numbering is derived from timestamps, so it is frame k of the file only when frame i is stamped
// i / fps for every i: a constant frame rate with no gaps, which is what the checks below establish before seeking,
// and what every frame reached is verified against (its PosMsec must be k / fps).
public static partial class VideoReader
{
    /// <summary>The container families whose demuxers seek by an index of frame times (others are read sequentially).</summary>
    internal enum Container { Other, IsoBmff, Matroska }

    /// <summary>
    /// MP4/MOV (an ISO BMFF box type at bytes 4-7) or Matroska/WebM (the EBML magic). By content, not extension:
    /// AVI (index optional, "drop" chunks), MPEG-TS and raw streams have no frame index we can trust.
    /// </summary>
    internal static Container Sniff(string path)
    {
        Span<byte> head = stackalloc byte[12];
        int got;
        using (var f = File.OpenRead(path)) got = f.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        if (got >= 4 && head[0] == 0x1A && head[1] == 0x45 && head[2] == 0xDF && head[3] == 0xA3) return Container.Matroska;
        if (got >= 8)
        {
            var box = System.Text.Encoding.ASCII.GetString(head[4..8]);
            if (box is "ftyp" or "moov" or "mdat" or "free" or "wide" or "skip") return Container.IsoBmff;
        }
        return Container.Other;
    }

    /// <summary>
    /// Null when frame i of <paramref name="path"/> is the frame stamped i / fps for every i in [0, estimate), so that
    /// <paramref name="estimate"/> is the true frame count and seeking by frame number is exact; else why not.
    /// </summary>
    /// <remarks>
    /// Checks: (1) a container with a seek index; (2) Matroska and fragmented MP4 have no frame count (OpenCV's is
    /// duration × fps, which a variable-rate file with gaps still matches), so their video packets are counted in a
    /// demux-only pass (OpenCV's raw mode: reads the file, decodes nothing) and must equal the estimate — a plain MP4's
    /// count is its sample table's, exact unless the file is cut; (3) the last frame: seek to frame estimate-1, its
    /// timestamp must be (estimate-1) / fps, and no frame may follow. A cut file fails (3); a variable-rate MP4 fails (3) or the per-frame timestamp checks
    /// (its rate is frames / duration, off the frames' grid). What this cannot see: timestamps off the grid only in
    /// stretches never decoded, with exactly as many frames missing as added — then a frame could be misnumbered.
    /// </remarks>
    private static string? CheckSeekable(string path, int estimate, double fps)
    {
        var container = Sniff(path);
        if (container == Container.Other) return "not an MP4/MOV or Matroska/WebM file (the containers whose frame index VidSeek checks and seeks by)";
        if (estimate < 1 || fps <= 0) return "the container gives no frame count or frame rate";

        if (container == Container.Matroska || IsFragmented(path))
        {
            int packets = CountPackets(path);
            if (packets != estimate)
                return $"variable frame rate or damaged file: {packets} video packets, but duration × fps gives {estimate} frames";
        }

        using var capture = Open(path);
        if (SeekTo(capture, estimate - 1, fps, out var why) is not { } last)
            return $"variable frame rate, or a truncated or damaged file: the container promises {estimate} frames, but {why}";
        if (last != estimate - 1)
            return $"variable frame rate or truncated file: the last of {estimate} frames has timestamp {capture.PosMsec:F1} ms, expected {TimeOf(estimate - 1, fps):F1} ms";
        if (capture.Grab())
            return $"variable frame rate or damaged file: frames follow frame {estimate - 1}, the last the container promises";
        return null;
    }

    /// <summary>
    /// Whether an MP4/MOV file is fragmented (top-level 'moof' boxes): then there is no sample table for the whole file,
    /// OpenCV's frame count is duration × fps as for Matroska, and the packets must be counted.
    /// </summary>
    /// <remarks>
    /// Hand-written because nothing in OpenCV says whether its count came from a sample table: a walk over the top-level
    /// box headers (ISO/IEC 14496-12 §4.2: a 32-bit big-endian size and a 4-character type; size 1 means a 64-bit size
    /// follows, size 0 means "to the end of the file"). A few reads for a plain file (ftyp, moov, mdat); stops at the first
    /// 'moof'. A header it cannot follow counts as fragmented, which only costs the packet count.
    /// </remarks>
    internal static bool IsFragmented(string path)
    {
        using var f = File.OpenRead(path);
        Span<byte> header = stackalloc byte[16];
        long position = 0, length = f.Length;
        for (int boxes = 0; boxes < 100_000 && position + 8 <= length; boxes++)
        {
            f.Position = position;
            if (f.ReadAtLeast(header[..8], 8, throwOnEndOfStream: false) < 8) return true;
            long size = System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(header);
            var type = System.Text.Encoding.ASCII.GetString(header[4..8]);
            if (type == "moof") return true;
            if (size == 1)
            {
                if (f.ReadAtLeast(header[8..16], 8, throwOnEndOfStream: false) < 8) return true;
                size = (long)System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(header[8..16]);
            }
            else if (size == 0)
            {
                return false; // the last box runs to the end of the file
            }
            if (size < 8) return true;
            position += size;
        }
        return false;
    }

    /// <summary>Video packets in the file, demuxed but not decoded.</summary>
    private static int CountPackets(string path)
    {
        using var capture = Open(path);
        if (!capture.Set(VideoCaptureProperties.Format, -1)) return -1; // raw (packet) mode unavailable: not trusted
        int count = 0;
        while (capture.Grab()) count++;
        return count;
    }

    /// <summary>
    /// The frames at <paramref name="indices"/> (already checked to be below the true count), each reached by decoding
    /// forward from the last one when it is at most <paramref name="minSeekDistance"/> ahead, else by a seek; every
    /// frame's timestamp is checked against index / fps. Null, with the reason, at the first frame that fails.
    /// </summary>
    private static Dictionary<int, Frame>? ReadSeeking(string path, int[] indices, double fps, int minSeekDistance, out string? reason)
    {
        var frames = new Dictionary<int, Frame>();
        using var seeker = new Seeker(path, fps, minSeekDistance);
        foreach (int target in indices.Distinct().Order())
        {
            if (seeker.Read(target, out double ms, out reason) is not { } bgr) return null;
            frames[target] = new Frame(ToRgbBytes(bgr), bgr.Width, bgr.Height, double.IsFinite(ms) ? ms : -1);
        }
        reason = null;
        return frames;
    }

    /// <summary>
    /// The seek path's checks alone (<see cref="CheckSeekable"/>), for a caller that then reads a video in many pieces with
    /// one <see cref="Seeker"/>: null when the container's count <paramref name="estimate"/> is the true count and seeking
    /// by frame number is exact, else why not. One check per video (for Matroska and fragmented MP4 it is a demux pass).
    /// </summary>
    internal static string? SeekCheck(string path, out int estimate, out double fps)
    {
        CheckFile(path);
        (estimate, fps) = Header(path);
        return CheckSeekable(path, estimate, fps);
    }

    /// <summary>
    /// One open file read by seeking, for a video that passed <see cref="SeekCheck"/>: <see cref="Read"/> gives frame k,
    /// reached by decoding forward from the last frame read when it is at most minSeekDistance ahead, else by a seek, its
    /// timestamp verified against k / fps. Ascending targets are cheapest; any order works (a backward target seeks).
    /// </summary>
    internal sealed class Seeker(string path, double fps, int minSeekDistance) : IDisposable
    {
        private readonly VideoCapture capture = Open(path);
        private readonly Mat bgr = new();
        private int position = -1; // the index of the frame last grabbed; -1 before the first

        /// <summary>
        /// The frame <paramref name="target"/> as decoded (BGR, or grey/BGRA for some codecs; reused by the next call) and its
        /// timestamp in ms; null, with the reason, when it cannot be reached or its timestamp is not target / fps.
        /// </summary>
        public Mat? Read(int target, out double ms, out string? reason)
        {
            ms = double.NaN;
            if (target > position && target - position <= Math.Max(1, minSeekDistance))
            {
                // Forward from a frame whose index is known (the file's start, or a verified frame): plain counting.
                for (; position < target; position++)
                {
                    if (!capture.Grab())
                    {
                        reason = $"frame {position + 1} could not be decoded";
                        return null;
                    }
                }
            }
            else
            {
                if (SeekTo(capture, target, fps, out reason) is not { } landed) return null;
                position = landed;
            }
            ms = capture.PosMsec;
            // Frame 0 is the first frame by definition; every other frame must carry its own time.
            if (target > 0 && GridIndex(ms, fps) != target)
            {
                reason = $"frame {target} has timestamp {ms:F1} ms, expected {TimeOf(target, fps):F1} ms (variable frame rate?)";
                return null;
            }
            if (!capture.Retrieve(bgr) || bgr.Empty())
            {
                reason = $"frame {target} could not be decoded after seeking";
                return null;
            }
            reason = null;
            return bgr;
        }

        public void Dispose()
        {
            bgr.Dispose();
            capture.Dispose();
        }
    }

    /// <summary>
    /// Seeks so that the frame just grabbed is <paramref name="target"/> by its timestamp, correcting OpenCV's landing
    /// when it falls short (decode forward) or beyond (seek again, earlier). Returns the grid index of the frame grabbed
    /// last (the target, unless its timestamp is off the grid), or null with the reason.
    /// </summary>
    private static int? SeekTo(VideoCapture capture, int target, double fps, out string? reason)
    {
        const int maxCatchUp = 1024; // frames decoded forward to correct a short landing; more means the numbering is off
        int request = target;
        for (int attempt = 0; attempt < 3; attempt++)
        {
            capture.Set(VideoCaptureProperties.PosFrames, request);
            if (!capture.Grab())
            {
                reason = $"no frame decodes after seeking to frame {request}";
                return null;
            }
            int landed = GridIndex(capture.PosMsec, fps);
            if (landed < 0)
            {
                reason = $"seeking to frame {request} gave a frame stamped {capture.PosMsec:F1} ms, off the 1/{fps:G6} s grid (variable frame rate?)";
                return null;
            }
            if (landed <= target && target - landed <= maxCatchUp)
            {
                for (; landed < target; landed++)
                {
                    if (!capture.Grab())
                    {
                        reason = $"frame {landed + 1} could not be decoded";
                        return null;
                    }
                }
                reason = null;
                return GridIndex(capture.PosMsec, fps) is var k && k >= 0 ? k : landed;
            }
            request -= landed - target; // landed beyond (or far before): aim off by the error, once or twice
            if (request < 0) break;
        }
        reason = $"seeking did not reach frame {target}";
        return null;
    }

    /// <summary>i when <paramref name="ms"/> is within a quarter frame of i / fps (timestamps are rounded to the time base), else -1.</summary>
    private static int GridIndex(double ms, double fps)
    {
        if (!double.IsFinite(ms)) return -1;
        double k = ms * fps / 1000;
        double nearest = Math.Round(k);
        return Math.Abs(k - nearest) <= 0.25 && nearest >= 0 && nearest < int.MaxValue ? (int)nearest : -1;
    }

    private static double TimeOf(int index, double fps) => index * 1000 / fps;
}
