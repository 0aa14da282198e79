using System.Text.Json;
using TorchSharp;
using VidSeek.Data.Loaders;
using VidSeek.Models.Vlt;
using VidSeek.Text;
using VidSeek.Training;
using VidSeek.Video;

namespace VidSeek.Bench;

/// <summary>
/// Where Bypass CA's video tokens look: for a trained T2V2T checkpoint and every caption of a Shapes split, paired with its
/// own video (matched) and with another video (mismatched), the share of each video token's attention in the first T2V
/// layer that goes to its own frame rather than to the words, and how often a token gives its own frame more than half
/// (it "chooses its frame over the text"). For segment captions of two-segment videos the frames of the described segment
/// and of the other one are reported apart: if the bypass works as the paper argues, tokens of frames the caption does not
/// describe fall back on their own frame more.
/// Usage: bypass-attention --checkpoint DIR --data SHAPES_DIR [--split test] [--frames 8]
/// </summary>
public static class BypassAttention
{
    private sealed class Tally
    {
        public double ShareSum, UniformSum, Tokens, Chosen;
        /// <param name="share"><c>[T', L]</c>.</param>
        /// <param name="uniform">What uniform attention over the keys would give: L / (L + words).</param>
        public void Add(torch.Tensor share, double uniform)
        {
            ShareSum += share.sum().item<float>();
            UniformSum += uniform * share.numel();
            Tokens += share.numel();
            Chosen += share.gt(0.5).sum().item<long>();
        }
        public string Row(string what) => Tokens == 0 ? $"| {what} | - | - | - | 0 |"
            : $"| {what} | {ShareSum / Tokens:F3} | {UniformSum / Tokens:F3} | {100 * Chosen / Tokens:F1} % | {Tokens:N0} |";
    }

    public static void Run(string[] args)
    {
        var o = Options.Parse(args);
        string data = o.String("data") ?? throw new ArgumentException("--data is required");
        string folder = o.String("checkpoint") ?? throw new ArgumentException("--checkpoint is required");
        string split = o.String("split") ?? "test";
        int f = o.Int("frames", 8);
        using var model = VideoLanguageModel.Load(folder);
        if (model.Joint is not T2V2TJointEncoder { Kind: FusionKind.T2V2T } joint) throw new ArgumentException($"{folder} is a {model.Config.Fusion} model; bypass-attention needs T2V2T");
        var layer = joint.Layers[0];
        var tok = VltTextTokenizer.ForModel(folder, model.Config);
        var (loaded, _) = DatasetLoaders.Load("msrvtt", data, split);

        // Segment boundaries, frame counts and the segment each caption describes, from the generator's annotations.
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(data, "MSRVTT_data.json")));
        var segments = new Dictionary<string, (int Start, int End)[]>();
        var frameCounts = new Dictionary<string, int>();
        foreach (var v in doc.RootElement.GetProperty("videos").EnumerateArray())
        {
            string id = v.GetProperty("video_id").GetString()!;
            segments[id] = v.GetProperty("scene").EnumerateArray().Select(s => (s.GetProperty("start_frame").GetInt32(), s.GetProperty("end_frame").GetInt32())).ToArray();
            frameCounts[id] = v.GetProperty("frames").GetInt32();
        }
        var segmentOf = doc.RootElement.GetProperty("sentences").EnumerateArray()
            .Where(s => s.TryGetProperty("segment", out var seg) && seg.ValueKind == JsonValueKind.Number)
            .GroupBy(s => (s.GetProperty("video_id").GetString()!, s.GetProperty("caption").GetString()!))
            .ToDictionary(g => g.Key, g => g.First().GetProperty("segment").GetInt32());

        var source = new VideoFrameSource(loaded.Videos, f, model.Config.Video.ImageSize, cacheBudgetBytes: 0);
        var tallies = new Dictionary<string, Tally>();
        Tally T(string key) => tallies.TryGetValue(key, out var t) ? t : tallies[key] = new Tally();
        var rng = new Random(1);
        model.eval();
        using var _ = torch.no_grad();
        var tokens = new Dictionary<int, torch.Tensor>();
        torch.Tensor Tokens(int v) => tokens.TryGetValue(v, out var t) ? t : tokens[v] = model.EncodeVideo(source.EvalClip(v).unsqueeze(0)).Tokens.DetachFromDisposeScope();
        foreach (var c in loaded.Captions)
        {
            using var scope = torch.NewDisposeScope();
            var (ids, mask) = tok.Tokenize([c.Text]);
            var hidden = model.EncodeText(ids, mask);
            long l = Tokens(c.VideoIndex).shape[2];
            double uniform = l / (double)(l + mask.sum().item<long>());
            string type = c.Type ?? "all";
            int other = (c.VideoIndex + 1 + rng.Next(loaded.Videos.Count - 1)) % loaded.Videos.Count;
            T($"{type}, mismatched video").Add(layer.OwnFrameShare(Tokens(other), hidden, mask)[0], uniform);
            var share = layer.OwnFrameShare(Tokens(c.VideoIndex), hidden, mask)[0];                  // [T, L]
            T($"{type}, own video").Add(share, uniform);

            string id = loaded.Videos[c.VideoIndex].Id;
            if (type != "segment" || !segmentOf.TryGetValue((id, c.Text), out int seg) || segments[id].Length < 2) continue;
            var sampled = FrameSampler.Uniform(frameCounts[id], f);
            var (start, end) = segments[id][seg];
            for (int i = 0; i < f; i++)
                T(sampled[i] >= start && sampled[i] < end ? "segment, own video: frames of the described segment" : "segment, own video: frames of the other segment")
                    .Add(share[i].unsqueeze(0), uniform);
        }
        foreach (var t in tokens.Values) t.Dispose();

        Console.WriteLine($"Bypass CA (first T2V layer) of {folder} on {split}: {loaded.Captions.Count} captions, {f} frames, {model.Config.Video.ImageSize / model.Config.Video.PatchSize}^2+1 tokens a frame");
        Console.WriteLine();
        Console.WriteLine("| pairs | mean attention on own frame | same if uniform over keys | tokens choosing own frame (> 0.5) | tokens |");
        Console.WriteLine("|---|---:|---:|---:|---:|");
        foreach (var (key, t) in tallies.OrderBy(k => k.Key, StringComparer.Ordinal)) Console.WriteLine(t.Row(key));
    }
}
