using System.Text.Json;
using TorchSharp;
using VidSeek.Data.Shapes;
using VidSeek.Models.DualEncoder;
using VidSeek.Video;

namespace VidSeek.Tests.PyTorch;

/// <summary>
/// <c>vidseek convert</c> of X-Pool's checkpoint as its trainer saves it, then the converted folder used by <c>index</c>,
/// <c>search</c>, <c>embed-video</c> and <c>eval</c>, as a user of X-Pool's released model would.
/// </summary>
[Collection(ProcessStateCollection.Name)]
public class ConvertCliTests
{
    private static string Golden(string folder, string file) => Path.Combine(TestPaths.Golden, folder, file);

    /// <summary>
    /// The golden tiny CLIP has 1,000 tokens with SOT 998 and EOT 999. CLIP's vocabulary is ordered bytes (512 ids), then
    /// one id per merge, so its first 998 ids and first 486 merges, plus the two special tokens at 998/999, are a complete
    /// byte-level BPE tokenizer whose ids all fit that model.
    /// </summary>
    public static string WriteTinyTokenizer(string dir)
    {
        Directory.CreateDirectory(dir);
        var vocab = JsonSerializer.Deserialize<Dictionary<string, int>>(File.ReadAllText(Golden("clip-tokenizer", "vocab.json")))!;
        var tiny = vocab.Where(kv => kv.Value < 998).ToDictionary(kv => kv.Key, kv => kv.Value);
        tiny["<|startoftext|>"] = 998;
        tiny["<|endoftext|>"] = 999;
        File.WriteAllText(Path.Combine(dir, "vocab.json"), JsonSerializer.Serialize(tiny));
        File.WriteAllLines(Path.Combine(dir, "merges.txt"), File.ReadLines(Golden("clip-tokenizer", "merges.txt")).Take(1 + 486));
        return dir;
    }

    [Fact]
    public void ConvertedXPoolCheckpointIndexesSearchesAndEvaluates()
    {
        using var tmp = TestPaths.NewTempDir();
        string model = Path.Combine(tmp.Path, "xpool");
        string tokenizer = WriteTinyTokenizer(Path.Combine(tmp.Path, "tokenizer"));

        var convert = CliRunner.Run("convert", Golden("xpool-ckpt-hf", "model_best.pth"), "--out", model,
            "--clip-config", Golden("xpool-ckpt-hf", "clip_config.json"), "--xpool-heads", "2", "--tokenizer", tokenizer);
        Assert.True(convert.Code == 0, convert.Err);
        Assert.Contains("X-Pool dual encoder (2 heads), 94 tensors (94 storages read", convert.Out);
        Assert.Contains("tokenizer: vocab.json + merges.txt copied", convert.Out);
        Assert.Equal(["config.json", "merges.txt", "model.safetensors", "vocab.json"], Directory.GetFiles(model).Select(Path.GetFileName).Order());
        var again = CliRunner.Run("convert", Golden("xpool-ckpt-hf", "model_best.pth"), "--out", model);
        Assert.Equal(1, again.Code);
        Assert.Contains("already exists and is not empty", again.Err);

        // index + search the decodable fixture videos.
        string videos = Path.Combine(tmp.Path, "videos");
        Directory.CreateDirectory(videos);
        foreach (var f in new[] { "bars_h264.mp4", "numbered_h264.mp4", "counter_mpeg4.mp4", "zoom_h264.mkv", "moving_vp8.webm", "cellauto_mjpeg.avi" })
            File.Copy(Path.Combine(TestPaths.Videos, f), Path.Combine(videos, f));
        string index = Path.Combine(tmp.Path, "videos.vsi");
        var indexed = CliRunner.Run("index", videos, "--model", model, "--out", index, "--frames", "4");
        Assert.True(indexed.Code == 0, indexed.Err);
        Assert.Contains("6 added", indexed.Out);

        const string query = "colour bars";
        var search = CliRunner.Run("search", index, query, "-k", "3", "--json");
        Assert.True(search.Code == 0, search.Err);
        using var doc = JsonDocument.Parse(search.Out);
        var results = doc.RootElement.GetProperty("results").EnumerateArray().ToList();
        Assert.Equal(3, results.Count);

        // The scores are the converted X-Pool model's: recompute them from the videos with the folder's model and tokenizer.
        using (var checkpoint = RetrievalCheckpoint.Open(model))
        using (var scope = torch.NewDisposeScope())
        using (torch.no_grad())
        {
            Assert.Equal(VideoPooling.XPool, checkpoint.Model.Config.Pooling);
            var text = checkpoint.Texts.Embed([query]);
            double previous = double.MaxValue;
            foreach (var r in results)
            {
                using var clip = VideoClipLoader.Load(r.GetProperty("full_path").GetString()!, 4, checkpoint.Model.Clip.ImageSize);
                var frames = checkpoint.Model.EncodeVideo(clip.Pixels.unsqueeze(0));
                var sims = checkpoint.Model.Similarity(text, frames);
                double score = r.GetProperty("score").GetDouble();
                Assert.True(Math.Abs(sims.Sims.item<float>() - score) < 1e-4, $"{r.GetProperty("path")}: search says {score}, the model {sims.Sims.item<float>()}");
                Assert.True(score <= previous);
                previous = score;
                Assert.Equal(4, r.GetProperty("frame_weights").GetArrayLength()); // X-Pool's attention over the 4 frames
            }
        }

        // embed-video takes the converted folder too (its CLIP backbone).
        var embed = CliRunner.Run("embed-video", "--model", model, "--frames", "2", Path.Combine(videos, "bars_h264.mp4"));
        Assert.True(embed.Code == 0, embed.Err);
        using (var e = JsonDocument.Parse(embed.Out)) Assert.Equal(64, e.RootElement.GetProperty("dim").GetInt32());

        // eval on a small Shapes split.
        string shapes = Path.Combine(tmp.Path, "shapes");
        var corpus = ShapesGenerator.Generate(new ShapesOptions { OutputDir = shapes, Seed = 5, Videos = 8, Size = 32, Workers = 1 });
        int trainVideos = corpus.SplitCounts["train"];
        var eval = CliRunner.Run("eval", "--checkpoint", model, "--data", shapes, "--split", "train", "--frames", "4", "--json");
        Assert.True(eval.Code == 0, eval.Err);
        using var metrics = JsonDocument.Parse(eval.Out);
        var t2v = metrics.RootElement.GetProperty("results").GetProperty("all").GetProperty("t2v");
        Assert.Equal(corpus.Videos.Where(v => v.Split == "train").SelectMany(ShapesCaptioner.Captions).Count(), t2v.GetProperty("queries").GetInt32());
        Assert.InRange(t2v.GetProperty("R1").GetProperty("mean").GetDouble(), 0, 100);
        Assert.True(trainVideos >= 2);
    }

    [Fact]
    public void ConvertWithoutOutOrSourceIsAnError()
    {
        Assert.NotEqual(0, CliRunner.Run("convert", Golden("xpool-ckpt-hf", "model_best.pth")).Code);
        using var tmp = TestPaths.NewTempDir();
        var (code, _, err) = CliRunner.Run("convert", Path.Combine(tmp.Path, "missing.pth"), "--out", Path.Combine(tmp.Path, "o"));
        Assert.Equal(1, code);
        Assert.Contains("checkpoint not found", err);
        Assert.NotEqual(0, CliRunner.Run("convert", Golden("xpool-ckpt-hf", "model_best.pth"), "--out", Path.Combine(tmp.Path, "o"), "--xpool-heads", "0").Code);
        Assert.Empty(Directory.GetFileSystemEntries(tmp.Path));
    }
}
