namespace VidSeek.Bench;

/// <summary>The <c>--name value</c> options shared by the benchmarks; unknown names are errors.</summary>
public sealed class Options
{
    private readonly Dictionary<string, string> values = new(StringComparer.Ordinal);
    private readonly HashSet<string> read = new(StringComparer.Ordinal);

    public static Options Parse(IReadOnlyList<string> args)
    {
        var o = new Options();
        for (int i = 0; i < args.Count; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal) || i + 1 >= args.Count)
                throw new ArgumentException($"expected '--name value', got '{args[i]}'");
            o.values[args[i][2..]] = args[++i];
        }
        return o;
    }

    public string? String(string name) { read.Add(name); return values.GetValueOrDefault(name); }

    public int Int(string name, int fallback) => String(name) is { } s ? int.Parse(s) : fallback;

    public int[] Ints(string name, int[] fallback) =>
        String(name) is { } s ? s.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToArray() : fallback;

    /// <summary>Throws for options that no benchmark asked for (typos would otherwise be ignored silently).</summary>
    public void CheckAllRead()
    {
        var unknown = values.Keys.Where(k => !read.Contains(k)).ToList();
        if (unknown.Count > 0) throw new ArgumentException("unknown option(s): " + string.Join(", ", unknown.Select(k => "--" + k)));
    }
}
