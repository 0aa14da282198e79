using TorchSharp;
using VidSeek.Models;
using VidSeek.Models.Vlt;
using static TorchSharp.torch;

namespace VidSeek.Tests.Vlt;

/// <summary>Small random configs and by-hand reference computations for the VLT tests.</summary>
internal static class VltTestKit
{
    /// <summary>16 px frames, 8 px patches: L = 5 tokens a frame, width 32, 4 heads, 2 layers, 4 temporal positions.</summary>
    public static VideoEncoderConfig TinyVideo => new()
    {
        ImageSize = 16, PatchSize = 8, HiddenSize = 32, NumHiddenLayers = 2, NumAttentionHeads = 4, IntermediateSize = 64, MaxFrames = 4,
    };

    /// <summary>1 text-only layer and 2 fusion layers of width 32.</summary>
    public static BertConfig TinyText => new()
    {
        VocabSize = 100, HiddenSize = 32, NumHiddenLayers = 3, NumAttentionHeads = 4, IntermediateSize = 64,
        MaxPositionEmbeddings = 16, FusionLayer = 1, EncoderWidth = 32,
    };

    public static VideoLanguageConfig TinyModel(FusionKind fusion) => new() { Video = TinyVideo, Text = TinyText, Fusion = fusion, EmbedDim = 16 };

    /// <summary>
    /// Replaces every parameter with N(0, std) (LayerNorm weights 1 + N(0, std)): the initial 0.02-scale weights make
    /// attention nearly uniform, so a test that expects a change would see one too small to tell from rounding.
    /// </summary>
    public static void Randomize(nn.Module module, double std = 0.3)
    {
        using var _ = torch.no_grad();
        foreach (var (name, p) in module.named_parameters())
        {
            nn.init.normal_(p, 0, std);
            bool layerNorm = name.Contains("LayerNorm") || name.Contains("layer_norm") || name.Contains("layernorm") || name.Contains("layrnorm");
            if (layerNorm && name.EndsWith(".weight", StringComparison.Ordinal)) p.add_(1);
        }
    }

    public static Tensor LayerNorm(Dictionary<string, Tensor> sd, string prefix, Tensor x, double eps = 1e-5) =>
        nn.functional.layer_norm(x, new[] { x.shape[^1] }, sd[prefix + ".weight"], sd[prefix + ".bias"], eps);

    public static Tensor Linear(Dictionary<string, Tensor> sd, string prefix, Tensor x) =>
        nn.functional.linear(x, sd[prefix + ".weight"], sd[prefix + ".bias"]);

    /// <summary>Multi-head attention by hand, one sequence: queries <c>[Lq, D]</c>, keys/values <c>[Lk, D]</c> -> <c>[Lq, D]</c>.</summary>
    public static Tensor Attention(Dictionary<string, Tensor> sd, string prefix, Tensor q, Tensor kv, int heads)
    {
        long d = q.shape[1], hd = d / heads;
        Tensor Heads(Tensor t) => t.view(t.shape[0], heads, hd).transpose(0, 1);     // [H, L, hd]
        var qh = Heads(Linear(sd, prefix + ".q_proj", q));
        var kh = Heads(Linear(sd, prefix + ".k_proj", kv));
        var vh = Heads(Linear(sd, prefix + ".v_proj", kv));
        var weights = (qh.matmul(kh.transpose(1, 2)) / Math.Sqrt(hd)).softmax(-1);    // [H, Lq, Lk]
        var merged = weights.matmul(vh).transpose(0, 1).reshape(q.shape[0], d);
        return Linear(sd, prefix + ".out_proj", merged);
    }

    /// <summary>
    /// One T2V layer by hand for one frame: <c>h = f + XAttn(LN_v(f), kv)</c>, <c>h + FFN(LN_mlp(h))</c>, with
    /// <c>kv = [LN_t(text) ; LN_v(f)]</c> or <c>LN_t(text)</c>; <paramref name="text"/> holds only the real tokens.
    /// </summary>
    public static Tensor T2VFrame(Dictionary<string, Tensor> sd, Tensor frame, Tensor text, bool ownFrame, int heads, string act)
    {
        var q = LayerNorm(sd, "layer_norm_video", frame);
        var t = LayerNorm(sd, "layer_norm_text", text);
        var kv = ownFrame ? torch.cat(new[] { t, q }, 0) : t;
        var h = frame + Attention(sd, "cross_attn", q, kv, heads);
        var m = Linear(sd, "mlp.fc2", Activations.Apply(act, Linear(sd, "mlp.fc1", LayerNorm(sd, "layer_norm_mlp", h))));
        return h + m;
    }

    /// <summary>Asserts that two tensors differ somewhere by more than <paramref name="min"/>.</summary>
    public static void Differ(Tensor a, Tensor b, double min, string what)
    {
        double max = (a - b).abs().max().item<float>();
        Assert.True(max > min, $"{what}: max abs difference {max:E3}, expected more than {min:E1}");
    }
}
