using System.CommandLine;
using System.Text.Json;
using Spectre.Console;
using VidSeek.Index;

namespace VidSeek.Cli.Commands;

/// <summary><c>vidseek search INDEX "text" -k 5 [--json]</c></summary>
public static class SearchCommand
{
    /// <summary>Fault injection for the X-Pool scan file's crash tests: the process exits hard at this point of saving it (<see cref="XPoolScan.FaultPoint"/>).</summary>
    public const string ScanAbortAtVariable = "VIDSEEK_TEST_SCAN_ABORT_AT";
    /// <summary>Fault injection for the same tests: the save fails at this point as on a full disk (an <see cref="IOException"/>).</summary>
    public const string ScanDiskFullAtVariable = "VIDSEEK_TEST_SCAN_DISK_FULL_AT";

    public static Command Create()
    {
        var index = new Argument<string>("INDEX") { Description = "An index built by vidseek index: its file, or a postgres:// URL." };
        var query = new Argument<string>("TEXT") { Description = "What to look for, in words." };
        CommonOptions.RejectOptionLikeValues(index);
        var k = new Option<int>("-k", "--top") { Description = "Number of results.", DefaultValueFactory = _ => 5 }.Bound(1, CommonOptions.MaxK);
        var json = new Option<bool>("--json") { Description = "Print the results as JSON." };
        var model = new Option<string?>("--model") { Description = "The model folder, if it moved since indexing (it must hold the same weights)." };
        var rerankK = new Option<int>("--rerank-k") { Description = "VLT models: segments re-scored by ITM after the ITC ranking.", DefaultValueFactory = _ => 128 }.Bound(1, CommonOptions.MaxRerankK);
        var perVideo = new Option<bool>("--per-video") { Description = "At most one moment per video (its best)." };
        var exact = new Option<bool>("--exact") { Description = "Score every segment (streamed from the index): the exhaustive ranking, without the approximate first stage." };
        var candidates = new Option<int?>("--candidates") { Description = $"Segments the approximate first stage proposes for exact scoring (an index with no more segments is searched exhaustively). Default: {VideoSearcher.XPoolScanCandidates} for X-Pool on an embedded index, else {VideoSearcher.DefaultCandidates}." }.Bound(1, 1_000_000);
        var wide = new Option<bool>("--wide") { Description = "Print every column, with the attention weights as numbers, however wide the table gets (default: fit 80 columns)." };
        var precision = CommonOptions.Precision();
        var command = new Command("search", "Find the moments of the indexed videos that a sentence describes.") { index, query, k, json, model, rerankK, perVideo, exact, candidates, wide, precision };
        command.SetAction((parse, stdout) =>
        {
            CommonOptions.ApplyPrecision(parse, precision);
            if (Environment.GetEnvironmentVariable(ScanAbortAtVariable) is { Length: > 0 } point)
                XPoolScan.FaultPoint = p => { if (p == point) IndexCommand.ExitHard(87); };
            if (Environment.GetEnvironmentVariable(ScanDiskFullAtVariable) is { Length: > 0 } full)
                XPoolScan.FaultPoint = p => { if (p == full) throw new IOException("No space left on device"); };
            using var searcher = VideoSearcher.Open(IndexStore.Normalize(parse.GetValue(index)!), parse.GetValue(model) is { } m ? CommonOptions.ResolveModel(m) : null, parse.GetValue(rerankK),
                parse.GetValue(candidates), w => parse.InvocationConfiguration.Error.WriteLine($"warning: {w}"));
            EmptyIndex.Check(searcher);
            var hits = searcher.Search(parse.GetValue(query)!, parse.GetValue(k), parse.GetValue(perVideo), parse.GetValue(exact));
            if (parse.GetValue(json))
            {
                stdout.WriteLine(JsonSerializer.Serialize(new
                {
                    query = parse.GetValue(query), verdict = SearchHit.Verdict(hits), good_match_percentile = ScoreCalibration.GoodMatchPercentile,
                    results = hits.Select(h => ToJson(h, searcher.Index.Manifest.Root)),
                }, CommonOptions.JsonIndented));
                return 0;
            }
            stdout.WriteLine(Render(hits, searcher.Kind, TerminalWidth(), parse.GetValue(wide)));
            if (VerdictLine(hits) is { } line) stdout.WriteLine(line);
            return 0;
        });
        return command;
    }

    /// <summary>The JSON form of a hit, shared with the web API.</summary>
    public static object ToJson(SearchHit h, string root) => new
    {
        rank = h.Rank, score = h.Score, path = h.Video.Path, full_path = Path.Combine(root, h.Video.Path), video_id = h.Video.Id,
        segment_id = h.Segment.Id, start = h.Segment.Start, end = h.Segment.End,
        best_frame = h.BestFrame, best_frame_time = h.BestFrameTime, frame_times = h.Segment.FrameTimes,
        frame_weights = h.FrameWeights, frame_scores = h.FrameScores, ground_truth = h.IsGroundTruth, duration = h.Video.Duration,
        itm_score = h.MatchScore, stand_out = h.StandOut, percentile = h.Percentile,
    };

    /// <summary>
    /// What the scores mean, on one line: whether the best result stands out from what generic, unrelated captions get on
    /// the same videos (<see cref="ScoreCalibration"/>).
    /// </summary>
    public static string? VerdictLine(IReadOnlyList<SearchHit> hits) => SearchHit.Verdict(hits) switch
    {
        null => null,
        // Both fit 80 columns: "vs" is the column of each result's percentile.
        "good match" => $"good match: a result stands out more than for {SearchHit.BestPercentile(hits):F0}% of unrelated texts",
        _ => $"no good match: nothing stands out more than for unrelated text (p{Math.Floor(SearchHit.BestPercentile(hits) ?? 0):0}; needs p{ScoreCalibration.GoodMatchPercentile:0})",
    };

    /// <summary>
    /// A plain-text table that fits <paramref name="width"/> columns (80; long paths wrap): rank, score, how it compares with
    /// unrelated text ("vs", the percentile of <see cref="SearchHit.Percentile"/>), path, the moment's time range, the best
    /// frame's time and, for X-Pool, the attention per frame as bars (the weights themselves are in <c>--json</c>); for a VLT
    /// model the ITC score and the ITM score of the re-ranking. When the bars would not fit on one line they are left out,
    /// and a note says so; <paramref name="wide"/> prints every column at any width, with the weights as numbers.
    /// </summary>
    /// <param name="kind">xpool, meanp or vlt (<see cref="VideoSearcher.Kind"/>).</param>
    public static string Render(IReadOnlyList<SearchHit> hits, string kind, int width = 80, bool wide = false)
    {
        if (wide) return Table(hits, kind, attention: true, numbers: true, width: 400);
        string table = Table(hits, kind, attention: kind == "xpool", numbers: false, width);
        // One line per hit when nothing wrapped (plus the header lines); the bars are what may be dropped to get there.
        if (kind == "xpool" && Wrapped(table, hits.Count))
            table = Table(hits, kind, attention: false, numbers: false, width) + "\n  (attention per frame left out to fit " + width + " columns: --wide or --json show it)";
        return table;
    }

    /// <summary>The width tables are fitted to: <c>COLUMNS</c> when the shell exports it (40 or more), else 80.</summary>
    public static int TerminalWidth() =>
        int.TryParse(Environment.GetEnvironmentVariable("COLUMNS"), out int c) && c >= 40 ? c : 80;

    private static bool Wrapped(string table, int rows) => table.Split('\n').Count(l => l.Trim().Length > 0) > rows + 2;

    private static string Table(IReadOnlyList<SearchHit> hits, string kind, bool attention, bool numbers, int width)
    {
        bool xpool = kind == "xpool" && attention, vlt = kind == "vlt";
        bool calibrated = hits.Any(h => h.Percentile is not null);
        var table = new Table().Border(TableBorder.Simple).AddColumns("#", vlt ? "ITC score" : "score");
        if (vlt) table.AddColumn("ITM score");
        if (calibrated) table.AddColumn("vs");
        table.AddColumns("path", "moment", "best");
        if (xpool) table.AddColumn("attention per frame");
        foreach (var h in hits)
        {
            var row = new List<string> { h.Rank.ToString(), h.Score.ToString("F3") };
            if (vlt) row.Add(h.MatchScore?.ToString("F3") ?? "-");
            if (calibrated) row.Add(h.Percentile is double p ? $"p{Math.Floor(p):0}" : "-");
            row.AddRange([Markup.Escape(h.Video.Path) + (h.IsGroundTruth ? " [green](ground truth)[/]" : ""), Range(h.Segment.Start, h.Segment.End), Time(h.BestFrameTime, h.Segment.End)]);
            if (xpool) row.Add(Bars(h.FrameWeights!, numbers));
            table.AddRow(row.ToArray());
        }
        var writer = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(writer), Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors });
        console.Profile.Width = width;
        console.Write(table);
        return string.Join('\n', writer.ToString().TrimEnd().Split('\n').Select(l => l.TrimEnd()));
    }

    /// <summary>A moment's time range: <c>1.5-3.0 s</c> within the first minute, else <c>12:30-13:00</c> (<c>1:02:30-1:03:00</c>).</summary>
    public static string Range(double start, double end) => end < 60 ? $"{start:F1}-{end:F1} s" : $"{Time(start, end)}-{Time(end, end)}";

    /// <summary>A time as <c>2.5 s</c>, or <c>m:ss</c> / <c>h:mm:ss</c> when <paramref name="scale"/> (the largest time shown with it) is a minute or more.</summary>
    public static string Time(double seconds, double scale)
    {
        if (scale < 60) return $"{seconds:F1} s";
        var t = TimeSpan.FromSeconds(Math.Floor(seconds));
        return scale >= 3600 ? $"{(int)t.TotalHours}:{t.Minutes:00}:{t.Seconds:00}" : $"{(int)t.TotalMinutes}:{t.Seconds:00}";
    }

    /// <summary>One block character per frame, its height the frame's attention relative to the largest, then (with <paramref name="numbers"/>) the weights.</summary>
    public static string Bars(float[] weights, bool numbers = true)
    {
        const string levels = "▁▂▃▄▅▆▇█";
        float max = weights.Max();
        var bars = new string(weights.Select(w => levels[Math.Clamp((int)Math.Round(w / max * (levels.Length - 1)), 0, levels.Length - 1)]).ToArray());
        return numbers ? $"{bars}  {string.Join(" ", weights.Select(w => w.ToString("F2")))}" : bars;
    }
}
