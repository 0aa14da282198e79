using System.Runtime.InteropServices;

namespace VidSeek;

/// <summary>
/// Linux <c>madvise</c>, the one place VidSeek calls it: hints about how a range of this process's memory will be used.
/// A hint the system cannot take (another OS, a libc without it, an older kernel) is only a missed speed-up, never an error.
/// </summary>
internal static class MemoryAdvice
{
    /// <summary><c>MADV_HUGEPAGE</c>: back the range with transparent huge pages where THP is enabled for madvised memory.</summary>
    public const int HugePage = 14;

    /// <summary><c>MADV_POPULATE_READ</c> (Linux 5.14+; older kernels answer EINVAL): fault the range in now, read-only.</summary>
    public const int PopulateRead = 22;

    /// <summary>Advises <paramref name="advice"/> for <c>[start, start + length)</c>; true where the kernel accepted it.</summary>
    public static bool Advise(long start, long length, int advice)
    {
        if (!OperatingSystem.IsLinux() || length <= 0) return false;
        try { return madvise((IntPtr)start, (UIntPtr)(ulong)length, advice) == 0; }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException) { return false; }
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int madvise(IntPtr address, UIntPtr length, int advice);
}
