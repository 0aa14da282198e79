using System.Diagnostics;

namespace VidSeek.Bench;

/// <summary>
/// <c>oversubscription</c>: <c>vidseek index</c> of one folder, one process alone, then N processes at once (each its own index
/// of the same folder), per configuration: how much slower each process gets beside the others. On C cores, N processes that
/// shared the CPU perfectly would each take about max(1, N * T / C) times as long, where T is the threads one process keeps
/// busy (T = C when it scales perfectly, so N x); much more than that is oversubscription (threads spinning on cores that others
/// need). Configurations: the OpenMP wait policy VidSeek sets (PASSIVE) against libgomp's default spinning (ACTIVE), and
/// <c>--threads</c>. Prints a Markdown table and the exact commands, so the numbers can be re-run on a quiet machine.
/// </summary>
public static class OversubscriptionBench
{
    public static int Run(Options o)
    {
        string repo = Machine.RepoRoot();
        string cli = o.String("cli") ?? Path.Combine(repo, "src/VidSeek.Cli/bin/Release/net10.0/vidseek.dll");
        string model = o.String("model") ?? Path.Combine(repo, "assets/demo-model");
        string work = o.String("work") ?? "/tmp/vidseek-oversubscription";
        int videos = o.Int("videos", 200), processes = o.Int("processes", 3);
        var configs = (o.String("configs") ?? "passive,active,passive-threads1").Split(',', StringSplitOptions.RemoveEmptyEntries);
        o.CheckAllRead();
        if (!File.Exists(cli)) throw new ArgumentException($"{cli} not found: build src/VidSeek.Cli -c Release, or give --cli");

        string corpus = Path.Combine(work, "corpus");
        if (!File.Exists(Path.Combine(corpus, "shapes.json")))
        {
            Console.Error.WriteLine($"generating {videos} Shapes videos in {corpus}");
            var (code, err) = Vidseek(cli, ["synth", "--out", corpus, "--seed", "5", "--videos", videos.ToString(), "--force"], []);
            if (code != 0) throw new InvalidOperationException("synth failed: " + err);
        }
        string folder = Path.Combine(corpus, "videos");
        Console.WriteLine($"# oversubscription: vidseek index of {Directory.GetFiles(folder).Length} Shapes videos, 1 process vs {processes} at once");
        Console.WriteLine($"machine: {Environment.ProcessorCount} cores, load average before {Machine.LoadAverageNow()} (a busy machine inflates every number; compare ratios of one run)");
        Console.WriteLine();
        Console.WriteLine($"| configuration | alone (s) | {processes} at once, mean per process (s) | ratio | ideal ratio on {Environment.ProcessorCount} cores |");
        Console.WriteLine("| --- | ---: | ---: | ---: | ---: |");
        foreach (var config in configs)
        {
            var (env, extra) = Config(config);
            double alone = RunAll(cli, model, folder, work, config, 1, env, extra).Average();
            var together = RunAll(cli, model, folder, work, config, processes, env, extra);
            double ideal = Math.Max(1.0, (double)processes * (extra.Length > 0 ? int.Parse(extra[1]) : Environment.ProcessorCount) / Environment.ProcessorCount);
            Console.WriteLine($"| {config} | {alone:F1} | {together.Average():F1} | {together.Average() / alone:F2} | {ideal:F1} |");
        }
        Console.WriteLine();
        Console.WriteLine($"load average after {Machine.LoadAverageNow()}");
        Console.WriteLine("commands (each process: its own --out; several at once are started together):");
        foreach (var config in configs)
        {
            var (env, extra) = Config(config);
            Console.WriteLine($"  {string.Join(" ", env.Select(e => $"{e.Key}={e.Value}"))} dotnet {cli} index {folder} --model {model} --out OUT.vsi {string.Join(" ", extra)}".Trim());
        }
        return 0;
    }

    private static (Dictionary<string, string> Env, string[] Extra) Config(string name) => name switch
    {
        "passive" => (new() { ["OMP_WAIT_POLICY"] = "PASSIVE" }, []),
        "active" => (new() { ["OMP_WAIT_POLICY"] = "ACTIVE" }, []),
        "passive-threads1" => (new() { ["OMP_WAIT_POLICY"] = "PASSIVE" }, ["--threads", "1"]),
        "active-threads1" => (new() { ["OMP_WAIT_POLICY"] = "ACTIVE" }, ["--threads", "1"]),
        _ => throw new ArgumentException($"unknown configuration '{name}' (passive, active, passive-threads1, active-threads1)"),
    };

    /// <summary>Starts <paramref name="n"/> indexing processes at once and returns each one's wall time in seconds.</summary>
    private static double[] RunAll(string cli, string model, string folder, string work, string config, int n, Dictionary<string, string> env, string[] extra)
    {
        var outs = Enumerable.Range(0, n).Select(i => Path.Combine(work, $"{config}-{n}-{i}.vsi")).ToList();
        foreach (var f in outs) foreach (var g in Directory.GetFiles(work, Path.GetFileName(f) + "*")) File.Delete(g);
        var tasks = outs.Select(f => Task.Run(() =>
        {
            var clock = Stopwatch.StartNew();
            var (code, err) = Vidseek(cli, ["index", folder, "--model", model, "--out", f, .. extra], env);
            if (code != 0) throw new InvalidOperationException($"index failed ({code}): {err}");
            return clock.Elapsed.TotalSeconds;
        })).ToArray();
        Task.WaitAll(tasks);
        foreach (var f in outs) foreach (var g in Directory.GetFiles(work, Path.GetFileName(f) + "*")) File.Delete(g);
        return tasks.Select(t => t.Result).ToArray();
    }

    private static (int Code, string Err) Vidseek(string cli, string[] args, Dictionary<string, string> env)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(cli);
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var (k, v) in env) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        string err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, err);
    }
}
