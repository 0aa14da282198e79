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
        var index = new Argument<FileInfo>("INDEX") { Description = "An index built by vidseek index." };
        var query = new Argument<string>("TEXT") { Description = "What to look for, in words." };
        var k = new Option<int>("-k", "--top") { Description = "Number of results.", DefaultValueFactory = _ => 5 };
        var json = new Option<bool>("--json") { Description = "Print the results as JSON." };
        var model = new Option<string?>("--model") { Description = "The model folder, if it moved since indexing (it must hold the same weights)." };
        var rerankK = new Option<int>("--rerank-k") { Description = "VLT models: videos re-scored by ITM after the ITC ranking.", DefaultValueFactory = _ => 128 };
        var command = new Command("search", "Find the videos of an index that a sentence describes.") { index, query, k, json, model, rerankK };
        command.SetAction((parse, stdout) =>
        {
            if (parse.GetValue(k) < 1) throw new VidSeekException("-k must be at least 1");
            if (parse.GetValue(rerankK) < 1) throw new VidSeekException("--rerank-k must be at least 1");
            using var searcher = VideoSearcher.Open(parse.GetValue(index)!.FullName, parse.GetValue(model) is { } m ? CommonOptions.ResolveModel(m) : null, parse.GetValue(rerankK));
            EmptyIndex.Check(searcher);
            var hits = searcher.Search(parse.GetValue(query)!, parse.GetValue(k));
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
    /// A plain-text table: rank, score, path, best frame time and, for X-Pool, the attention per frame as a bar; for a VLT
    /// model the ITC score and the ITM score of the re-ranking.
    /// </summary>
    /// <param name="kind">xpool, meanp or vlt (<see cref="VideoSearcher.Kind"/>).</param>
    public static string Render(IReadOnlyList<SearchHit> hits, string kind)
    {
        bool xpool = kind == "xpool", vlt = kind == "vlt";
        var table = new Table().AddColumns("rank", vlt ? "ITC score" : "score");
        if (vlt) table.AddColumn("ITM score");
        table.AddColumns("path", "best frame");
        if (xpool) table.AddColumn("attention per frame");
        foreach (var h in hits)
        {
            var row = new List<string> { h.Rank.ToString(), h.Score.ToString("F4") };
            if (vlt) row.Add(h.MatchScore?.ToString("F4") ?? "-");
            row.AddRange([Markup.Escape(h.Video.Path) + (h.IsGroundTruth ? " [green](ground truth)[/]" : ""), $"{h.BestFrameTime:F2} s"]);
            if (xpool) row.Add(Bars(h.FrameWeights!));
            table.AddRow(row.ToArray());
        }
        var writer = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(writer), Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors });
        console.Profile.Width = 160;
        console.Write(table);
        return writer.ToString().TrimEnd();
    }

    /// <summary>One block character per frame, its height the frame's attention relative to the largest, then the weights.</summary>
    public static string Bars(float[] weights)
    {
        const string levels = "▁▂▃▄▅▆▇█";
        float max = weights.Max();
        var bars = new string(weights.Select(w => levels[Math.Clamp((int)Math.Round(w / max * (levels.Length - 1)), 0, levels.Length - 1)]).ToArray());
        return $"{bars}  {string.Join(" ", weights.Select(w => w.ToString("F2")))}";
    }
}
