using TorchSharp;
using VidSeek.Models.XPool;
using static TorchSharp.torch;

namespace VidSeek.Tests;

/// <summary>
/// X-Pool's pooling vertices (<see cref="TextConditionedPooling.Vertices"/>), what the search's first stage indexes: row f is
/// the module's own output for a text whose attention is one-hot on frame f, row F its output under uniform attention. Checked
/// against the module's forward pass (float64, random weights far from the identity init) with attention forced one-hot or
/// uniform through the query projection, so a transposed weight, a skipped LayerNorm or residual, or a wrong axis fails.
/// </summary>
public class XPoolVerticesTests
{
    private const int Dim = 16, Frames = 5, Videos = 3, Texts = 4;

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(4)]
    public void UniformAttentionGivesTheLastRow(int heads)
    {
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        var pool = XPoolFactoredTests.RandomPooling(Dim, heads, seed: 11 + heads).to(ScalarType.Float64);
        // q_proj = 0: every logit is 0, so every head's softmax is uniform whatever the text.
        foreach (var (name, p) in pool.named_parameters())
            if (name.StartsWith("cross_attn.q_proj", StringComparison.Ordinal)) p.zero_();
        torch.manual_seed(3);
        var frames = XPoolFactoredTests.RandomFrames(Videos, Frames, Dim).to(ScalarType.Float64);
        var text = torch.randn(Texts, Dim, dtype: ScalarType.Float64);
        var output = pool.forward(text, frames);                                                // Pooled [V, T, D]
        Assert.True(torch.allclose(output.Weights, torch.full_like(output.Weights, 1.0 / Frames), 1e-12, 1e-12));
        var vertices = pool.Vertices(frames);
        Assert.Equal(new long[] { Videos, Frames + 1, Dim }, vertices.shape);
        var uniform = vertices.select(1, Frames).unsqueeze(1).expand(Videos, Texts, Dim);
        Assert.True(torch.allclose(output.Pooled, uniform, 1e-10, 1e-10), $"max diff {(output.Pooled - uniform).abs().max().ToDouble()}");
    }

    [Fact]
    public void OneHotAttentionGivesTheFrameVertex()
    {
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        var pool = XPoolFactoredTests.RandomPooling(Dim, heads: 1, seed: 21).to(ScalarType.Float64);
        // A huge query scale: the softmax saturates to one-hot on each text's best frame.
        foreach (var (name, p) in pool.named_parameters())
            if (name.StartsWith("cross_attn.q_proj", StringComparison.Ordinal)) p.mul_(1e6);
        torch.manual_seed(4);
        var frames = XPoolFactoredTests.RandomFrames(Videos, Frames, Dim).to(ScalarType.Float64);
        var text = torch.randn(Texts * 4, Dim, dtype: ScalarType.Float64);
        var output = pool.forward(text, frames);
        var vertices = pool.Vertices(frames);                                                   // [V, F + 1, D]
        var chosen = new HashSet<long>();
        for (int v = 0; v < Videos; v++)
            for (int t = 0; t < Texts * 4; t++)
            {
                var w = output.Weights[v, t, 0];                                                // [F]
                Assert.Equal(1.0, w.max().ToDouble(), 12);
                long f = w.argmax().ToInt64();
                chosen.Add(f);
                Assert.True(torch.allclose(output.Pooled[v, t], vertices[v, f], 1e-9, 1e-9), $"video {v}, text {t}, frame {f}");
            }
        Assert.True(chosen.Count > 1, "the texts should pick several frames");
    }

    [Fact]
    public void RowsFollowTheFrames()
    {
        // Reversing the frames reverses the first F rows and leaves the uniform row: the frame axis is the one pooled.
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        var pool = XPoolFactoredTests.RandomPooling(Dim, heads: 2, seed: 31).to(ScalarType.Float64);
        torch.manual_seed(5);
        var frames = XPoolFactoredTests.RandomFrames(Videos, Frames, Dim).to(ScalarType.Float64);
        var a = pool.Vertices(frames);
        var b = pool.Vertices(frames.flip(1));
        Assert.True(torch.allclose(a.narrow(1, 0, Frames), b.narrow(1, 0, Frames).flip(1), 1e-12, 1e-12));
        Assert.True(torch.allclose(a.select(1, Frames), b.select(1, Frames), 1e-10, 1e-10));
        Assert.False(torch.allclose(a.select(1, 0), a.select(1, 1), 1e-3, 1e-3));              // distinct frames, distinct vertices
    }
}
