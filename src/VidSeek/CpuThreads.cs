using System.Runtime.InteropServices;
using TorchSharp;

namespace VidSeek;

/// <summary>
/// How many CPU threads VidSeek's native libraries use, and how they wait: what keeps several VidSeek processes on one machine
/// from slowing each other down far more than sharing the cores explains.
/// </summary>
/// <remarks>
/// libtorch runs its intra-op parallel regions on OpenMP (the bundled GNU libgomp), one thread per core by default. Between
/// regions, idle OpenMP threads spin-wait (GOMP_SPINCOUNT, 300,000 spins) before they sleep, which is fast when the process
/// has the cores to itself; libgomp only throttles the spinning when its own process has more threads than cores, so three
/// processes with 2 threads each on 2 cores all spin, burning the time slices the others need to finish the region they wait
/// for. <c>OMP_WAIT_POLICY=PASSIVE</c> makes idle threads sleep at once. It is read from the native environment when libgomp
/// loads, so it must be set (with libc's <c>setenv</c>: .NET's <see cref="Environment.SetEnvironmentVariable(string, string)"/>
/// does not change the native environment on Unix) before anything loads libtorch: <see cref="ConfigureProcess"/>, first
/// thing in <c>Main</c>. A value the user set is kept. <c>vidseek-bench oversubscription</c> measures the effect.
/// </remarks>
public static class CpuThreads
{
    /// <summary>Set to <c>active</c> (or any OpenMP value) to keep libgomp's default spinning instead of VidSeek's PASSIVE.</summary>
    public const string WaitPolicyVariable = "OMP_WAIT_POLICY";

    /// <summary>The decoder's threads, read by OpenCV's FFmpeg backend when it opens a file (<c>key;value</c> pairs).</summary>
    public const string FfmpegOptionsVariable = "OPENCV_FFMPEG_CAPTURE_OPTIONS";

    /// <summary>The thread count given with <see cref="Apply"/>, or null (the libraries' defaults: one per core).</summary>
    public static int? Threads { get; private set; }

    /// <summary>
    /// Sets <c>OMP_WAIT_POLICY=PASSIVE</c> in the native environment unless the user set it. Call before any TorchSharp use
    /// (libgomp reads it once, when libtorch loads). Returns the policy in effect.
    /// </summary>
    public static string ConfigureProcess()
    {
        KeepLargeBuffersInTheHeap();
        if (NativeGetenv(WaitPolicyVariable) is { Length: > 0 } set) return set;
        NativeSetenv(WaitPolicyVariable, "PASSIVE");
        return "PASSIVE";
    }

    /// <summary>
    /// glibc serves an allocation above its mmap threshold (dynamic, from 128 KiB) with a fresh <c>mmap</c> and gives it back
    /// with <c>munmap</c>, and trims freed heap memory above 128 KiB back to the system: so a tensor of tens of megabytes that
    /// libtorch allocates per call (a search's 8,000 candidates' frames, [8000, 8, 128] floats, and the products made from them)
    /// is page-faulted in afresh on every query. Measured in <c>search-query</c> at 10^5 segments: the single-query score of
    /// 8,000 candidates took 155 ms a query in the latency loop against 13 ms for the same call repeated, and 14 ms with the
    /// thresholds below (docs/PERFORMANCE.md). Fixed thresholds keep such buffers in the heap for reuse: mmap only above
    /// 32 MiB (the most glibc accepts on 64-bit) and trim only above 512 MiB of free memory at the top of the heap. Skipped
    /// when the user tunes malloc (<c>GLIBC_TUNABLES</c>) and on systems without glibc.
    /// </summary>
    public static void KeepLargeBuffersInTheHeap()
    {
        if (!OperatingSystem.IsLinux() || (NativeGetenv("GLIBC_TUNABLES") ?? "").Contains("malloc")) return;
        try
        {
            mallopt(MmapThreshold, (int)MmapThresholdBytes);
            mallopt(TrimThreshold, 512 << 20);
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException) { } // musl and others: no mallopt
    }

    /// <summary>The mmap threshold <see cref="KeepLargeBuffersInTheHeap"/> sets: 32 MiB, the most glibc accepts on 64-bit.
    /// Larger allocations are still fresh mappings each time (<see cref="Tensors.HugePages"/>).</summary>
    public const long MmapThresholdBytes = 32L << 20;

    private const int TrimThreshold = -1, MmapThreshold = -3; // glibc's M_TRIM_THRESHOLD, M_MMAP_THRESHOLD

    [DllImport("libc")]
    private static extern int mallopt(int param, int value);

    /// <summary>
    /// Caps every pool at <paramref name="threads"/>: libtorch's intra-op threads (<c>torch.set_num_threads</c>), OpenCV's own
    /// parallel loops (<c>cv::setNumThreads</c>: resizing, colour conversion) and FFmpeg's decoding threads per open file (through
    /// <see cref="FfmpegOptionsVariable"/>, unless the user set it). VidSeek's own decode thread (one, overlapping decoding with
    /// encoding) is not counted: it mostly waits on the decoder.
    /// </summary>
    public static void Apply(int threads)
    {
        if (threads < 1) throw new VidSeekException($"--threads must be at least 1, got {threads}");
        Threads = threads;
        torch.set_num_threads(threads);
        OpenCvSharp.Cv2.SetNumThreads(threads);
        if (NativeGetenv(FfmpegOptionsVariable) is not { Length: > 0 }) NativeSetenv(FfmpegOptionsVariable, $"threads;{threads}");
    }

    /// <summary>One line for logs and benchmarks: what the process runs with.</summary>
    public static string Describe() =>
        $"torch threads {torch.get_num_threads()}, OpenCV threads {OpenCvSharp.Cv2.GetNumThreads()}, {WaitPolicyVariable}={NativeGetenv(WaitPolicyVariable) ?? "(unset)"}, "
        + $"{FfmpegOptionsVariable}={NativeGetenv(FfmpegOptionsVariable) ?? "(unset)"}";

    private static string? NativeGetenv(string name) => OperatingSystem.IsWindows() ? Environment.GetEnvironmentVariable(name) : Marshal.PtrToStringUTF8(getenv(name));

    private static void NativeSetenv(string name, string value)
    {
        Environment.SetEnvironmentVariable(name, value); // the managed copy, for child processes and managed readers
        if (!OperatingSystem.IsWindows() && setenv(name, value, 1) != 0) throw new InvalidOperationException($"setenv({name}) failed");
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int setenv([MarshalAs(UnmanagedType.LPUTF8Str)] string name, [MarshalAs(UnmanagedType.LPUTF8Str)] string value, int overwrite);

    [DllImport("libc")]
    private static extern IntPtr getenv([MarshalAs(UnmanagedType.LPUTF8Str)] string name);
}
