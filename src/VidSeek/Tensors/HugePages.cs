using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace VidSeek.Tensors;

/// <summary>
/// Transparent huge pages for a large tensor that is about to be filled for the first time.
/// </summary>
/// <remarks>
/// Why: glibc serves allocations above its mmap threshold (<see cref="CpuThreads.MmapThresholdBytes"/>, the most it accepts)
/// with a fresh mapping, and every 4 KiB page of it costs a page fault (and zeroing) the first time it is written. For the
/// per-text data of X-Pool's factored form at MSVD size (<c>[2, 27763, 512]</c> floats, 114 MiB) those faults were most of
/// its preparation (0.36-0.41 s against 0.16-0.20 s with huge pages, the GEMM in it about 0.1 s; docs/PERFORMANCE.md).
/// <c>madvise(MADV_HUGEPAGE)</c> on the tensor's storage, before anything touches it, lets the kernel fault it in 2 MiB at a
/// time where transparent huge pages are enabled for madvised memory (the Linux default "madvise" mode). Elsewhere (another OS,
/// THP "never", a tensor smaller than the threshold, not on the CPU) it does nothing: only a missed speed-up.
/// </remarks>
public static class HugePages
{
    /// <summary>Tensors smaller than this come from glibc's heap, whose pages are reused rather than fresh.</summary>
    public const long MinBytes = CpuThreads.MmapThresholdBytes;

    private const long HugePage = 2L << 20;

    /// <summary>Advises huge pages for the whole 2 MiB-aligned part of <paramref name="t"/>'s storage; true where the kernel accepted it.</summary>
    public static bool Advise(Tensor t)
    {
        if (!OperatingSystem.IsLinux() || t.device_type != DeviceType.CPU || !t.is_contiguous()) return false;
        long bytes = t.NumberOfElements * t.ElementSize;
        if (bytes < MinBytes) return false;
        long start;
        try { start = (long)THSTensor_data(t.Handle); }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException) { return false; } // another TorchSharp: only a missed speed-up
        long alignedStart = (start + HugePage - 1) & ~(HugePage - 1), alignedEnd = (start + bytes) & ~(HugePage - 1);
        return MemoryAdvice.Advise(alignedStart, alignedEnd - alignedStart, MemoryAdvice.HugePage);
    }

    /// <summary>A new uninitialised CPU tensor, advised huge pages when it is large (<see cref="Advise"/>).</summary>
    public static Tensor Empty(long[] shape, ScalarType dtype)
    {
        var t = empty(shape, dtype);
        Advise(t);
        return t;
    }

    // TorchSharp's own native export behind Tensor.data<T>(): the address of the tensor's first element.
    [DllImport("LibTorchSharp")]
    private static extern IntPtr THSTensor_data(IntPtr tensor);
}
