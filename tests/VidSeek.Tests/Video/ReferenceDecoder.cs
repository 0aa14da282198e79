using System.Runtime.InteropServices;
using OpenCvSharp;

namespace VidSeek.Tests.Video;

/// <summary>The plain way to decode a video, as the reference the reader's frames are checked against.</summary>
internal static class ReferenceDecoder
{
    /// <summary>Every frame, in order, via a <c>VideoCapture.Read</c> loop, as RGB HWC bytes.</summary>
    public static List<byte[]> AllFramesRgb(string path)
    {
        var frames = new List<byte[]>();
        using var capture = new VideoCapture(path, VideoCaptureAPIs.FFMPEG);
        using var bgr = new Mat();
        using var rgb = new Mat();
        while (capture.Read(bgr) && !bgr.Empty())
        {
            Cv2.CvtColor(bgr, rgb, ColorConversionCodes.BGR2RGB);
            var bytes = new byte[rgb.Rows * rgb.Cols * 3];
            Marshal.Copy(rgb.Data, bytes, 0, bytes.Length);
            frames.Add(bytes);
        }
        return frames;
    }

    /// <summary>Mean absolute difference per byte.</summary>
    public static double MeanAbsDiff(byte[] a, byte[] b)
    {
        Assert.Equal(a.Length, b.Length);
        long sum = 0;
        for (int i = 0; i < a.Length; i++) sum += Math.Abs(a[i] - b[i]);
        return (double)sum / a.Length;
    }
}
