using System.Text.Json.Nodes;
using TorchSharp;
using VidSeek.Models.Vlt;
using VidSeek.Tensors;
using static TorchSharp.torch;

namespace VidSeek.Tests.Vlt;

/// <summary>
/// <c>--init-text</c>/<c>--init-vision</c>: a VLT started from a Hugging Face BERT and a CLIP ViT computes what the source models
/// compute, checked against the golden outputs of <c>bert-fusion-tiny</c> and <c>clip-tiny</c>.
/// </summary>
public class VltPretrainedTests
{
    private static string ClipTiny => Path.Combine(TestPaths.Golden, "clip-tiny");

    private static Dictionary<string, Tensor> Golden(string folder, string file) => SafeTensors.Load(Path.Combine(folder, file));

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void TextEncoderEqualsTheSourceBertsTextLayers(bool maskedLm)
    {
        using var tmp = TestPaths.NewTempDir();
        using var scope = torch.NewDisposeScope();
        var text = VltPretrained.OpenText(TinyBertFolder.Write(Path.Combine(tmp.Path, "bert"), maskedLm));
        Assert.Equal(maskedLm ? "bert." : "", text.Prefix);
        var vision = VltPretrained.OpenVision(ClipTiny);
        // shapes-small has 2 fusion layers: the 4-layer BERT splits 2 + 2, as bert-fusion-tiny's own fusion_layer.
        var config = VltPretrained.Derive(VideoLanguagePresets.ShapesSmall(FusionKind.V2T), null, text, vision);
        Assert.Equal((120, 32, 4, 2, 64, 24), (config.Text.VocabSize, config.Text.HiddenSize, config.Text.NumHiddenLayers, config.Text.TextLayers, config.Text.VideoWidth, config.Text.MaxPositionEmbeddings));

        using var model = new VideoLanguageModel(config);
        var report = VltPretrained.Load(model, text, vision);
        model.eval();
        using var _ = torch.no_grad();
        var inputs = Golden(TinyBertFolder.Golden, "inputs.safetensors");
        var expected = Golden(TinyBertFolder.Golden, "expected.safetensors");
        var hidden = model.EncodeText(inputs["input_ids"], inputs["attention_mask"]);
        TensorAssert.Close(expected["text_hidden_after_text_layers"], hidden, 1e-5, "text encoder output");
        TensorAssert.Close(expected["text_cls"], hidden.select(1, 0), 1e-5, "text [CLS]");

        // The fusion layers' BERT parts are BERT's layers 2 and 3, index for index; the cross-attention is new.
        var sd = model.state_dict();
        var weights = Golden(TinyBertFolder.Golden, "weights.safetensors");
        foreach (var key in new[] { "encoder.layer.2.attention.self.query.weight", "encoder.layer.3.output.dense.weight", "encoder.layer.3.intermediate.dense.bias" })
            TensorAssert.Close(weights[key], sd["text_encoder." + key], 0, key);
        Assert.DoesNotContain(report.FromText, k => k.Contains(".crossattention."));

        // BertForMaskedLM has no pooler: it stays new. BertModel's pooler is loaded and pools as the golden one does.
        Assert.Equal(!maskedLm, report.FromText.Contains("text_encoder.pooler.dense.weight"));
        if (!maskedLm) TensorAssert.Close(expected["text_pooled"], model.TextEncoder.Pool(hidden), 1e-5, "pooler");
        Assert.Equal(5 + 4 * 16 + (maskedLm ? 0 : 2), report.FromText.Count);
    }

    [Fact]
    public void FusionLayersAreTheLastBertLayers()
    {
        using var tmp = TestPaths.NewTempDir();
        using var scope = torch.NewDisposeScope();
        var text = VltPretrained.OpenText(TinyBertFolder.Write(Path.Combine(tmp.Path, "bert"), maskedLm: false));
        // No vision source: the video width (32, as the golden video tokens') comes from the base config.
        var config = VltPretrained.Derive(VltTestKit.TinyModel(FusionKind.V2T), null, text, null);
        using var model = new VideoLanguageModel(config);
        VltPretrained.Load(model, text, null);
        model.eval();

        // Give the new cross-attention the golden one's weights: the fused output must then be the golden fused output,
        // which holds only if text layers 2 and 3 went to fusion layers 2 and 3.
        var weights = Golden(TinyBertFolder.Golden, "weights.safetensors");
        var sd = model.state_dict();
        using (torch.no_grad())
            foreach (var (key, t) in weights.Where(kv => kv.Key.Contains(".crossattention.")))
            {
                Assert.False(torch.allclose(sd["text_encoder." + key], t), $"{key} should start new");
                sd["text_encoder." + key].copy_(t);
            }
        using var _ = torch.no_grad();
        var inputs = Golden(TinyBertFolder.Golden, "inputs.safetensors");
        var expected = Golden(TinyBertFolder.Golden, "expected.safetensors");
        var hidden = model.EncodeText(inputs["input_ids"], inputs["attention_mask"]);
        var fused = model.TextEncoder.Fusion(hidden, inputs["attention_mask"], inputs["video_tokens"]);
        TensorAssert.Close(expected["fused_hidden"], fused, 1e-5, "fused hidden states");
    }

    [Fact]
    public void SelfAttentionFusionTakesTheLastBertLayersAsItsJointLayers()
    {
        using var tmp = TestPaths.NewTempDir();
        using var scope = torch.NewDisposeScope();
        var text = VltPretrained.OpenText(TinyBertFolder.Write(Path.Combine(tmp.Path, "bert"), maskedLm: true));
        var config = VltPretrained.Derive(VltTestKit.TinyModel(FusionKind.SelfAttention), null, text, null);
        using var model = new VideoLanguageModel(config);
        var report = VltPretrained.Load(model, text, null);
        var sd = model.state_dict();
        var weights = Golden(TinyBertFolder.Golden, "weights.safetensors");
        Assert.DoesNotContain(sd.Keys, k => k.StartsWith("text_encoder.encoder.layer.2.", StringComparison.Ordinal));
        foreach (var (from, to) in new[] { (2, 0), (3, 1) })
            foreach (var leaf in new[] { "attention.self.key.weight", "attention.output.LayerNorm.bias", "output.dense.weight" })
                TensorAssert.Close(weights[$"encoder.layer.{from}.{leaf}"], sd[$"joint.layer.{to}.{leaf}"], 0, $"joint.layer.{to}.{leaf}");
        Assert.Contains("joint.layer.1.output.LayerNorm.weight", report.FromText);
        model.eval();
        using var _ = torch.no_grad();
        var inputs = Golden(TinyBertFolder.Golden, "inputs.safetensors");
        TensorAssert.Close(Golden(TinyBertFolder.Golden, "expected.safetensors")["text_hidden_after_text_layers"],
            model.EncodeText(inputs["input_ids"], inputs["attention_mask"]), 1e-5, "text encoder output");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void VideoEncoderEqualsTheClipVitOnEveryFrame(bool visionModelFolder)
    {
        using var tmp = TestPaths.NewTempDir();
        using var scope = torch.NewDisposeScope();
        string source = ClipTiny;
        if (visionModelFolder)
        {
            // A CLIPVisionModel folder: the vision config at the top level, only vision_model.* keys.
            source = Path.Combine(tmp.Path, "vision");
            Directory.CreateDirectory(source);
            var vc = JsonNode.Parse(File.ReadAllText(Path.Combine(ClipTiny, "config.json")))!["vision_config"]!.DeepClone().AsObject();
            vc["model_type"] = "clip_vision_model";
            File.WriteAllText(Path.Combine(source, "config.json"), vc.ToJsonString());
            SafeTensors.Save(Path.Combine(source, "model.safetensors"), Golden(ClipTiny, "model.safetensors").Where(kv => kv.Key.StartsWith("vision_model.", StringComparison.Ordinal)));
        }
        var vision = VltPretrained.OpenVision(source);
        var config = VltPretrained.Derive(VideoLanguagePresets.ShapesSmall(FusionKind.V2T), null, null, vision);
        Assert.Equal((32, 8, 64, 2, 1, 256), (config.Video.ImageSize, config.Video.PatchSize, config.Video.HiddenSize, config.Video.NumHiddenLayers, config.Video.NumAttentionHeads, config.Video.IntermediateSize));
        Assert.Equal(64, config.Text.VideoWidth);

        using var model = new VideoLanguageModel(config);
        var report = VltPretrained.Load(model, null, vision);
        Assert.Equal(3 + 2 + 2 * 16 + 2, report.FromVision.Count);
        Assert.All(model.VideoEncoder.TemporalBlocks, b => Assert.Equal(0f, b.Gate.item<float>()));
        model.eval();
        using var _ = torch.no_grad();
        var pixels = Golden(ClipTiny, "inputs.safetensors")["pixel_values"];                // [3, 3, 32, 32]
        var expected = Golden(ClipTiny, "expected.safetensors");
        var weights = Golden(ClipTiny, "model.safetensors");
        // The three images as the three frames of one video: with the temporal gates at 0 each frame is the image ViT's output.
        var tokens = model.EncodeVideo(pixels.unsqueeze(0)).Tokens.squeeze(0);               // [T=3, L=17, D=64]
        var postLn = nn.functional.layer_norm(expected["vision_last_hidden_state"], [64], weights["vision_model.post_layernorm.weight"], weights["vision_model.post_layernorm.bias"], 1e-5);
        TensorAssert.Close(postLn, tokens, 1e-5, "video tokens = post_layernorm(CLIP last hidden state), per frame");
        TensorAssert.Close(expected["vision_pooled_output"], tokens.select(1, 0), 1e-5, "class token = CLIP pooled output");
    }

    [Fact]
    public void VindluBAgreesWithBertBaseUncasedAndClipVitB16()
    {
        var preset = VideoLanguagePresets.VindluB(FusionKind.T2V2T);
        Assert.Equal((12, 9, 3, 768, 30522, 512), (preset.Text.NumHiddenLayers, preset.Text.TextLayers, preset.FusionLayers, preset.Text.HiddenSize, preset.Text.VocabSize, preset.Text.MaxPositionEmbeddings));
        Assert.Equal((224, 16, 768, 12, 12, 256), (preset.Video.ImageSize, preset.Video.PatchSize, preset.Video.HiddenSize, preset.Video.NumHiddenLayers, preset.Video.NumAttentionHeads, preset.EmbedDim));
        // The fields of bert-base-uncased's config.json and openai/clip-vit-base-patch16's vision_config (HF defaults for the
        // rest): naming --vlt-config vindlu-b beside them must pass the key-by-key agreement check.
        var bert = new BertConfig { VocabSize = 30522, HiddenSize = 768, NumHiddenLayers = 12, NumAttentionHeads = 12, IntermediateSize = 3072, HiddenAct = "gelu",
            MaxPositionEmbeddings = 512, TypeVocabSize = 2, LayerNormEps = 1e-12 };
        var vit = new VidSeek.Models.Clip.ClipVisionConfig { HiddenSize = 768, IntermediateSize = 3072, NumAttentionHeads = 12, NumHiddenLayers = 12, ImageSize = 224, PatchSize = 16,
            HiddenAct = "quick_gelu", LayerNormEps = 1e-5 };
        var config = VltPretrained.Derive(preset, "vindlu-b", new VltPretrained.TextSource("bert", "bert/config.json", "", bert, ""),
            new VltPretrained.VisionSource("clip", "clip/config.json", "", vit));
        Assert.Equal(preset with { Text = preset.Text with { InitializerRange = bert.InitializerRange } }, config);
    }

    [Fact]
    public void MismatchesAndBadKeysAreNamed()
    {
        using var tmp = TestPaths.NewTempDir();
        var text = VltPretrained.OpenText(TinyBertFolder.Write(Path.Combine(tmp.Path, "bert"), maskedLm: false));
        var vision = VltPretrained.OpenVision(ClipTiny);

        // A named --vlt-config must agree with the checkpoints on every size.
        var e = Assert.Throws<VidSeekException>(() => VltPretrained.Derive(VideoLanguagePresets.VindluB(FusionKind.T2V2T), "vindlu-b", text, null));
        Assert.Contains("vocab_size is 120, but --vlt-config vindlu-b has text.vocab_size = 30522", e.Message);
        e = Assert.Throws<VidSeekException>(() => VltPretrained.Derive(VideoLanguagePresets.ShapesSmall(FusionKind.V2T), "shapes-small", null, vision));
        Assert.Contains("image_size is 32, but --vlt-config shapes-small has video.image_size = 64", e.Message);
        // T2V2T mixes text and video tokens: the widths must agree (32 vs 64 here).
        e = Assert.Throws<VidSeekException>(() => VltPretrained.Derive(VideoLanguagePresets.ShapesSmall(FusionKind.T2V2T), null, text, vision));
        Assert.Contains("needs the text and video widths equal, got 32 and 64", e.Message);

        string Variant(string name, Action<JsonObject> config, Func<Dictionary<string, Tensor>, IEnumerable<KeyValuePair<string, Tensor>>>? weights = null)
        {
            string dir = Path.Combine(tmp.Path, name);
            Directory.CreateDirectory(dir);
            var c = JsonNode.Parse(File.ReadAllText(Path.Combine(text.Folder, "config.json")))!.AsObject();
            config(c);
            File.WriteAllText(Path.Combine(dir, "config.json"), c.ToJsonString());
            var w = SafeTensors.Load(text.WeightsPath);
            SafeTensors.Save(Path.Combine(dir, "model.safetensors"), weights?.Invoke(w) ?? w);
            return dir;
        }
        VideoLanguageModel Built(string dir, out VltPretrained.TextSource source)
        {
            source = VltPretrained.OpenText(dir);
            return new VideoLanguageModel(VltPretrained.Derive(VltTestKit.TinyModel(FusionKind.V2T), null, source, null));
        }

        // 3 layers cannot hold vindlu-b's 3 fusion layers and a text layer.
        var three = VltPretrained.OpenText(Variant("three", c => c["num_hidden_layers"] = 3));
        e = Assert.Throws<VidSeekException>(() => VltPretrained.Derive(VideoLanguagePresets.VindluB(FusionKind.V2T), null, three, null));
        Assert.Contains("num_hidden_layers is 3, which leaves no text-only layer beside the 3 fusion layers", e.Message);

        // A config that disagrees with its weights: the misshapen tensor is named, and nothing is half-loaded.
        using (var model = Built(Variant("wide", c => c["intermediate_size"] = 48), out var wide))
        {
            var before = model.state_dict()["text_encoder.embeddings.word_embeddings.weight"].clone();
            e = Assert.Throws<VidSeekException>(() => VltPretrained.Load(model, wide, null));
            Assert.Contains("encoder.layer.0.intermediate.dense.weight is [64, 32] in the file but text_encoder.encoder.layer.0.intermediate.dense.weight is [48, 32]", e.Message);
            TensorAssert.Close(before, model.state_dict()["text_encoder.embeddings.word_embeddings.weight"], 0, "untouched after a failed load");
        }
        // A missing tensor, and an unexpected one (cross-attention: --init-text takes a plain BERT).
        using (var model = Built(Variant("missing", _ => { }, w => w.Where(kv => kv.Key != "encoder.layer.1.output.LayerNorm.bias")), out var missing))
            Assert.Contains("1 missing key(s): encoder.layer.1.output.LayerNorm.bias", Assert.Throws<VidSeekException>(() => VltPretrained.Load(model, missing, null)).Message);
        using (var model = Built(Variant("xbert", _ => { }, w => w.Append(new("encoder.layer.3.crossattention.self.query.weight", torch.zeros(32, 32)))), out var xbert))
            Assert.Contains("unexpected key(s): encoder.layer.3.crossattention.self.query.weight", Assert.Throws<VidSeekException>(() => VltPretrained.Load(model, xbert, null)).Message);

        // Each option takes its own kind of folder.
        Assert.Contains("model_type is 'bert', expected 'clip'", Assert.Throws<VidSeekException>(() => VltPretrained.OpenVision(text.Folder)).Message);
        Assert.Contains("model_type is 'clip', expected 'bert'", Assert.Throws<VidSeekException>(() => VltPretrained.OpenText(ClipTiny)).Message);
    }
}
