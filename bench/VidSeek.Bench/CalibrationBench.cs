using VidSeek.Index;

namespace VidSeek.Bench;

/// <summary>
/// <c>calibration --index FILE</c>: how well the score calibration (<see cref="ScoreCalibration"/>) tells real queries from
/// unrelated text on an index built from a dataset split: the index's own ground-truth captions against a list of unrelated
/// queries (none of them in the calibration bank), with the fraction of each that every candidate rule flags as "no good match".
/// This is the experiment the rule (<see cref="ScoreCalibration.GoodMatchPercentile"/>) was chosen by.
/// </summary>
public static class CalibrationBench
{
    /// <summary>Unrelated to the Shapes videos and not in the bank (checked below).</summary>
    public static readonly string[] Unrelated =
    [
        "asdkjh qwe", "a cat on a skateboard", "quarterly tax report", "a man is cooking in a kitchen", "a dog catches a frisbee",
        "two people are arguing about politics", "sunset over the ocean", "the stock market fell sharply today", "mnbvc poiuy",
        "a woman plays tennis", "how to make pancakes", "a crowded subway station", "an orchestra performs a symphony",
        "a child blows out birthday candles", "firefighters put out a fire", "a chess tournament", "rain on a window",
        "a lecture about quantum physics", "a baby elephant bathing", "shopping list: milk, eggs, flour", "kjsdf lkj",
        "a soldier marches in a parade", "a cooking competition on television", "a hamster runs in a wheel",
        "a car drives through a tunnel", "someone is playing the violin", "a plane takes off", "a storm at sea",
        "people dancing salsa", "a goat climbs a tree",
    ];

    public static int Run(Options o)
    {
        string file = o.String("index") ?? throw new ArgumentException("--index FILE is required");
        int maxCaptions = o.Int("captions", 400);
        o.CheckAllRead();
        var bank = ScoreCalibration.Bank.Captions.Select(c => c.ToLowerInvariant()).ToHashSet();
        if (Unrelated.FirstOrDefault(u => bank.Contains(u.ToLowerInvariant())) is { } clash) throw new InvalidOperationException($"'{clash}' is in the bank");

        using var searcher = VideoSearcher.Open(Path.GetFullPath(file));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var calibration = ScoreCalibration.Compute(searcher.Index, searcher.Model);
        Console.WriteLine($"calibration: {calibration.Captions} captions x {calibration.SegmentIds.Length} segments in {clock.Elapsed.TotalSeconds:F1} s ({CpuThreads.Describe()}); "
            + $"rule in use: no good match below percentile {ScoreCalibration.GoodMatchPercentile} of the bank's best per-segment z (the second table)");

        var real = searcher.Videos.SelectMany(v => v.Captions).Distinct().Take(maxCaptions).ToList();
        var index = searcher.Index;
        var sample = index.SegmentIds();
        var bankScores = ScoreCalibration.BankScores(index, searcher.Model, ScoreCalibration.Bank.Captions, sample);
        var realScores = ScoreCalibration.BankScores(index, searcher.Model, real, sample);
        var unrelatedScores = ScoreCalibration.BankScores(index, searcher.Model, Unrelated, sample);
        Console.WriteLine($"{real.Count} ground-truth captions of the index, {Unrelated.Length} unrelated queries, {index.SegmentCount} segments (load {Machine.LoadAverageNow()})");

        // Candidate statistics of one query's scores over every segment; each is compared with the same statistic of the bank.
        int segs = bankScores[0].Length;
        var segMean = Enumerable.Range(0, segs).Select(j => bankScores.Average(r => (double)r[j])).ToArray();
        var segStd = Enumerable.Range(0, segs).Select(j => Math.Sqrt(bankScores.Average(r => Math.Pow(r[j] - segMean[j], 2)))).ToArray();
        var statistics = new (string Name, Func<float[], double> Of)[]
        {
            ("top score (raw)", r => r.Max()),
            ("top per-segment z (bank mean/std per segment)", r => Enumerable.Range(0, segs).Max(j => (r[j] - segMean[j]) / Math.Max(1e-9, segStd[j]))),
            ("peakedness: (top - mean) / std over segments", r => { double m = r.Average(x => (double)x); double sd = Math.Sqrt(r.Average(x => Math.Pow(x - m, 2))); return (r.Max() - m) / Math.Max(1e-9, sd); }),
            ("gap: top - 10th best", r => { var o = r.OrderDescending().ToArray(); return o[0] - o[Math.Min(9, o.Length - 1)]; }),
        };
        foreach (var (name, of) in statistics)
        {
            var nullDist = bankScores.Select(of).Order().ToArray();
            double Pct(double x) => 100.0 * nullDist.Count(b => b < x) / nullDist.Length;
            var realPct = realScores.Select(r => Pct(of(r))).ToArray();
            var unrelatedPct = unrelatedScores.Select(r => Pct(of(r))).ToArray();
            Console.WriteLine();
            Console.WriteLine($"statistic: {name}; flagged when its percentile among the bank's is below p");
            Console.WriteLine("| p | real captions flagged | unrelated flagged |");
            Console.WriteLine("| ---: | ---: | ---: |");
            foreach (double p in new double[] { 50, 75, 80, 85, 90, 95, 99 })
                Console.WriteLine($"| {p} | {Frac(realPct, x => x < p)} | {Frac(unrelatedPct, x => x < p)} |");
            Console.WriteLine("  unrelated percentiles: " + string.Join(" ", unrelatedPct.Select(x => x.ToString("F0"))));
        }
        return 0;
    }

    private static string Frac(double[] pct, Func<double, bool> flagged) =>
        $"{pct.Count(flagged)}/{pct.Length} ({100.0 * pct.Count(flagged) / pct.Length:F0}%)";

    private static float Quantile(float[] sorted, double q) => sorted[(int)Math.Min(sorted.Length - 1, Math.Floor(q * sorted.Length))];
}
