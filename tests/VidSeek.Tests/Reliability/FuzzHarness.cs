using System.Diagnostics;

namespace VidSeek.Tests.Reliability;

/// <summary>
/// Runs seeded fuzz cases: each must end in success or one <see cref="VidSeekException"/>, within a time limit, and the
/// process's resident memory must stay under a bound. Anything else (another exception type, a hang, a blow-up) fails the
/// test with the case's seed, so it reproduces. The number of cases per target is <see cref="Iterations"/>:
/// <c>VIDSEEK_FUZZ_ITERATIONS</c> when set (the long run), else the target's default (CI, seconds in all).
/// </summary>
public static class FuzzHarness
{
    /// <summary>Most resident memory the test process may reach during a fuzz case.</summary>
    public const long MaxResidentBytes = 4L << 30;

    public static int Iterations(int ciDefault) =>
        int.TryParse(Environment.GetEnvironmentVariable("VIDSEEK_FUZZ_ITERATIONS"), out int n) && n > 0 ? n : ciDefault;

    /// <summary>The base seed: <c>VIDSEEK_FUZZ_SEED</c> when set, else fixed, so CI runs the same cases every time.</summary>
    public static int BaseSeed => int.TryParse(Environment.GetEnvironmentVariable("VIDSEEK_FUZZ_SEED"), out int s) ? s : 20261128;

    /// <summary>What a fuzz run saw.</summary>
    public sealed record Outcome(string Target, int Cases, int Succeeded, int CleanErrors, IReadOnlyDictionary<string, int> ErrorKinds, double Seconds, long PeakResidentBytes)
    {
        public override string ToString() =>
            $"{Target}: {Cases} cases, {Succeeded} loaded, {CleanErrors} clean errors, 0 crashes, 0 hangs, peak RSS {PeakResidentBytes >> 20} MB, {Seconds:F1} s";
    }

    /// <summary>
    /// Runs <paramref name="iterations"/> cases; <paramref name="makeCase"/> builds case <c>i</c> from its own
    /// <see cref="Random"/> (seeded by the base seed and <c>i</c>) and returns what to run, and a short description.
    /// </summary>
    public static Outcome Run(string target, int iterations, Func<Random, int, (string What, Action Act)> makeCase, TimeSpan? perCase = null)
    {
        var limit = perCase ?? TimeSpan.FromSeconds(20);
        var clock = Stopwatch.StartNew();
        int ok = 0, clean = 0;
        long peak = 0;
        var kinds = new Dictionary<string, int>();
        for (int i = 0; i < iterations; i++)
        {
            int seed = unchecked(BaseSeed * 1_000_003 + StableHash(target) * 8191 + i); // HashCode.Combine differs per process
            var (what, act) = makeCase(new Random(seed), i);
            string id = $"{target} case {i} (VIDSEEK_FUZZ_SEED={BaseSeed}): {what}";
            var run = Task.Factory.StartNew(act, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
            if (!((IAsyncResult)run).AsyncWaitHandle.WaitOne(limit)) Assert.Fail($"hang: {id} ran past {limit.TotalSeconds} s");
            if (run.Exception?.InnerException is { } e)
            {
                if (e is not VidSeekException) Assert.Fail($"unclean failure: {id}: {e.GetType().Name}: {e.Message}\n{e.StackTrace}");
                if (e.Message.Contains('\n')) Assert.Fail($"a multi-line error: {id}: {e.Message}");
                clean++;
                string kind = Kind(e.Message);
                kinds[kind] = kinds.GetValueOrDefault(kind) + 1;
            }
            else ok++;
            long rss = Process.GetCurrentProcess().WorkingSet64;
            peak = Math.Max(peak, rss);
            if (rss > MaxResidentBytes) Assert.Fail($"memory: {id} left the process at {rss >> 20} MB resident (bound {MaxResidentBytes >> 20} MB)");
        }
        var outcome = new Outcome(target, iterations, ok, clean, kinds, clock.Elapsed.TotalSeconds, peak);
        TestContext.Current.SendDiagnosticMessage(outcome.ToString());
        Console.Error.WriteLine($"[fuzz] {outcome}");
        return outcome;
    }

    private static int StableHash(string s) => s.Aggregate(17, (h, c) => unchecked(h * 31 + c));

    /// <summary>A coarse class of an error message (its words, without paths and numbers), to see that cases vary.</summary>
    private static string Kind(string message)
    {
        var words = message.Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .Where(w => !w.Contains('/') && !w.Any(char.IsDigit) && !w.Contains('\'')).Take(6);
        return string.Join(' ', words);
    }

    /// <summary>Runs <paramref name="act"/> and returns the <see cref="VidSeekException"/> message it ended in, or null on success.</summary>
    public static string? CleanError(Action act)
    {
        try { act(); return null; }
        catch (VidSeekException e) { return e.Message; }
    }
}
