using TorchSharp;
using VidSeek.Tensors;
using static TorchSharp.torch;

namespace VidSeek.Models.XPool;

/// <summary>
/// X-Pool's exact similarity when every frame's <c>layer_norm1</c> output lies in a k-dimensional affine subspace,
/// <c>x_f = m + U c_f</c> (<c>U</c> <c>[D, k]</c>), written so that one (text, video) pair costs O(H·F·k + (H·k)^2) numbers
/// and no D-sized work: the form of <see cref="Index.XPoolScan"/>, which scores every segment of a collection from its
/// frames' k coordinates. Derivation (one head shown; heads stack their <c>z_h</c> into one vector):
/// <code>
/// logit_f = x_f . u + const = c_f . (U^T u) + const          u = W_k^T q / sqrt(d_head), as in XPoolSingleQuery
/// a = softmax_f(logit)   z = sum_f a_f c_f                   [k]   (the weights sum to 1, so sum_f a_f x_f = m + U z)
/// o = W_o (W_v (m + U z) + b_v) + b_o = A zh                 zh = [z; 1], A = [W_o W_v U, W_o (W_v m + b_v) + b_o]
/// LN2:  sigma2^2 = zh^T S2 zh,  S2 = (CA)^T (CA) / D + eps e e^T      (C centres over D; e the last unit vector)
///       r = g2 * (CA zh) / sigma2 + b2
/// h = r + W_l r + b_l = B zh / sigma2 + beta                  B = (I + W_l) diag(g2) CA, beta = (I + W_l) b2 + b_l
/// LN3:  w = C h = E y,  y = [zh / sigma2; 1],  E = [CB, C beta];  sigma3^2 = y^T (E^T E / D) y + eps
///       z3 = g3 * w / sigma3 + b3
/// score = cos(z3, t) = ((E^T (g3 * t^)) . y / sigma3 + b3 . t^) / |z3|,   t^ = t / |t|
///       |z3|^2 = y^T (E^T diag(g3^2) E) y / sigma3^2 + 2 (E^T (g3 * b3)) . y / sigma3 + |b3|^2
/// </code>
/// so a pair needs <c>z</c>, three quadratic forms of <c>zh</c> (S2, and the <c>zh</c> blocks of <c>E^T E / D</c> and
/// <c>E^T diag(g3^2) E</c>, which are the same for every text and video) and four inner products. The matrices are derived in
/// float64 from the module's weights. Exact (to float rounding) when the frames lie in the subspace, e.g. k = D; tested against
/// <see cref="XPoolSingleQuery"/> on the rebuilt frames for 1, 2 and 4 heads.
/// </summary>
public sealed class XPoolReduced : IDisposable
{
    /// <summary>Coordinates per frame (k) and attention heads (H); <see cref="Width"/> = H·k + 1 is the length of <c>zh</c>.</summary>
    public int Rank { get; }
    public int Heads { get; }
    public int Width => Heads * Rank + 1;

    /// <summary>The text-independent forms, row-major <c>[Width, Width]</c> (float64 to float32 once).</summary>
    public float[] S2 { get; }
    public float[] SE { get; }
    public float[] SN { get; }
    /// <summary>Linear terms on <c>zh</c> (length <see cref="Width"/>) and constants: of <c>E^T E / D</c>, of <c>E^T diag(g3^2) E</c>, and <c>E^T (g3 * b3)</c>.</summary>
    public float[] LinE { get; }
    public float[] LinN { get; }
    public float[] LinB { get; }
    public float ConstE { get; }
    public float ConstN { get; }
    public float ConstB { get; }
    /// <summary><c>|b3|^2</c>.</summary>
    public float B3Squared { get; }

    private readonly Tensor mean, basis;         // [D], [D, k] float64
    private readonly Tensor qProjW, qProjB, ln1W, ln1B, kProjW;  // float64, for the text side
    private readonly Tensor e, g3, b3;           // E [D, Width + 1], g3 [D], b3 [D] float64
    private readonly int dim, headDim;

    /// <param name="pool">The X-Pool module (its weights are read, not kept).</param>
    /// <param name="mean">The subspace's origin <c>m</c> <c>[D]</c>, in <c>layer_norm1</c>'s output space.</param>
    /// <param name="basis">Its directions <c>U</c> <c>[D, k]</c> (any k columns; they need not be orthonormal).</param>
    public XPoolReduced(TextConditionedPooling pool, Tensor mean, Tensor basis)
    {
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        var w = pool.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().to(ScalarType.Float64).contiguous());
        dim = (int)w["linear_proj.weight"].shape[0];
        Heads = pool.NumHeads;
        headDim = dim / Heads;
        Rank = (int)basis.shape[1];
        if (basis.shape[0] != dim || mean.shape[0] != dim) throw new ArgumentException($"the subspace is [{mean.shape[0]}] + [{basis.shape[0]}, {basis.shape[1]}], the module's width is {dim}");
        this.mean = mean.to(ScalarType.Float64).contiguous().clone().DetachFromDisposeScope();
        this.basis = basis.to(ScalarType.Float64).contiguous().clone().DetachFromDisposeScope();
        Tensor Keep(string key) => w[key].clone().DetachFromDisposeScope();
        (qProjW, qProjB, ln1W, ln1B, kProjW) = (Keep("cross_attn.q_proj.weight"), Keep("cross_attn.q_proj.bias"), Keep("layer_norm1.weight"), Keep("layer_norm1.bias"), Keep("cross_attn.k_proj.weight"));

        // A = [W_o[:, h] W_v,h U for each head h, W_o (W_v m + b_v) + b_o]   [D, H·k + 1]
        var wo = w["cross_attn.out_proj.weight"];
        var wv = w["cross_attn.v_proj.weight"];
        var columns = new List<Tensor>();
        for (int h = 0; h < Heads; h++)
            columns.Add(wo.narrow(1, h * headDim, headDim).matmul(wv.narrow(0, h * headDim, headDim)).matmul(this.basis));
        columns.Add(wo.matmul(wv.matmul(this.mean).Plus(w["cross_attn.v_proj.bias"])).Plus(w["cross_attn.out_proj.bias"]).unsqueeze(1));
        var a = torch.cat(columns, 1);
        var ca = a - a.mean([0], keepdim: true);                                                     // C A
        int width = Width;
        var lastUnit = torch.zeros(width, width, dtype: ScalarType.Float64);
        lastUnit[width - 1, width - 1] = torch.tensor(TextConditionedPooling.LayerNormEps, dtype: ScalarType.Float64);
        var s2 = ca.T.matmul(ca).DividedBy(dim).Plus(lastUnit);
        var residual = torch.eye(dim, dtype: ScalarType.Float64).Plus(w["linear_proj.weight"]);          // I + W_l
        var b = residual.matmul(w["layer_norm2.weight"].unsqueeze(1) * ca);                           // [D, width]
        var beta = residual.matmul(w["layer_norm2.bias"]).Plus(w["linear_proj.bias"]);                // [D]
        var eFull = torch.cat([b, beta.unsqueeze(1)], 1);
        e = (eFull - eFull.mean([0], keepdim: true)).DetachFromDisposeScope();                        // [D, width + 1]: C [B, beta]
        g3 = Keep("layer_norm3.weight");
        b3 = Keep("layer_norm3.bias");
        var ee = e.T.matmul(e).DividedBy(dim);
        var en = e.T.matmul(g3.square().unsqueeze(1) * e);
        var eb = e.T.matmul(g3 * b3);
        S2 = Floats(s2);
        SE = Floats(ee.narrow(0, 0, width).narrow(1, 0, width));
        SN = Floats(en.narrow(0, 0, width).narrow(1, 0, width));
        LinE = Floats(ee.narrow(0, 0, width)[.., width]);
        LinN = Floats(en.narrow(0, 0, width)[.., width]);
        LinB = Floats(eb.narrow(0, 0, width));
        ConstE = (float)(ee[width, width].item<double>() + TextConditionedPooling.LayerNormEps);
        ConstN = (float)en[width, width].item<double>();
        ConstB = (float)eb[width].item<double>();
        B3Squared = (float)b3.square().sum().item<double>();
    }

    private static float[] Floats(Tensor t) => t.contiguous().to(ScalarType.Float32).data<float>().ToArray();

    /// <summary>What a text contributes to every pair.</summary>
    /// <param name="Logit">Per head, the k-vector whose inner product with a frame's coordinates is its attention logit (up to a
    /// constant per head, which the softmax drops): <c>[H, k]</c> row-major.</param>
    /// <param name="Tau">The first <see cref="Width"/> entries of <c>E^T (g3 * t^)</c>.</param>
    /// <param name="TauConst">Its last entry.</param>
    /// <param name="B3Text"><c>b3 . t^</c>.</param>
    public sealed record Query(float[] Logit, float[] Tau, float TauConst, float B3Text);

    /// <summary>The text side of the score for a raw text embedding <c>[D]</c> or <c>[1, D]</c>.</summary>
    public Query Prepare(Tensor text)
    {
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        var t = text.reshape(dim).to(ScalarType.Float64);
        var normed = nn.functional.layer_norm(t, [dim], ln1W, ln1B, TextConditionedPooling.LayerNormEps);
        var q = nn.functional.linear(normed, qProjW, qProjB).view(Heads, headDim);                    // [H, hd]
        var u = q.unsqueeze(1).bmm(kProjW.view(Heads, headDim, dim)).squeeze(1).DividedBy(Math.Sqrt(headDim)); // [H, D]
        var logit = u.matmul(basis);                                                                  // [H, k]
        var unit = t / t.norm();
        var tau = e.T.matmul(g3 * unit);                                                              // [width + 1]
        int width = Width;
        return new Query(Floats(logit), Floats(tau.narrow(0, 0, width)), (float)tau[width].item<double>(), (float)b3.dot(unit).item<double>());
    }

    /// <summary>
    /// The reference form (torch, float64): the similarities of the text with N videos given by their frames' coordinates
    /// <c>[N, F, k]</c>. What <see cref="Index.XPoolScan"/>'s kernel computes in float32, one vector lane per video.
    /// </summary>
    public Tensor Score(Query query, Tensor coords)
    {
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        var c = coords.to(ScalarType.Float64);                                                       // [N, F, k]
        long n = c.shape[0];
        var logit = torch.tensor(query.Logit, [Heads, Rank]).to(ScalarType.Float64);
        var attention = c.matmul(logit.T).transpose(1, 2).softmax(-1);                                // [N, H, F]
        var z = attention.matmul(c).reshape(n, Heads * Rank);                                         // [N, H·k]
        var zh = torch.cat([z, torch.ones(n, 1, dtype: ScalarType.Float64)], 1);                     // [N, width]
        Tensor Form(float[] m) => (zh.matmul(torch.tensor(m, [Width, Width]).to(ScalarType.Float64)) * zh).sum(1);
        Tensor Dot(float[] v) => zh.matmul(torch.tensor(v).to(ScalarType.Float64));
        var sigma2 = Form(S2).sqrt();
        Tensor Number(float x) => torch.tensor((double)x, dtype: ScalarType.Float64);
        var sigma3 = (Form(SE) / sigma2.square()).Plus(Dot(LinE).Times(2.0) / sigma2).Plus(Number(ConstE)).sqrt();
        var gw = (Dot(query.Tau) / sigma2).Plus(Number(query.TauConst));                                 // <g3 * t^, w>
        var numerator = (gw / sigma3).Plus(Number(query.B3Text));
        var gb = (Dot(LinB) / sigma2).Plus(Number(ConstB));                                               // <g3 * b3, w>
        var gg = (Form(SN) / sigma2.square()).Plus(Dot(LinN).Times(2.0) / sigma2).Plus(Number(ConstN)); // |g3 * w|^2
        var norm = (gg / sigma3.square()).Plus(gb.Times(2.0) / sigma3).Plus(Number(B3Squared)).sqrt();
        return (numerator / norm).to(ScalarType.Float32).MoveToOuterDisposeScope();
    }

    public void Dispose()
    {
        foreach (var t in new[] { mean, basis, qProjW, qProjB, ln1W, ln1B, kProjW, e, g3, b3 }) t.Dispose();
    }
}
