using System.Diagnostics;
using TorchSharp;

namespace VidSeek.Bench;

/// <summary>One timed measurement: the median of the kept repetitions (what the reports use) and their range.</summary>
/// <param name="Others">
/// The share of the machine's CPU time that other processes used during the kept repetitions (from /proc/stat
/// minus this process's own time; NaN where unavailable). Colleagues' builds on the same machine show up here.
/// </param>
/// <param name="PageFaultsPerRun">Minor page faults of this process per repetition: fresh memory the kernel had to map and zero.</param>
/// <param name="Discarded">Repetitions thrown away because other processes were busy during them.</param>
public sealed record Sample(double Median, double Min, double Max, int Repetitions, double Others, double PageFaultsPerRun, int Discarded)
{
    /// <summary>(max - min) / median of the kept repetitions.</summary>
    public double Spread => (Max - Min) / Median;

    /// <summary>True when fewer than the asked-for repetitions ran undisturbed, so disturbed ones were used too.</summary>
    public bool Disturbed { get; init; }
}

/// <summary>
/// Plain Stopwatch timing: warm-up runs, then the median of N timed repetitions.
/// Why not BenchmarkDotNet: the number that matters here is the model's GFLOP/s as a fraction of the GEMM
/// peak measured in the same process, moments apart, with the same libtorch thread pool and the same
/// machine load. BenchmarkDotNet runs each benchmark in a separate process at a separate time, so the
/// peak would be measured elsewhere; its statistics are also built for microsecond methods, and ours
/// run for seconds, where a median of a handful of runs is already stable.
///
/// The machine is shared (2 cores; a colleague's build takes one of them and then halves a 2-thread libtorch
/// run), so each repetition also records how much CPU other processes used meanwhile: repetitions above
/// <see cref="MaxOthers"/> are discarded and run again (after waiting, sleeping, for the machine to quiet down),
/// up to <see cref="MaxRoundsFactor"/> times the asked-for count. Variants to compare are interleaved
/// (A B C, A B C, ...) so that slow changes in load affect them alike.
/// </summary>
public static class Timing
{
    /// <summary>Share of the machine that other processes may use during a repetition for it to count.</summary>
    public static double MaxOthers { get; set; } = 0.05;

    /// <summary>At most this many times the asked-for repetitions are run in all.</summary>
    public static int MaxRoundsFactor { get; set; } = 3;

    /// <summary>How long to wait, after a disturbed repetition, for other processes to quiet down.</summary>
    public static double QuietWaitSeconds { get; set; } = 120;

    public static Sample Measure(Action body, int warmup, int repetitions) => Measure([body], warmup, repetitions)[0];

    /// <summary>Times every body <paramref name="repetitions"/> times, interleaved, after <paramref name="warmup"/> untimed rounds.</summary>
    public static Sample[] Measure(IReadOnlyList<Action> bodies, int warmup, int repetitions)
    {
        for (int w = 0; w < warmup; w++)
            foreach (var body in bodies) RunOnce(body);

        int n = bodies.Count;
        var runs = Enumerable.Range(0, n).Select(_ => new List<(double Seconds, double Others, long Faults)>()).ToArray();
        int Clean(int i) => runs[i].Count(r => !(r.Others > MaxOthers));
        for (int round = 0; round < repetitions * Math.Max(1, MaxRoundsFactor); round++)
        {
            bool disturbed = false;
            for (int i = 0; i < n; i++)
            {
                if (Clean(i) >= repetitions) continue;
                var before = CpuCounters.Read();
                double seconds = RunOnce(bodies[i]);
                var after = CpuCounters.Read();
                double others = CpuCounters.OthersShare(before, after);
                runs[i].Add((seconds, others, after.MinorFaults - before.MinorFaults));
                disturbed |= others > MaxOthers;
            }
            if (Enumerable.Range(0, n).All(i => Clean(i) >= repetitions)) break;
            if (disturbed) WaitForQuiet();
        }

        var samples = new Sample[n];
        for (int i = 0; i < n; i++)
        {
            var clean = runs[i].Where(r => !(r.Others > MaxOthers)).ToList();
            // Not enough undisturbed repetitions: the median of all of them, flagged.
            var kept = clean.Count >= repetitions ? clean.Take(repetitions).ToList() : runs[i];
            var seconds = kept.Select(r => r.Seconds).Order().ToArray();
            int m = seconds.Length;
            double median = m % 2 == 1 ? seconds[m / 2] : (seconds[m / 2 - 1] + seconds[m / 2]) / 2;
            var others = kept.Select(r => r.Others).Where(o => !double.IsNaN(o)).ToList();
            samples[i] = new Sample(median, seconds[0], seconds[^1], m, others.Count > 0 ? others.Average() : double.NaN,
                kept.Average(r => (double)r.Faults), runs[i].Count - kept.Count) { Disturbed = clean.Count < repetitions };
        }
        return samples;
    }

    /// <summary>
    /// Sleeps (using no CPU) while other processes keep the machine busy, up to <see cref="QuietWaitSeconds"/>:
    /// waiting for a colleague's build to end disturbs neither of us, measuring through it disturbs both.
    /// </summary>
    public static void WaitForQuiet()
    {
        var waited = Stopwatch.StartNew();
        bool told = false;
        while (waited.Elapsed.TotalSeconds < QuietWaitSeconds)
        {
            var a = CpuCounters.Read();
            Thread.Sleep(2000);
            double others = CpuCounters.OthersShare(a, CpuCounters.Read());
            if (!(others > MaxOthers)) break;
            if (!told) Console.WriteLine($"    (other processes use {others:P0} of the CPU; waiting up to {QuietWaitSeconds:F0} s for quiet)");
            told = true;
        }
    }

    private static double RunOnce(Action body)
    {
        // Every tensor the body creates is freed when the scope ends, after the stopwatch has stopped.
        using var scope = torch.NewDisposeScope();
        var sw = Stopwatch.StartNew();
        body();
        sw.Stop();
        return sw.Elapsed.TotalSeconds;
    }
}

/// <summary>Counters of /proc/stat (whole machine, jiffies) and /proc/self/stat (this process: jiffies, minor faults), Linux only.</summary>
public readonly record struct CpuCounters(long MachineBusy, long MachineTotal, long Own, long MinorFaults, bool Valid)
{
    public static CpuCounters Read()
    {
        try
        {
            // "cpu  user nice system idle iowait irq softirq steal ...": busy is everything but idle and iowait.
            var cpu = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Take(8).Select(long.Parse).ToArray();
            long total = cpu.Sum(), busy = total - cpu[3] - cpu[4];
            // /proc/self/stat: fields after "(comm)" start at the 3rd; minflt is the 10th, utime and stime the 14th and 15th.
            string self = File.ReadAllText("/proc/self/stat");
            var fields = self[(self.LastIndexOf(')') + 2)..].Split(' ');
            long own = long.Parse(fields[11]) + long.Parse(fields[12]);
            return new CpuCounters(busy, total, own, long.Parse(fields[7]), true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or InvalidOperationException)
        {
            return default;
        }
    }

    /// <summary>Others' share of the machine between two readings; NaN without /proc or when under one jiffy passed.</summary>
    public static double OthersShare(CpuCounters a, CpuCounters b) =>
        a.Valid && b.Valid && b.MachineTotal > a.MachineTotal
            ? Math.Clamp((double)(b.MachineBusy - a.MachineBusy - (b.Own - a.Own)) / (b.MachineTotal - a.MachineTotal), 0, 1)
            : double.NaN;
}
