using System.Text.Json;
using TorchSharp;
using VidSeek.Data.Loaders;
using VidSeek.Models.DualEncoder;
using VidSeek.Training;
using VidSeek.Video;
using static TorchSharp.torch;

namespace VidSeek.Bench;

/// <summary>
/// Where X-Pool looks: for every `segment` caption of a multi-segment Shapes video, the share of the text's
/// attention that falls on the frames of the segment the caption describes, against the share those frames have
/// of the sampled frames (what uniform attention, i.e. mean pooling, would give them).
/// Usage: shapes-attention --checkpoint DIR --data SHAPES_DIR [--split test]
/// </summary>
public static class ShapesAttention
{
    public static void Run(string[] args)
    {
        string Arg(string name, string? fallback = null)
        {
            int i = Array.IndexOf(args, name);
            return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback ?? throw new ArgumentException($"{name} is required");
        }
        string data = Arg("--data"), split = Arg("--split", "test");
        using var ckpt = RetrievalCheckpoint.Open(Arg("--checkpoint"));
        if (ckpt.Model.Config.Pooling != VideoPooling.XPool) throw new ArgumentException("shapes-attention needs an X-Pool checkpoint");
        var (loaded, _) = DatasetLoaders.Load("msrvtt", data, split);
        var videoIndex = loaded.Videos.Select((v, i) => (v.Id, i)).ToDictionary(x => x.Id, x => x.i);

        // Segment boundaries and the segment each caption describes come from the generator's annotations.
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(data, "MSRVTT_data.json")));
        var segments = new Dictionary<string, (int Start, int End)[]>();
        var frameCounts = new Dictionary<string, int>();
        foreach (var v in doc.RootElement.GetProperty("videos").EnumerateArray())
        {
            string id = v.GetProperty("video_id").GetString()!;
            if (!videoIndex.ContainsKey(id)) continue;
            segments[id] = v.GetProperty("scene").EnumerateArray().Select(s => (s.GetProperty("start_frame").GetInt32(), s.GetProperty("end_frame").GetInt32())).ToArray();
            frameCounts[id] = v.GetProperty("frames").GetInt32();
        }
        var queries = doc.RootElement.GetProperty("sentences").EnumerateArray()
            .Where(s => s.GetProperty("type").GetString() == "segment" && segments.ContainsKey(s.GetProperty("video_id").GetString()!))
            .Select(s => (Text: s.GetProperty("caption").GetString()!, Video: s.GetProperty("video_id").GetString()!, Segment: s.GetProperty("segment").GetInt32()))
            .Where(q => segments[q.Video].Length > 1)
            .ToList();
        // Full captions of multi-segment videos: they describe every segment, so uniform attention is right for them.
        var fullQueries = doc.RootElement.GetProperty("sentences").EnumerateArray()
            .Where(s => s.GetProperty("type").GetString() == "full" && segments.TryGetValue(s.GetProperty("video_id").GetString()!, out var segs) && segs.Length > 1)
            .Select(s => (Text: s.GetProperty("caption").GetString()!, Video: s.GetProperty("video_id").GetString()!))
            .ToList();

        int f = ckpt.Model.Config.NumFrames;
        var frames = new VideoFrameSource(loaded.Videos, f, ckpt.Model.Clip.ImageSize, cacheBudgetBytes: 0);
        using var _ = torch.no_grad();
        var byCount = new Dictionary<int, List<(double Mass, double Share)>>();
        var frameEmb = new Dictionary<string, Tensor>();
        using var scope = torch.NewDisposeScope();
        var text = ckpt.Texts.Embed(queries.Select(q => q.Text).ToList());
        for (int i = 0; i < queries.Count; i++)
        {
            var q = queries[i];
            if (!frameEmb.TryGetValue(q.Video, out var emb))
                frameEmb[q.Video] = emb = ckpt.Model.EncodeVideo(frames.EvalClip(videoIndex[q.Video]).unsqueeze(0));   // [1, F, E]
            var weights = ckpt.Model.Similarity(text.narrow(0, i, 1), emb).FrameWeights!.flatten().data<float>().ToArray(); // [F]
            var sampled = FrameSampler.Uniform(frameCounts[q.Video], f);
            var (start, end) = segments[q.Video][q.Segment];
            var inside = Enumerable.Range(0, f).Where(k => sampled[k] >= start && sampled[k] < end).ToArray();
            double mass = inside.Sum(k => (double)weights[k]);
            double share = (double)inside.Length / f;
            int n = segments[q.Video].Length;
            (byCount.TryGetValue(n, out var list) ? list : byCount[n] = []).Add((mass, share));
        }
        // For full captions: the least-attended segment's attention relative to its uniform share (1 = uniform).
        var fullText = ckpt.Texts.Embed(fullQueries.Select(q => q.Text).ToList());
        var leastShare = new List<double>();
        for (int i = 0; i < fullQueries.Count; i++)
        {
            var q = fullQueries[i];
            if (!frameEmb.TryGetValue(q.Video, out var emb))
                frameEmb[q.Video] = emb = ckpt.Model.EncodeVideo(frames.EvalClip(videoIndex[q.Video]).unsqueeze(0));
            var weights = ckpt.Model.Similarity(fullText.narrow(0, i, 1), emb).FrameWeights!.flatten().data<float>().ToArray();
            var sampled = FrameSampler.Uniform(frameCounts[q.Video], f);
            leastShare.Add(segments[q.Video].Min(seg =>
            {
                var inside = Enumerable.Range(0, f).Where(k => sampled[k] >= seg.Start && sampled[k] < seg.End).ToArray();
                return inside.Length == 0 ? 1.0 : inside.Sum(k => (double)weights[k]) / ((double)inside.Length / f);
            }));
        }

        Console.WriteLine($"X-Pool attention on the described segment ({split}, {queries.Count} segment captions of multi-segment videos, {f} frames)");
        Console.WriteLine();
        Console.WriteLine("| segments in video | captions | attention on the described segment | uniform share (mean pooling) | captions with more than uniform |");
        Console.WriteLine("| ---: | ---: | ---: | ---: | ---: |");
        foreach (var (n, list) in byCount.OrderBy(kv => kv.Key))
            Console.WriteLine($"| {n} | {list.Count} | {list.Average(x => x.Mass):F3} | {list.Average(x => x.Share):F3} | {100.0 * list.Count(x => x.Mass > x.Share) / list.Count:F0}% |");
        Console.WriteLine();
        Console.WriteLine($"full captions of multi-segment videos ({fullQueries.Count}): the least-attended segment gets {leastShare.Average():F2} of its uniform share on average"
            + $" (1.00 = mean pooling; below 0.5 for {100.0 * leastShare.Count(x => x < 0.5) / Math.Max(1, leastShare.Count):F0}% of them)");
    }
}
