using System.Diagnostics;

namespace VidSeek.Bench;

/// <summary>
/// Debian's ffmpeg command-line tool, which the seek benchmarks use to make long test videos and as the baseline to beat
/// (never a VidSeek dependency: VidSeek decodes with the FFmpeg that OpenCvSharp bundles).
/// </summary>
internal static class FfmpegCli
{
    /// <summary>Runs <c>ffmpeg ARGS</c> to the end; its output is read and dropped, a non-zero exit throws with its stderr.</summary>
    public static void Run(string args)
    {
        var psi = new ProcessStartInfo("ffmpeg", args) { RedirectStandardError = true, RedirectStandardOutput = true };
        using var p = Process.Start(psi) ?? throw new InvalidOperationException("cannot start ffmpeg");
        var err = p.StandardError.ReadToEndAsync();
        p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"ffmpeg {args} failed: {err.Result}");
    }

    /// <summary>The first line of <c>ffmpeg -version</c>, without the copyright.</summary>
    public static string Version()
    {
        var psi = new ProcessStartInfo("ffmpeg", "-version") { RedirectStandardOutput = true };
        using var p = Process.Start(psi) ?? throw new InvalidOperationException("cannot start ffmpeg");
        var first = p.StandardOutput.ReadLine() ?? "?";
        p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return first.Split(" Copyright")[0];
    }
}
