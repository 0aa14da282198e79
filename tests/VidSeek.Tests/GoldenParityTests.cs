using System.Text.Json;
using TorchSharp;
using VidSeek.Models;
using VidSeek.Models.Clip;
using VidSeek.Models.DualEncoder;
using VidSeek.Models.PyTorch;
using VidSeek.Models.Vlt;
using VidSeek.Models.XPool;
using VidSeek.Retrieval;
using VidSeek.Tensors;
using static TorchSharp.torch;

namespace VidSeek.Tests;

/// <summary>
/// Checks every folder under <c>../shared/golden/</c> against our implementation, one test case per folder,
/// chosen by what the folder holds, so a golden folder added later is picked up with no code change.
/// A folder of an unknown kind fails: someone must say how to check it.
/// </summary>
public class GoldenParityTests
{
    public static TheoryData<string> Folders()
    {
        var data = new TheoryData<string>();
        foreach (var dir in Directory.GetDirectories(TestPaths.Golden).OrderBy(d => d, StringComparer.Ordinal))
            data.Add(Path.GetFileName(dir));
        return data;
    }

    public enum GoldenKind { ClipModel, Tokenizer, XPoolPooling, Metrics, BertFusion, XPoolCheckpoint, ClipPyTorch, Unknown }

    /// <summary>The PyTorch checkpoint files of a folder (zip archives written by torch.save / torch.jit.save), found by content.</summary>
    public static string[] PyTorchFiles(string dir) =>
        Directory.GetFiles(dir).Where(f => !f.EndsWith(".safetensors", StringComparison.Ordinal) && !f.EndsWith(".json", StringComparison.Ordinal) && TorchArchive.LooksLikeZip(f))
            .OrderBy(f => f, StringComparer.Ordinal).ToArray();

    public static GoldenKind Detect(string dir)
    {
        bool Has(string f) => File.Exists(Path.Combine(dir, f));
        if (Has("vocab.json") && Has("merges.txt") && Has("cases.json")) return GoldenKind.Tokenizer;
        if (Has("sims.safetensors") && Has("expected.json")) return GoldenKind.Metrics;
        // An X-Pool checkpoint as its trainer saves it: the head count is not in the checkpoint, so the folder records it in expected's metadata.
        if (Has("expected.safetensors") && PyTorchFiles(dir).Length == 1 &&
            SafeTensors.ReadHeader(Path.Combine(dir, "expected.safetensors")).Metadata.ContainsKey("num_mha_heads"))
            return GoldenKind.XPoolCheckpoint;
        if (Has("config.json"))
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "config.json")));
            string? type = doc.RootElement.TryGetProperty("model_type", out var t) ? t.GetString() : null;
            if (type == "clip" && Has("model.safetensors")) return GoldenKind.ClipModel;
            if (type == "clip" && PyTorchFiles(dir).Length == 1) return GoldenKind.ClipPyTorch; // pytorch_model.bin, or a TorchScript archive
            if (type == "bert") return GoldenKind.BertFusion;
        }
        if (Has("weights.safetensors") && SafeTensors.ReadHeader(Path.Combine(dir, "weights.safetensors")).Entries.Any(e => e.Name.StartsWith("cross_attn.", StringComparison.Ordinal)))
            return GoldenKind.XPoolPooling;
        return GoldenKind.Unknown;
    }

    [Theory]
    [MemberData(nameof(Folders))]
    public void Golden(string folder)
    {
        string dir = Path.Combine(TestPaths.Golden, folder);
        switch (Detect(dir))
        {
            case GoldenKind.ClipModel: CheckClip(dir); break;
            case GoldenKind.Metrics: CheckMetrics(dir); break;
            case GoldenKind.Tokenizer: ClipTokenizerTests.CheckGoldenFolder(dir); break;
            case GoldenKind.XPoolPooling: CheckXPool(dir); break;
            case GoldenKind.BertFusion: CheckBert(dir); break;
            case GoldenKind.XPoolCheckpoint: CheckXPoolCheckpoint(dir); break;
            case GoldenKind.ClipPyTorch: CheckClipPyTorch(dir); break;
            default: Assert.Fail($"golden folder '{folder}' is of a kind this test does not know; teach GoldenParityTests.Detect how to check it."); break;
        }
    }

    /// <summary>The CLIP model of <paramref name="modelDir"/> against the inputs and expected outputs of <paramref name="dir"/>.</summary>
    private static void CheckClip(string dir) => CheckClip(dir, dir);

    private static void CheckClip(string dir, string modelDir)
    {
        using var scope = torch.NewDisposeScope();
        using var model = ClipModel.FromPretrained(modelDir);
        var inputs = SafeTensors.Load(Path.Combine(dir, "inputs.safetensors"));
        var expected = SafeTensors.Load(Path.Combine(dir, "expected.safetensors"));
        using var _ = torch.no_grad();
        var pixels = inputs["pixel_values"];
        var ids = inputs["input_ids"];
        const double atol = 1e-5;

        var vision = model.VisionModel.forward(pixels);
        var text = model.TextModel.forward(ids);
        var outputs = model.forward(ids, pixels);
        var actual = new Dictionary<string, Tensor>
        {
            ["image_embeds"] = outputs.ImageEmbeds,
            ["text_embeds"] = outputs.TextEmbeds,
            ["image_embeds_normalized"] = nn.functional.normalize(outputs.ImageEmbeds, dim: -1),
            ["text_embeds_normalized"] = nn.functional.normalize(outputs.TextEmbeds, dim: -1),
            ["logits_per_image"] = outputs.LogitsPerImage,
            ["logits_per_text"] = outputs.LogitsPerText,
            ["vision_hidden_after_pre_layrnorm"] = vision.EmbeddingOutput,
            ["vision_last_hidden_state"] = vision.LastHiddenState,
            ["vision_pooled_output"] = vision.PooledOutput,
            ["text_last_hidden_state"] = text.LastHiddenState,
            ["text_pooled_output"] = text.PooledOutput,
        };
        var unchecked_ = expected.Keys.Except(actual.Keys).ToList();
        Assert.True(unchecked_.Count == 0, "expected.safetensors holds tensors this test does not check: " + string.Join(", ", unchecked_));
        foreach (var (name, want) in expected)
            TensorAssert.Close(want, actual[name], atol, name);
    }

    /// <summary>
    /// The BERT text/fusion encoder: the unimodal text pass, the fused pass and the pooler, every tensor at every
    /// position (padded ones included, which the reference computes as HF does).
    /// </summary>
    private static void CheckBert(string dir)
    {
        using var scope = torch.NewDisposeScope();
        using var model = BertModel.FromPretrained(dir);
        // An eps of 1e-5 instead of 1e-12 moves the outputs by only ~1.5e-5, barely over the tolerance: check it is read.
        Assert.Equal(1e-12, model.Config.LayerNormEps);
        var inputs = SafeTensors.Load(Path.Combine(dir, "inputs.safetensors"));
        var expected = SafeTensors.Load(Path.Combine(dir, "expected.safetensors"));
        using var _ = torch.no_grad();
        var mask = inputs["attention_mask"];
        var textStates = new List<Tensor>();
        var fusionStates = new List<Tensor>();
        var text = model.TextEncoder(inputs["input_ids"], mask, textStates);
        var fused = model.Fusion(text, mask, inputs["video_tokens"], hiddenStates: fusionStates);
        Assert.Equal(1 + model.TextLayers, textStates.Count);
        Assert.Equal(model.Config.NumHiddenLayers - model.TextLayers, fusionStates.Count);
        var actual = new Dictionary<string, Tensor>
        {
            ["embeddings_output"] = textStates[0],
            ["hidden_after_layer_0"] = textStates[1],
            ["text_hidden_after_text_layers"] = text,
            ["text_cls"] = text.select(1, 0),
            ["hidden_after_layer_2"] = fusionStates[0],
            ["fused_hidden"] = fused,
            ["fused_cls"] = fused.select(1, 0),
            ["text_pooled"] = model.Pool(text),
            ["fused_pooled"] = model.Pool(fused),
        };
        Assert.Equal(actual.Keys.Order(), expected.Keys.Order());
        foreach (var (name, want) in expected)
            TensorAssert.Close(want, actual[name], 1e-5, name);
        TensorAssert.Close(text, textStates[^1], 0, "last text hidden state");
        TensorAssert.Close(fused, fusionStates[^1], 0, "last fusion hidden state");
    }

    /// <summary>The head count a golden file records in its <c>__metadata__</c> (<c>num_mha_heads</c>); never taken from the folder's name.</summary>
    private static int HeadsOf(string safetensorsFile)
    {
        var meta = SafeTensors.ReadHeader(safetensorsFile).Metadata;
        Assert.True(meta.TryGetValue("num_mha_heads", out var heads), $"{safetensorsFile}: __metadata__ has no num_mha_heads");
        return int.Parse(heads!, System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// X-Pool pooling; the head count is in <c>weights.safetensors</c>' metadata. Sims are checked twice: X-Pool's own
    /// order and the factored form (the default of eval and search), which must also give the same attention weights.
    /// </summary>
    private static void CheckXPool(string dir)
    {
        string weightsPath = Path.Combine(dir, "weights.safetensors");
        int heads = HeadsOf(weightsPath);
        using var scope = torch.NewDisposeScope();
        var inputs = SafeTensors.Load(Path.Combine(dir, "inputs.safetensors"));
        var expected = SafeTensors.Load(Path.Combine(dir, "expected.safetensors"));
        var text = inputs["text_embeds"];
        var frames = inputs["video_embeds"];
        using var pooling = new TextConditionedPooling((int)text.shape[1], heads);
        StateDictLoader.Load(pooling, weightsPath, "X-Pool pooling");
        pooling.eval();
        using var _ = torch.no_grad();
        var output = pooling.forward(text, frames);
        var actual = new Dictionary<string, Tensor>
        {
            ["video_embeds_pooled"] = output.Pooled,
            ["cross_attn_out"] = output.CrossAttnOut,
            ["sims"] = TextConditionedPooling.Similarity(text, output.Pooled),
        };
        Assert.Equal(actual.Keys.Order(), expected.Keys.Order());
        foreach (var (name, want) in expected)
            TensorAssert.Close(want, actual[name], 1e-5, name);
        // Attention weights are a distribution over frames for every (video, text, head).
        TensorAssert.Close(torch.ones(output.Weights.shape[..^1]), output.Weights.sum(-1), 1e-5, "attention weights sum");

        using var factored = new XPoolFactored(pooling);
        using var videos = factored.PrepareVideos(frames);
        using var texts = factored.PrepareTexts(text);
        var (sims, weights) = factored.Score(texts, videos, 0, texts.Count, 0, videos.Count);
        TensorAssert.Close(expected["sims"], sims, 1e-5, "sims (factored)");
        TensorAssert.Close(output.Weights, weights.permute(1, 0, 2, 3), 1e-6, "attention weights (factored)");

        // The single-query form of search's second stage, one text at a time.
        using var single = new XPoolSingleQuery(pooling);
        for (int t = 0; t < text.shape[0]; t++)
        {
            var (one, oneWeights) = single.Score(text[t], frames);                                  // [V], [V, H, F]
            TensorAssert.Close(expected["sims"][t], one, 1e-5, $"sims (single query, text {t})");
            TensorAssert.Close(output.Weights.select(1, t), oneWeights, 1e-6, $"attention weights (single query, text {t})");
        }
    }

    /// <summary>
    /// An X-Pool <c>model_best.pth</c> (HF or openai CLIP keys + <c>pool_frames.*</c>, with optimizer state) checked twice:
    /// converted as <c>vidseek convert</c> does, and given directly where a model folder is expected (ModelSource, with a
    /// <c>.vidseek.json</c> sidecar carrying the head count and the CLIP config, since the checkpoint stores neither).
    /// </summary>
    private static void CheckXPoolCheckpoint(string dir)
    {
        string checkpoint = PyTorchFiles(dir).Single();
        int heads = HeadsOf(Path.Combine(dir, "expected.safetensors"));
        // The CLIP architecture: the folder's clip_config.json, else inferred from the shapes (heads = width / 64).
        string? clipConfig = File.Exists(Path.Combine(dir, "clip_config.json")) ? Path.Combine(dir, "clip_config.json") : null;
        using var tmp = TestPaths.NewTempDir();

        string converted = Path.Combine(tmp.Path, "converted");
        PyTorchConverter.Convert(checkpoint, converted, new ConvertOptions { ClipConfig = clipConfig, XPoolHeads = heads });
        CheckXPoolModel(dir, converted, heads);

        string direct = Path.Combine(tmp.Path, "direct");
        Directory.CreateDirectory(direct);
        string copy = Path.Combine(direct, Path.GetFileName(checkpoint));
        File.Copy(checkpoint, copy);
        File.WriteAllText(copy + ConvertedModelCache.SidecarSuffix, JsonSerializer.Serialize(new Dictionary<string, object?> { ["clip_config"] = clipConfig, ["xpool_heads"] = heads }));
        string resolved = ModelSource.Resolve(copy, "--checkpoint");
        Assert.StartsWith(ConvertedModelCache.Root, resolved);
        CheckXPoolModel(dir, resolved, heads);
        Assert.Equal(resolved, ModelSource.Resolve(copy, "--checkpoint")); // converted once, then reused
    }

    private static void CheckXPoolModel(string dir, string modelDir, int heads)
    {
        using var scope = torch.NewDisposeScope();
        using var model = DualEncoderModel.Load(modelDir);
        Assert.Equal(heads, model.Config.XPoolHeads);
        var inputs = SafeTensors.Load(Path.Combine(dir, "inputs.safetensors"));
        var expected = SafeTensors.Load(Path.Combine(dir, "expected.safetensors"));
        using var _ = torch.no_grad();
        var text = model.EncodeText(inputs["input_ids"]);                       // [T, E]
        var frames = model.EncodeVideo(inputs["pixel_values"]);                 // [V, F, E]

        // The pooled embeddings through a pooling module filled from the converted folder's pool.* tensors.
        var weights = SafeTensors.Load(Path.Combine(modelDir, "model.safetensors"));
        using var pooling = new TextConditionedPooling((int)text.shape[1], heads);
        StateDictLoader.Load(pooling, weights.Where(kv => kv.Key.StartsWith("pool.", StringComparison.Ordinal)).ToDictionary(kv => kv.Key["pool.".Length..], kv => kv.Value), modelDir, "X-Pool pooling");
        pooling.eval();
        var actual = new Dictionary<string, Tensor>
        {
            ["text_embeds"] = text,
            ["frame_embeds"] = frames,
            ["video_embeds_pooled"] = pooling.forward(text, frames).Pooled,
            ["sims"] = model.Similarity(text, frames).Sims,                      // the model's own head, [T, V]
        };
        Assert.Equal(actual.Keys.Order(), expected.Keys.Order());
        foreach (var (name, want) in expected)
            TensorAssert.Close(want, actual[name], 1e-5, $"{modelDir}: {name}");
    }

    /// <summary>
    /// CLIP weights that only a PyTorch file holds (<c>pytorch_model.bin</c>, or an openai TorchScript archive) next to the
    /// folder's config.json: converted, then clip-tiny's expected outputs. A HF folder is also given directly (ModelSource).
    /// </summary>
    private static void CheckClipPyTorch(string dir)
    {
        string checkpoint = PyTorchFiles(dir).Single();
        using var tmp = TestPaths.NewTempDir();
        string converted = Path.Combine(tmp.Path, "converted");
        bool hfFolder = Path.GetFileName(checkpoint) == PyTorchConverter.PyTorchBin;
        // A HF folder carries its config.json; for a TorchScript archive the architecture comes from the folder's config
        // (openai's width / 64 rule does not hold for the tiny text tower).
        PyTorchConverter.Convert(hfFolder ? dir : checkpoint, converted, new ConvertOptions { ClipConfig = hfFolder ? null : dir });
        CheckClip(dir, converted);
        if (hfFolder) CheckClip(dir, ModelSource.Resolve(dir));
    }

    private static void CheckMetrics(string dir)
    {
        var loaded = SafeTensors.Load(Path.Combine(dir, "sims.safetensors"));
        using var sims = loaded["sims"];
        int n = (int)sims.shape[0];
        var values = sims.data<float>().ToArray();
        var identity = Enumerable.Range(0, n).ToArray();
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "expected.json")));

        void Check(JsonElement exp, TiePolicy policy, string label)
        {
            var report = RetrievalMetrics.Compute(values, n, n, identity, policy);
            // The golden ranks are 0-based; ours are 1-based.
            Assert.Equal(exp.GetProperty("t2v_ranks").EnumerateArray().Select(e => e.GetInt32() + 1), report.TextToVideoRanks);
            Assert.Equal(exp.GetProperty("v2t_ranks").EnumerateArray().Select(e => e.GetInt32() + 1), report.VideoToTextRanks);
            foreach (var (dirName, scores) in new[] { ("t2v", report.TextToVideo), ("v2t", report.VideoToText) })
            {
                var e = exp.GetProperty(dirName);
                void Eq(string key, double actual) => Assert.True(Math.Abs(e.GetProperty(key).GetDouble() - actual) < 1e-9, $"{label} {dirName} {key}: {actual}, expected {e.GetProperty(key).GetDouble()}");
                Eq("R1", scores.R1); Eq("R5", scores.R5); Eq("R10", scores.R10); Eq("R50", scores.R50); Eq("R100", scores.R100);
                Eq("MedR", scores.MedianRank); Eq("MeanR", scores.MeanRank);
            }
        }
        Check(doc.RootElement.GetProperty("stable_tiebreak"), TiePolicy.Stable, "stable");
        Check(doc.RootElement.GetProperty("strictly_greater"), TiePolicy.Optimistic, "strictly_greater");
    }
}
