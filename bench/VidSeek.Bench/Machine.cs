using TorchSharp;

namespace VidSeek.Bench;

/// <summary>What the numbers were measured on.</summary>
public sealed record Machine(int Cores, string Cpu, string Torch, int TorchThreads, string LoadAverage)
{
    public static Machine Describe() => new(
        Environment.ProcessorCount,
        CpuModel(),
        torch.__version__,
        torch.get_num_threads(),
        LoadAverageNow());

    /// <summary>The first "model name" of /proc/cpuinfo (Linux), else "unknown".</summary>
    private static string CpuModel()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/cpuinfo"))
                if (line.StartsWith("model name", StringComparison.Ordinal)) return line[(line.IndexOf(':') + 1)..].Trim();
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return "unknown";
    }

    /// <summary>The 1, 5 and 15 minute load averages: well above the core count means other work shared the CPU.</summary>
    public static string LoadAverageNow()
    {
        try { return string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)); }
        catch (IOException) { return "unknown"; }
    }

    /// <summary>Walks up from the working folder and the binary's folder to the folder holding VidSeek.sln.</summary>
    public static string RepoRoot()
    {
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
            for (var dir = new DirectoryInfo(start); dir != null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "VidSeek.sln"))) return dir.FullName;
        throw new InvalidOperationException("VidSeek.sln not found above the working folder; run from inside the repository or pass --config");
    }
}
