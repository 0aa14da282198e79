using TorchSharp;
using VidSeek.Models.XPool;
using static TorchSharp.torch;

namespace VidSeek.Tests;

/// <summary>
/// <see cref="XPoolGramForms"/> (the per-video Gram triangles and linear forms of the factored X-Pool similarity) against
/// the same quantities written with libtorch: batched Gram products, the lower triangle with doubled off-diagonal entries,
/// matrix-vector products. Every input is distinct and asymmetric (different videos, rows, weights and linear vectors),
/// so a transposed or swapped operand, a missing weight, a wrong axis or a misplaced triangle entry changes the result.
/// </summary>
public class XPoolGramFormsTests
{
    private static Tensor Reference(Tensor a, Tensor b, int n, Tensor w, Tensor linear)
    {
        long v = a.shape[0] / n, d = a.shape[1];
        var av = a.view(v, n, d);
        var bv = b.view(v, n, d);
        var grams = new[] { av.bmm(av.transpose(1, 2)), bv.bmm(bv.transpose(1, 2)), (bv * w).bmm(bv.transpose(1, 2)) };
        var tril = torch.tril_indices(n, n);
        var rows = tril[0]; var cols = tril[1];
        var doubled = torch.where(rows == cols, 1.0, 2.0).to(a.dtype);
        var packed = grams.Select(g => g.reshape(v, n * n).index_select(1, rows * n + cols) * doubled);      // [V, m] each
        var lin = bv.matmul(linear.T).transpose(1, 2).reshape(v, 3 * n);                        // [V, 3n]: B·l_0, B·l_1, B·l_2
        return torch.cat([.. packed, lin], 1);
    }

    [Theory]
    [InlineData(1, 3, ScalarType.Float64)]
    [InlineData(5, 12, ScalarType.Float64)]
    [InlineData(7, 4, ScalarType.Float32)]
    public void FormsEqualTheTorchReference(int n, int videos, ScalarType dtype)
    {
        using var scope = torch.NewDisposeScope();
        torch.manual_seed(5 + n);
        const int D = 37;                                                                       // not a multiple of the vector width: the tails run
        var a = torch.randn(videos * n, D, dtype: dtype) + 0.3;
        var b = torch.randn(videos * n, D, dtype: dtype) - 0.2;
        var w = torch.rand(D, dtype: dtype) * 2;
        var linear = torch.randn(3, D, dtype: dtype);
        var scale = torch.randn(D, dtype: dtype);
        var expected = Reference(a, b, n, w, linear);
        var bBefore = b.clone();
        var got = XPoolGramForms.Compute(a, b, n, w, linear, scaleB: scale);
        double tol = dtype == ScalarType.Float64 ? 1e-12 : 1e-4;
        Assert.Equal(expected.shape, got.shape);
        Assert.True(torch.allclose(got, expected, tol, tol), $"max diff {(got - expected).abs().max().ToDouble()}");
        // B is scaled in place, after its forms were taken from the unscaled rows.
        Assert.True(torch.allclose(b, bBefore * scale, tol, tol));
        // Without a scale B is left alone.
        var b2 = bBefore.clone();
        XPoolGramForms.Compute(a, b2, n, w, linear);
        Assert.True(torch.allclose(b2, bBefore, 0, 0));
        // A and B side by side in one [V·n, 2D] tensor (one GEMM's output): the same forms, the scaled B written elsewhere.
        var ab = torch.cat([a, bBefore], 1);
        var into = torch.zeros_like(bBefore);
        var sideBySide = XPoolGramForms.ComputeSideBySide(ab, n, w, linear, scale, into);
        Assert.True(torch.allclose(sideBySide, expected, tol, tol), $"side by side: max diff {(sideBySide - expected).abs().max().ToDouble()}");
        Assert.True(torch.allclose(into, bBefore * scale, tol, tol));
        Assert.True(torch.allclose(ab, torch.cat([a, bBefore], 1), 0, 0), "the A | B input is left alone");
    }

    [Fact]
    public void RejectsMismatchedShapes()
    {
        using var scope = torch.NewDisposeScope();
        var a = torch.randn(6, 8);
        Assert.Throws<ArgumentException>(() => XPoolGramForms.Compute(a, torch.randn(6, 9), 3, torch.ones(8), torch.ones(3, 8)));
        Assert.Throws<ArgumentException>(() => XPoolGramForms.Compute(a, torch.randn(6, 8), 4, torch.ones(8), torch.ones(3, 8)));
        Assert.Throws<ArgumentException>(() => XPoolGramForms.Compute(a, torch.randn(6, 8), 3, torch.ones(7), torch.ones(3, 8)));
    }
}
