using System.Text.Json;
using TorchSharp;
using VidSeek.Models;
using VidSeek.Models.Clip;
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

    public enum GoldenKind { ClipModel, Tokenizer, XPoolPooling, Metrics, BertFusion, Unknown }

    public static GoldenKind Detect(string dir)
    {
        bool Has(string f) => File.Exists(Path.Combine(dir, f));
        if (Has("vocab.json") && Has("merges.txt") && Has("cases.json")) return GoldenKind.Tokenizer;
        if (Has("sims.safetensors") && Has("expected.json")) return GoldenKind.Metrics;
        if (Has("config.json"))
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "config.json")));
            string? type = doc.RootElement.TryGetProperty("model_type", out var t) ? t.GetString() : null;
            if (type == "clip" && Has("model.safetensors")) return GoldenKind.ClipModel;
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
            default: Assert.Fail($"golden folder '{folder}' is of a kind this test does not know; teach GoldenParityTests.Detect how to check it."); break;
        }
    }

    private static void CheckClip(string dir)
    {
        using var scope = torch.NewDisposeScope();
        using var model = ClipModel.FromPretrained(dir);
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

    /// <summary>
    /// X-Pool pooling. The head count comes from <c>weights.safetensors</c>' <c>__metadata__</c> (<c>num_mha_heads</c>),
    /// never from the folder name. Sims are checked twice: X-Pool's own order and the factored form (the default of
    /// eval and search), which must also give the same attention weights.
    /// </summary>
    private static void CheckXPool(string dir)
    {
        string weightsPath = Path.Combine(dir, "weights.safetensors");
        var metadata = SafeTensors.ReadHeader(weightsPath).Metadata;
        int heads = 0;
        Assert.True(metadata.TryGetValue("num_mha_heads", out var headsText) && int.TryParse(headsText, out heads),
            $"{weightsPath}: __metadata__ has no integer num_mha_heads");
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
