using System.Text.Json.Serialization;

namespace VidSeek.Retrieval;

/// <summary>A mean and a sample standard deviation (0 for one value).</summary>
public readonly record struct Stat([property: JsonPropertyName("mean")] double Mean, [property: JsonPropertyName("std")] double Std)
{
    public string Format(string f) => Std == 0 ? Mean.ToString(f) : $"{Mean.ToString(f)} ± {Std.ToString(f)}";
}

/// <summary>Metrics aggregated over runs (e.g. training seeds).</summary>
public sealed record MeanStd(
    [property: JsonPropertyName("R1")] Stat R1, [property: JsonPropertyName("R5")] Stat R5, [property: JsonPropertyName("R10")] Stat R10,
    [property: JsonPropertyName("R50")] Stat R50, [property: JsonPropertyName("MdR")] Stat MedianRank, [property: JsonPropertyName("MnR")] Stat MeanRank,
    [property: JsonPropertyName("queries")] int Queries, [property: JsonPropertyName("runs")] int Runs)
{
    public static MeanStd Of(IReadOnlyList<RetrievalScores> runs)
    {
        Stat S(Func<RetrievalScores, double> f)
        {
            var xs = runs.Select(f).ToArray();
            double mean = xs.Average();
            double std = xs.Length > 1 ? Math.Sqrt(xs.Sum(x => (x - mean) * (x - mean)) / (xs.Length - 1)) : 0;
            return new Stat(mean, std);
        }
        return new MeanStd(S(r => r.R1), S(r => r.R5), S(r => r.R10), S(r => r.R50), S(r => r.MedianRank), S(r => r.MeanRank), runs[0].Queries, runs.Count);
    }
}
