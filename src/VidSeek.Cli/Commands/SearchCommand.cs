using System.CommandLine;
using System.Text.Json;
using Spectre.Console;
using VidSeek.Index;

namespace VidSeek.Cli.Commands;

/// <summary><c>vidseek search INDEX "text" -k 5 [--json]</c></summary>
public static class SearchCommand
{
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
        var candidates = new Option<int>("--candidates") { Description = "Segments the approximate first stage proposes for exact scoring (an index with no more segments is searched exhaustively).", DefaultValueFactory = _ => VideoSearcher.DefaultCandidates }.Bound(1, 1_000_000);
        var precision = CommonOptions.Precision();
        var command = new Command("search", "Find the moments of the indexed videos that a sentence describes.") { index, query, k, json, model, rerankK, perVideo, exact, candidates, precision };
        command.SetAction((parse, stdout) =>
        {
            CommonOptions.ApplyPrecision(parse, precision);
            using var searcher = VideoSearcher.Open(IndexStore.Normalize(parse.GetValue(index)!), parse.GetValue(model) is { } m ? CommonOptions.ResolveModel(m) : null, parse.GetValue(rerankK),
                parse.GetValue(candidates), w => parse.InvocationConfiguration.Error.WriteLine($"warning: {w}"));
            EmptyIndex.Check(searcher);
            var hits = searcher.Search(parse.GetValue(query)!, parse.GetValue(k), parse.GetValue(perVideo), parse.GetValue(exact));
            if (parse.GetValue(json))
            {
                stdout.WriteLine(JsonSerializer.Serialize(new { query = parse.GetValue(query), results = hits.Select(h => ToJson(h, searcher.Index.Manifest.Root)) },
                    CommonOptions.JsonIndented));
                return 0;
            }
            stdout.WriteLine(Render(hits, searcher.Kind));
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
        itm_score = h.MatchScore,
    };

    /// <summary>
    /// A plain-text table, 80 columns wide (long paths wrap): rank, score, path, the moment's time range, the best frame's time
    /// and, for X-Pool, the attention per frame as bars (the weights themselves are in <c>--json</c>); for a VLT model the ITC
    /// score and the ITM score of the re-ranking.
    /// </summary>
    /// <param name="kind">xpool, meanp or vlt (<see cref="VideoSearcher.Kind"/>).</param>
    public static string Render(IReadOnlyList<SearchHit> hits, string kind, int width = 80)
    {
        bool xpool = kind == "xpool", vlt = kind == "vlt";
        var table = new Table().Border(TableBorder.Simple).AddColumns("#", vlt ? "ITC score" : "score");
        if (vlt) table.AddColumn("ITM score");
        table.AddColumns("path", "moment", "best");
        if (xpool) table.AddColumn("attention per frame");
        foreach (var h in hits)
        {
            var row = new List<string> { h.Rank.ToString(), h.Score.ToString("F3") };
            if (vlt) row.Add(h.MatchScore?.ToString("F3") ?? "-");
            row.AddRange([Markup.Escape(h.Video.Path) + (h.IsGroundTruth ? " [green](ground truth)[/]" : ""), Range(h.Segment.Start, h.Segment.End), Time(h.BestFrameTime, h.Segment.End)]);
            if (xpool) row.Add(Bars(h.FrameWeights!, numbers: false));
            table.AddRow(row.ToArray());
        }
        var writer = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(writer), Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors });
        console.Profile.Width = width;
        console.Write(table);
        return writer.ToString().TrimEnd();
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
