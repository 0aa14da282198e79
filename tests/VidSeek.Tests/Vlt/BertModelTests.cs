using TorchSharp;
using VidSeek.Models.Vlt;
using VidSeek.Tensors;
using static TorchSharp.torch;

namespace VidSeek.Tests.Vlt;

public class BertModelTests
{
    private static string TinyFolder => Path.Combine(TestPaths.Golden, "bert-fusion-tiny");

    /// <summary>Text and fused hidden states <c>[B, N, D]</c> of the golden inputs, or of other ids / mask / video.</summary>
    private static (Tensor Text, Tensor Fused) Run(BertModel model, Tensor ids, Tensor mask, Tensor video, Tensor? videoMask = null)
    {
        using var _ = torch.no_grad();
        var text = model.TextEncoder(ids, mask);
        return (text, model.Fusion(text, mask, video, videoMask));
    }

    [Fact]
    public void StateDictMatchesTheGoldenKeysAndShapes()
    {
        using var model = new BertModel(BertConfig.Load(Path.Combine(TinyFolder, "config.json")));
        var ours = model.state_dict().ToDictionary(kv => kv.Key, kv => string.Join(",", kv.Value.shape));
        var golden = SafeTensors.ReadHeader(Path.Combine(TinyFolder, "weights.safetensors")).Entries
            .ToDictionary(e => e.Name, e => string.Join(",", e.Shape));
        Assert.Equal(91, ours.Count);
        Assert.Equal(golden.OrderBy(kv => kv.Key), ours.OrderBy(kv => kv.Key));
        Assert.Equal(48_544L, model.parameters().Sum(p => p.numel()));
        Assert.DoesNotContain(ours.Keys, k => k.StartsWith("encoder.layer.1.crossattention.", StringComparison.Ordinal));
        Assert.Contains("encoder.layer.2.crossattention.self.key.weight", ours.Keys);
    }

    [Fact]
    public void PaddedTokensNeverReachRealPositionsButTheMaskMatters()
    {
        using var scope = torch.NewDisposeScope();
        using var model = BertModel.FromPretrained(TinyFolder);
        var inputs = SafeTensors.Load(Path.Combine(TinyFolder, "inputs.safetensors"));
        Tensor ids = inputs["input_ids"], mask = inputs["attention_mask"], video = inputs["video_tokens"];
        var (text, fused) = Run(model, ids, mask, video);
        var real = mask.eq(1).unsqueeze(-1).expand_as(text);

        // Other ids at the padded positions: real positions keep their values (padded keys get exactly zero weight).
        var otherIds = torch.where(mask.eq(0), (ids * 7 + 5) % 117 + 3, ids);
        Assert.True(otherIds.ne(ids).any().item<bool>());
        var (text2, fused2) = Run(model, otherIds, mask, video);
        TensorAssert.Close(text.masked_select(real), text2.masked_select(real), 1e-6, "text at real positions");
        TensorAssert.Close(fused.masked_select(real), fused2.masked_select(real), 1e-6, "fused at real positions");

        // Without the mask the padding is attended to: the padded rows (0 and 1) change.
        var (text3, fused3) = Run(model, ids, torch.ones_like(mask), video);
        Assert.True((text.narrow(0, 0, 2) - text3.narrow(0, 0, 2)).abs().max().item<float>() > 1e-2);
        Assert.True((fused.narrow(0, 0, 2) - fused3.narrow(0, 0, 2)).abs().max().item<float>() > 1e-2);
    }

    [Fact]
    public void CrossAttentionIgnoresTheOrderOfVideoTokensAndMaskedOnes()
    {
        using var scope = torch.NewDisposeScope();
        using var model = BertModel.FromPretrained(TinyFolder);
        var inputs = SafeTensors.Load(Path.Combine(TinyFolder, "inputs.safetensors"));
        Tensor ids = inputs["input_ids"], mask = inputs["attention_mask"], video = inputs["video_tokens"];
        var (_, fused) = Run(model, ids, mask, video);

        var perm = torch.tensor(new long[] { 7, 2, 9, 0, 4, 1, 8, 3, 6, 5 });
        var (_, permuted) = Run(model, ids, mask, video.index_select(1, perm));
        TensorAssert.Close(fused, permuted, 1e-5, "fused with permuted video tokens");

        // Extra video tokens hidden by the video mask change nothing.
        var padded = torch.cat(new[] { video, torch.full(3, 4, 32, 100f) }, 1);
        var videoMask = torch.cat(new[] { torch.ones(3, 10, dtype: ScalarType.Int64), torch.zeros(3, 4, dtype: ScalarType.Int64) }, 1);
        var (_, masked) = Run(model, ids, mask, padded, videoMask);
        TensorAssert.Close(fused, masked, 1e-5, "fused with masked extra video tokens");
    }

    [Fact]
    public void MissingExtraAndMisshapenKeysAreNamed()
    {
        using var tmp = TestPaths.NewTempDir();
        var weights = SafeTensors.Load(Path.Combine(TinyFolder, "weights.safetensors"));
        weights.Remove("encoder.layer.3.crossattention.self.value.bias");
        weights["encoder.layer.1.crossattention.self.query.weight"] = torch.zeros(32, 32);
        weights["pooler.dense.weight"] = torch.zeros(32, 16);
        WriteFolder(tmp.Path, "model.safetensors", weights);
        var e = Assert.Throws<VidSeekException>(() => BertModel.FromPretrained(tmp.Path));
        Assert.Contains("missing key(s): encoder.layer.3.crossattention.self.value.bias", e.Message);
        Assert.Contains("unexpected key(s): encoder.layer.1.crossattention.self.query.weight", e.Message);
        Assert.Contains("pooler.dense.weight is [32, 16] in the file but [32, 32] in the model", e.Message);
    }

    [Fact]
    public void HfBuffersAreIgnoredAndModelSafetensorsIsPreferred()
    {
        using var tmp = TestPaths.NewTempDir();
        var weights = SafeTensors.Load(Path.Combine(TinyFolder, "weights.safetensors"));
        weights["embeddings.position_ids"] = torch.arange(24, dtype: ScalarType.Int64).unsqueeze(0);
        weights["embeddings.token_type_ids"] = torch.zeros(1, 24, dtype: ScalarType.Int64);
        WriteFolder(tmp.Path, "model.safetensors", weights);
        // A broken weights.safetensors beside it is not read.
        SafeTensors.Save(Path.Combine(tmp.Path, "weights.safetensors"), new Dictionary<string, Tensor> { ["x"] = torch.zeros(1) });
        using var model = BertModel.FromPretrained(tmp.Path);
    }

    [Fact]
    public void SaveThenLoadGivesIdenticalOutputs()
    {
        using var tmp = TestPaths.NewTempDir();
        using var scope = torch.NewDisposeScope();
        using var model = BertModel.FromPretrained(TinyFolder);
        model.SavePretrained(tmp.Path);
        using var again = BertModel.FromPretrained(tmp.Path);
        Assert.Equal(model.Config, again.Config);
        var inputs = SafeTensors.Load(Path.Combine(TinyFolder, "inputs.safetensors"));
        var (_, a) = Run(model, inputs["input_ids"], inputs["attention_mask"], inputs["video_tokens"]);
        var (_, b) = Run(again, inputs["input_ids"], inputs["attention_mask"], inputs["video_tokens"]);
        TensorAssert.Close(a, b, 0, "fused after save/load");
    }

    [Fact]
    public void ConfigErrorsAreClear()
    {
        using var tmp = TestPaths.NewTempDir();
        Assert.Contains("model folder not found", Assert.Throws<VidSeekException>(() => BertModel.FromPretrained(Path.Combine(tmp.Path, "nope"))).Message);
        Assert.Contains("config.json not found", Assert.Throws<VidSeekException>(() => BertModel.FromPretrained(tmp.Path)).Message);
        File.Copy(Path.Combine(TinyFolder, "config.json"), Path.Combine(tmp.Path, "config.json"));
        Assert.Contains("neither model.safetensors nor weights.safetensors", Assert.Throws<VidSeekException>(() => BertModel.FromPretrained(tmp.Path)).Message);
        string config = Path.Combine(tmp.Path, "config.json");
        File.WriteAllText(config, "{ \"num_hidden_layers\": 4, \"fusion_layer\": 5 }");
        Assert.Contains("fusion_layer 5 must lie in 0..num_hidden_layers (4)", Assert.Throws<VidSeekException>(() => BertConfig.Load(config)).Message);
        File.WriteAllText(config, "{ \"model_type\": \"clip\" }");
        Assert.Contains("expected 'bert'", Assert.Throws<VidSeekException>(() => BertConfig.Load(config)).Message);
        File.WriteAllText(config, "{ \"hidden_size\": 30, \"num_attention_heads\": 4 }");
        Assert.Contains("multiple of num_attention_heads", Assert.Throws<VidSeekException>(() => BertConfig.Load(config)).Message);
        File.WriteAllText(config, "{ not json");
        Assert.Contains("cannot parse", Assert.Throws<VidSeekException>(() => BertConfig.Load(config)).Message);
    }

    /// <summary>A plain HF BERT config (no fusion_layer / encoder_width) is a text-only encoder of hidden width.</summary>
    [Fact]
    public void PlainBertConfigHasNoFusionLayersAndPresetsAreValid()
    {
        using var tmp = TestPaths.NewTempDir();
        string config = Path.Combine(tmp.Path, "config.json");
        File.WriteAllText(config, "{ \"model_type\": \"bert\", \"hidden_size\": 32, \"num_attention_heads\": 4, \"num_hidden_layers\": 2, \"intermediate_size\": 64, \"vocab_size\": 50 }");
        var plain = BertConfig.Load(config);
        Assert.Equal(2, plain.TextLayers);
        Assert.Equal(32, plain.VideoWidth);
        Assert.Equal(1e-12, plain.LayerNormEps);
        using var model = new BertModel(plain);
        Assert.DoesNotContain(model.state_dict().Keys, k => k.Contains("crossattention"));

        foreach (var (name, make) in BertPresets.All) make().Validate(name);
        Assert.Equal((9, 768, 30522), (BertPresets.Base.TextLayers, BertPresets.Base.VideoWidth, BertPresets.Base.VocabSize));
        Assert.Equal((2, 128, 49408, 77), (BertPresets.ShapesSmall.TextLayers, BertPresets.ShapesSmall.VideoWidth, BertPresets.ShapesSmall.VocabSize, BertPresets.ShapesSmall.MaxPositionEmbeddings));
    }

    private static void WriteFolder(string dir, string weightsName, Dictionary<string, Tensor> weights)
    {
        File.Copy(Path.Combine(TinyFolder, "config.json"), Path.Combine(dir, "config.json"), true);
        SafeTensors.Save(Path.Combine(dir, weightsName), weights);
    }
}
