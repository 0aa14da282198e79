using TorchSharp;
using VidSeek.Models.XPool;
using static TorchSharp.torch;

namespace VidSeek.Tests;

/// <summary>
/// The single-query X-Pool form of search's second stage (<see cref="XPoolSingleQuery"/>) against X-Pool's own order (the
/// module, then cosine) and the factored all-pairs form, on random weights far from the identity init, for 1, 2 and 4 heads;
/// and checks that fail for a transposed weight, a missing 1/sqrt(d_head) or a softmax over the wrong axis.
/// </summary>
public class XPoolSingleQueryTests
{
    private const int Dim = 32;

    /// <summary>Every parameter drawn at random (Linears ~ N(0, 1/D), biases, LayerNorm gains 1 + 0.3 N and biases 0.2 N).</summary>
    private static TextConditionedPooling RandomPooling(int heads, int seed, double scale = 1)
    {
        torch.manual_seed(seed);
        var pool = new TextConditionedPooling(Dim, heads);
        using var _ = torch.no_grad();
        foreach (var (name, p) in pool.named_parameters())
        {
            bool norm = name.StartsWith("layer_norm", StringComparison.Ordinal);
            if (p.dim() == 2) p.copy_(scale * torch.randn(p.shape) / Math.Sqrt(Dim));
            else if (norm && name.EndsWith(".weight", StringComparison.Ordinal)) p.copy_(1 + 0.3 * torch.randn(p.shape));
            else p.copy_((norm ? 0.2 : 0.1) * torch.randn(p.shape));
        }
        pool.eval();
        return pool;
    }

    private static Tensor RandomFrames(int videos, int frames) => torch.randn(videos, 1, Dim) + 0.5 * torch.randn(videos, frames, Dim);

    /// <summary>X-Pool's own order for texts [T, D] x videos: sims [T, V] and weights [V, T, H, F].</summary>
    private static (Tensor Sims, Tensor Weights) Direct(TextConditionedPooling pool, Tensor text, Tensor frames)
    {
        using var _ = torch.no_grad();
        var output = pool.forward(text, frames);
        return (TextConditionedPooling.Similarity(text, output.Pooled), output.Weights);
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(1, 8)]
    [InlineData(2, 5)]
    [InlineData(2, 12)]
    [InlineData(4, 7)]
    [InlineData(4, 12)]
    public void SingleQueryEqualsDirectAndFactored(int heads, int frames)
    {
        using var pool = RandomPooling(heads, seed: 100 + 10 * heads + frames, scale: 3); // sharp attention: far from uniform
        var texts = torch.randn(3, Dim);
        var videos = RandomFrames(9, frames);
        var (direct, directWeights) = Direct(pool, texts, videos);
        using var factored = new XPoolFactored(pool);
        using var fv = factored.PrepareVideos(videos);
        using var ft = factored.PrepareTexts(texts);
        var (factoredSims, _) = factored.Score(ft, fv, 0, ft.Count, 0, fv.Count);                    // [T, V]
        using var single = new XPoolSingleQuery(pool);
        for (int t = 0; t < 3; t++)
        {
            var (sims, weights) = single.Score(texts[t], videos);                                       // [V], [V, H, F]
            TensorAssert.Close(direct[t], sims, 1e-5, $"sims, text {t}");
            TensorAssert.Close(factoredSims[t], sims, 1e-5, $"sims against the factored form, text {t}");
            TensorAssert.Close(directWeights.select(1, t), weights, 1e-5, $"attention weights, text {t}");
            // The [1, D] shape of an encoded query gives the same.
            TensorAssert.Close(sims, single.Score(texts[t].unsqueeze(0), videos).Sims, 0, "[1, D] text");
        }
        // Not trivially equal: the attention is far from uniform and the scores spread.
        Assert.True(directWeights.max().ToSingle() > 0.5f || frames == 1);
        Assert.True((direct.max() - direct.min()).ToSingle() > 0.1f);
    }

    [Fact]
    public void ScoringACandidateDoesNotDependOnTheOthers()
    {
        // Per-candidate work only: a video's score is the same alone, in a batch, or in another order.
        using var pool = RandomPooling(heads: 2, seed: 7, scale: 3);
        var text = torch.randn(Dim);
        var videos = RandomFrames(6, 5);
        using var single = new XPoolSingleQuery(pool);
        var all = single.Score(text, videos).Sims;
        var perm = torch.tensor(new long[] { 5, 2, 0, 4, 1, 3 });
        TensorAssert.Close(all.index_select(0, perm), single.Score(text, videos.index_select(0, perm)).Sims, 1e-6, "permuted candidates");
        for (int v = 0; v < 6; v++)
            TensorAssert.Close(all.narrow(0, v, 1), single.Score(text, videos.narrow(0, v, 1)).Sims, 1e-6, $"video {v} alone");
    }

    /// <summary>
    /// Each wrong variant of the formula, computed beside the right one from the same weights: a transposed k_proj, v_proj or
    /// out_proj, a missing 1/sqrt(d_head), a softmax over heads instead of frames, heads taken from the wrong channel axis.
    /// Every one must differ from the module by far more than the 1e-5 the right one reaches, so the parity test catches it.
    /// </summary>
    [Fact]
    public void ParityCatchesATransposedWeightAMissingScaleOrAWrongAxis()
    {
        const int heads = 2, frames = 6;
        using var pool = RandomPooling(heads, seed: 41, scale: 3);
        var text = torch.randn(Dim);
        var videos = RandomFrames(8, frames);
        var (direct, _) = Direct(pool, text.unsqueeze(0), videos);
        using var single = new XPoolSingleQuery(pool);
        TensorAssert.Close(direct[0], single.Score(text, videos).Sims, 1e-5, "right");

        var w = pool.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
        foreach (var variant in new[] { "k transposed", "v transposed", "out transposed", "no scale", "softmax over heads", "heads interleaved" })
        {
            var wrong = Variant(w, heads, text, videos, variant);
            double diff = (wrong - direct[0]).abs().max().ToDouble();
            Assert.True(diff > 1e-3, $"{variant}: differs by only {diff}");
        }
    }

    /// <summary>The single-query formula written out with one deliberate mistake.</summary>
    private static Tensor Variant(Dictionary<string, Tensor> w, int heads, Tensor t, Tensor frames, string mistake)
    {
        using var _ = torch.no_grad();
        int hd = Dim / heads;
        Tensor Ln(Tensor x, string n) => nn.functional.layer_norm(x, [Dim], w[n + ".weight"], w[n + ".bias"], 1e-5);
        Tensor W(string n, string tag) => mistake == tag ? w[n].T : w[n];
        var x = Ln(frames, "layer_norm1");
        var q = nn.functional.linear(Ln(t, "layer_norm1"), w["cross_attn.q_proj.weight"], w["cross_attn.q_proj.bias"]);
        var wk = W("cross_attn.k_proj.weight", "k transposed");
        Tensor u = mistake == "heads interleaved"
            ? q.view(hd, heads).T.unsqueeze(1).bmm(wk.view(hd, heads, Dim).transpose(0, 1)).squeeze(1)
            : q.view(heads, hd).unsqueeze(1).bmm(wk.view(heads, hd, Dim)).squeeze(1);                 // [H, D]
        if (mistake != "no scale") u = u / Math.Sqrt(hd);
        var logits = x.matmul(u.T).transpose(1, 2);                                                    // [N, H, F]
        var a = mistake == "softmax over heads" ? logits.softmax(1) : logits.softmax(-1);
        var y = a.bmm(x);                                                                              // [N, H, D]
        var wv = W("cross_attn.v_proj.weight", "v transposed").view(heads, hd, Dim);
        var merged = y.transpose(0, 1).bmm(wv.transpose(1, 2)).transpose(0, 1).reshape(frames.shape[0], Dim) + w["cross_attn.v_proj.bias"];
        var o = nn.functional.linear(merged, W("cross_attn.out_proj.weight", "out transposed"), w["cross_attn.out_proj.bias"]);
        var r = Ln(o, "layer_norm2");
        var z = Ln(r + nn.functional.linear(r, w["linear_proj.weight"], w["linear_proj.bias"]), "layer_norm3");
        return nn.functional.normalize(z, dim: -1).matmul(nn.functional.normalize(t, dim: 0));
    }
}
