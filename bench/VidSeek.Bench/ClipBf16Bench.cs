using TorchSharp;
using TorchSharp.Modules;
using VidSeek.Models;
using VidSeek.Models.Clip;
using VidSeek.Models.DualEncoder;
using VidSeek.Text;
using VidSeek.Video;
using static TorchSharp.torch;

namespace VidSeek.Bench;

/// <summary>
/// <c>clip-bf16</c>: CLIP ViT-B/32 (the HF config of openai/clip-vit-base-patch32, random weights at HF's init scale)
/// in bf16 (<see cref="ClipModel.SetPrecision"/>) against fp32, in one run: image tower frames/s and text tower
/// texts/s (the two precisions interleaved, under the same load), and the cosine between bf16 and fp32 embeddings of
/// real frames (decoded from the fixture videos, CLIP preprocessing) and real captions. The same cosines for the
/// trained demo model (assets/demo-model), whose weights are not random.
/// </summary>
public static class ClipBf16Bench
{
    private static readonly string[] Captions =
    [
        "a red circle moves to the left", "a small cyan star spins", "a big blue square grows then shrinks",
        "two triangles bounce off the walls", "a yellow hexagon fades out", "a green circle moves up and then right",
        "colour bars on a test card", "a counter counting up from zero", "a picture zooming in slowly",
        "a magenta square and a white circle cross", "the camera pans across a grid", "an orange star moves down",
        "nothing moves for a while, then a circle appears", "a cellular automaton evolving", "numbers on a black screen",
        "a red square turns into a blue one",
    ];

    public static int Run(Options o)
    {
        int reps = o.Int("reps", 3), warmup = o.Int("warmup", 1);
        int imageBatch = o.Int("image-batch", 16), textBatch = o.Int("text-batch", 16), framesPerVideo = o.Int("frames", 4);
        int threads = o.Int("threads", Environment.ProcessorCount);
        string root = Machine.RepoRoot();
        string configPath = o.String("config") ?? Path.Combine(root, "tests", "VidSeek.Tests", "Fixtures", "clip-vit-base-patch32", "config.json");
        string videosDir = o.String("videos") ?? Path.Combine(root, "..", "shared", "fixtures", "videos");
        string demoDir = o.String("demo-model") ?? Path.Combine(root, "assets", "demo-model");
        Timing.MaxOthers = o.Int("max-others", 100) / 100.0;
        Timing.QuietWaitSeconds = o.Int("quiet-wait", 30);
        o.CheckAllRead();
        torch.set_num_threads(threads);
        using var mode = torch.inference_mode();

        var m = Machine.Describe();
        Console.WriteLine($"CLIP bf16 vs fp32. Machine: {m.Cores} cores, {m.Cpu}; libtorch {m.Torch}, {threads} torch threads; load average {m.LoadAverage} at start (shared with other agents).");
        var config = ClipConfig.Load(configPath);
        torch.manual_seed(0);
        using var fp32 = new ClipModel(config);
        HfInit(fp32);
        fp32.eval();
        using var bf16 = new ClipModel(config);
        bf16.load_state_dict(fp32.state_dict());
        bf16.eval();
        bf16.SetPrecision(Precision.Bf16);

        var videos = Directory.GetFiles(videosDir).Order(StringComparer.Ordinal).ToList();
        var pixelsList = new List<Tensor>();
        var used = new List<string>();
        foreach (var path in videos)
        {
            try { pixelsList.Add(VideoClipLoader.Load(path, framesPerVideo, fp32.ImageSize).Pixels); used.Add(Path.GetFileName(path)); }
            catch (VidSeekException) { }   // the fixtures include broken files on purpose
        }
        using var pixels = torch.cat(pixelsList, 0);                                            // [N, 3, 224, 224]
        var tokenizer = ClipTokenizer.FromFolder(demoDir);
        using var ids = tokenizer.EncodeBatch(Captions, fp32.ContextLength).ToTensor();         // [16, 77]
        Console.WriteLine($"Real inputs: {pixels.shape[0]} frames ({framesPerVideo} per video of {string.Join(", ", used)}), {Captions.Length} captions.");
        Console.WriteLine("Weights: random at HF's init scale (N(0, 0.02) for linear, convolution and embedding weights, zero biases, LayerNorm 1 and 0); no pretrained checkpoint is available offline.");

        // Speed: the first imageBatch frames / textBatch captions (repeated if fewer), the two precisions interleaved.
        using var imgBatch = pixels.index_select(0, torch.arange(imageBatch) % pixels.shape[0]);
        using var txtBatch = ids.index_select(0, torch.arange(textBatch) % ids.shape[0]);
        var s = Timing.Measure([
            () => fp32.EncodeImages(imgBatch), () => bf16.EncodeImages(imgBatch),
            () => fp32.GetTextFeatures(txtBatch), () => bf16.GetTextFeatures(txtBatch),
        ], warmup, reps);
        double img32 = imageBatch / s[0].Median, img16 = imageBatch / s[1].Median;
        double txt32 = textBatch / s[2].Median, txt16 = textBatch / s[3].Median;
        double imageFlops = ClipFlops.ImageTower(config, imageBatch), textFlops = ClipFlops.TextTower(config, textBatch, fp32.ContextLength);

        var (imgMean, imgMin) = Cosines(fp32.EncodeImages(pixels), bf16.EncodeImages(pixels));
        var (txtMean, txtMin) = Cosines(fp32.GetTextFeatures(ids), bf16.GetTextFeatures(ids));

        Console.WriteLine();
        Console.WriteLine($"| tower | batch | fp32 (items/s) | bf16 (items/s) | bf16 / fp32 | fp32 GFLOP/s | bf16 GFLOP/s | cosine bf16 vs fp32: mean | min | others |");
        Console.WriteLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        Console.WriteLine($"| image (ViT-B/32, 224 px) | {imageBatch} | {img32:F1} | {img16:F1} | **{img16 / img32:F2}x** | {imageFlops / s[0].Median / 1e9:F1} | {imageFlops / s[1].Median / 1e9:F1} | {imgMean:F6} | {imgMin:F6} | {s[1].Others:P0} |");
        Console.WriteLine($"| text (77 tokens) | {textBatch} | {txt32:F1} | {txt16:F1} | **{txt16 / txt32:F2}x** | {textFlops / s[2].Median / 1e9:F1} | {textFlops / s[3].Median / 1e9:F1} | {txtMean:F6} | {txtMin:F6} | {s[3].Others:P0} |");

        // The trained demo model: real weights, its own 64 px input.
        using var demo = RetrievalCheckpoint.OpenBackbone(demoDir);
        demo.eval();
        using var demo16 = RetrievalCheckpoint.OpenBackbone(demoDir);
        demo16.eval();
        demo16.SetPrecision(Precision.Bf16);
        using var demoPixels = torch.cat(videos.SelectMany(p =>
        {
            try { return new[] { VideoClipLoader.Load(p, framesPerVideo, demo.ImageSize).Pixels }; }
            catch (VidSeekException) { return []; }
        }).ToList(), 0);
        using var demoIds = ClipTokenizer.FromFolder(demoDir).EncodeBatch(Captions, demo.ContextLength).ToTensor();
        var (dImgMean, dImgMin) = Cosines(demo.EncodeImages(demoPixels), demo16.EncodeImages(demoPixels));
        var (dTxtMean, dTxtMin) = Cosines(demo.GetTextFeatures(demoIds), demo16.GetTextFeatures(demoIds));
        Console.WriteLine($"| demo model (trained), image, {demo.ImageSize} px | {demoPixels.shape[0]} | | | | | | {dImgMean:F6} | {dImgMin:F6} | |");
        Console.WriteLine($"| demo model (trained), text | {demoIds.shape[0]} | | | | | | {dTxtMean:F6} | {dTxtMin:F6} | |");
        Console.WriteLine();
        Console.WriteLine($"Speed: median of {reps} repetitions after {warmup} warm-up round(s), fp32 and bf16 interleaved; load average at end {Machine.LoadAverageNow()}.");
        return 0;
    }

    private static (double Mean, double Min) Cosines(Tensor a, Tensor b)
    {
        using var cos = nn.functional.cosine_similarity(a.to(ScalarType.Float64), b.to(ScalarType.Float64), dim: -1);
        return (cos.mean().ToDouble(), cos.min().ToDouble());
    }

    /// <summary>HF-scale random weights: N(0, 0.02) for linear, convolution and embedding weights, zero biases, LayerNorm 1/0.</summary>
    private static void HfInit(ClipModel model)
    {
        foreach (var (name, p) in model.named_parameters())
        {
            bool norm = name.Contains("layer_norm") || name.Contains("layernorm") || name.Contains("layrnorm");
            if (name == "logit_scale") continue;
            if (norm) { if (name.EndsWith("weight")) p.fill_(1); else p.zero_(); }
            else if (name.EndsWith("bias")) p.zero_();
            else p.normal_(0, 0.02);
        }
    }
}
