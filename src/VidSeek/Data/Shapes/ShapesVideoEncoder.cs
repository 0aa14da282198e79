using System.Runtime.CompilerServices;
using OpenCvSharp;
using VidSeek.Video;

namespace VidSeek.Data.Shapes;

/// <summary>Renders a Shapes video and encodes it to .mp4 with OpenCV's bundled FFmpeg (MPEG-4 part 2, FourCC <c>mp4v</c>).</summary>
/// <remarks>
/// Why mp4v: it is the MP4 encoder the FFmpeg bundled with OpenCvSharp 4.13 has. Its only H.264 and HEVC
/// encoders are the V4L2 hardware ones (<c>h264_v4l2m2m</c>), which fail to open without a device, so
/// <c>avc1</c>/<c>H264</c> writers do not open; libx264 is not in the build. Every decoder reads MPEG-4 part 2.
/// </remarks>
internal static class ShapesVideoEncoder
{
    private static readonly FourCC Mp4v = FourCC.FromFourChars('m', 'p', '4', 'v');

    /// <summary>
    /// FFmpeg and OpenCV log to stderr when a writer opens (e.g. about the mp4v tag in an MP4 container), which
    /// would tear through the progress bar. <see cref="VideoReader"/>'s static constructor turns those logs off
    /// (it must run before OpenCV first opens a file with FFmpeg), so make sure it has run.
    /// </summary>
    static ShapesVideoEncoder() => RuntimeHelpers.RunClassConstructor(typeof(VideoReader).TypeHandle);

    /// <summary>
    /// Writes <paramref name="video"/> to <paramref name="path"/>: encoded beside it (<c>NAME.partial.mp4</c>, the
    /// extension picks the container) and renamed when complete, so a file named like a video is a whole video.
    /// </summary>
    /// <param name="frame">A CV_8UC3 image of the frame size, reused for every frame.</param>
    /// <exception cref="VidSeekException">The writer cannot open the file (a bad folder, no space).</exception>
    public static void Write(ShapesVideoSpec video, string path, double fps, Mat frame)
    {
        string partial = PartialPath(path);
        try
        {
            using (var writer = new VideoWriter(partial, VideoCaptureAPIs.FFMPEG, Mp4v, fps, new Size(frame.Width, frame.Height), isColor: true))
            {
                if (!writer.IsOpened())
                    throw new VidSeekException($"cannot write video {path}: OpenCV's FFmpeg writer did not open (mp4v, {frame.Width}x{frame.Height})");
                for (int f = 0; f < video.Frames; f++)
                {
                    ShapesRenderer.RenderFrame(video, f, frame);
                    writer.Write(frame);
                }
            } // disposing releases the writer, which writes the MP4 index (moov atom): the file is complete only now
            if (!File.Exists(partial) || new FileInfo(partial).Length == 0)
                throw new VidSeekException($"cannot write video {path}: the encoder produced no data");
            File.Move(partial, path, overwrite: true);
        }
        catch
        {
            try { File.Delete(partial); } catch (IOException) { }
            throw;
        }
    }

    /// <summary>Where a video is encoded before it is renamed to <paramref name="path"/>.</summary>
    public static string PartialPath(string path) => Path.ChangeExtension(path, ".partial.mp4");
}
