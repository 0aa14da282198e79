using TorchSharp;
using VidSeek.Tensors;
using static TorchSharp.torch;

namespace VidSeek.Models.XPool;

/// <summary>Which of two equal computations scores X-Pool pairs.</summary>
public enum XPoolSimilarity
{
    /// <summary>X-Pool's own order: per (text, video) pair, attention, <c>out_proj</c>, LN2, <c>linear_proj</c>, LN3, cosine (about 2·D² multiply-adds a pair).</summary>
    Direct,
    /// <summary><see cref="XPoolFactored"/>: the same numbers from per-frame precomputation, two GEMMs and per-video Gram matrices.</summary>
    Factored,
}

/// <summary>
/// X-Pool's exact similarity (the module of <see cref="TextConditionedPooling"/> in eval mode, then cosine with the raw
/// text) rewritten so that nothing D x D is applied per (text, video) pair. Dropout is the identity at inference, so
/// everything after the softmax is linear in the attention weights <c>a[h,f]</c> except the scalar statistics of the
/// two LayerNorms:
/// <code>
/// o   = out_proj(concat_h sum_f a[h,f] v[h,f]) = sum_{h,f} a[h,f] P[h,f]       P[h,f] = W_o[:, head h] v[h,f] + b_o / H
///                                                                               (b_o split over heads: sum_f a[h,f] = 1)
/// LN2: C o = sum a A[h,f]   with A = C P (C: subtract the mean over channels), sigma^2 = |C o|^2 / D + eps
/// s   = r + W_l r + b_l, r = g2 * C o / sigma + b2  =>  C s = (sum a B[h,f]) / sigma + cc
///       B = C (I + W_l) diag(g2) A,   cc = C ((I + W_l) b2 + b_l)
/// LN3: sigma3^2 = |C s|^2 / D + eps,  z = g3 * C s / sigma3 + b3
/// sim = &lt;t, z&gt; / (|t| |z|),  &lt;t, z&gt; = (&lt;g3 t, sum a B&gt; / sigma + &lt;g3 t, cc&gt;) / sigma3 + &lt;t, b3&gt;
/// |z|^2 = |g3 C s|^2 / sigma3^2 + 2 &lt;g3 C s, b3&gt; / sigma3 + |b3|^2
/// </code>
/// So per video (independent of the text) we keep the keys <c>k[h,f]</c>, the vectors <c>g3 B[h,f]</c> and three
/// Gram matrices of the n = H·F vectors (<c>A A^T</c>, <c>B B^T</c>, <c>(g3 B)(g3 B)^T</c>, each n x n) with their
/// products with <c>cc</c>, <c>g3 cc</c> and <c>b3</c> (<see cref="XPoolGramForms"/>); per pair the squared norms are
/// quadratic forms <c>a^T G a</c> plus linear terms. For a block of texts x videos that is two GEMMs, the keys against
/// <c>q</c> (the attention logits) and <c>g3 B</c> against the raw text t (<c>&lt;g3 t, B&gt; = &lt;t, g3 B&gt;</c>), both
/// <c>[V·n, D] x [D, T]</c> and straight from row ranges of the stored matrices, then one fused pass
/// (<see cref="XPoolPairKernel"/>): per pair the softmax, the weighted sum, the three quadratic forms over the packed
/// Gram triangles and the scalar algebra below, in registers, 16 texts (float32) per AVX-512 instruction.
/// With one head, <c>k_proj</c> folds into <c>q_proj</c> (one D x D weight per text), and <c>out_proj</c>, <c>v_proj</c>,
/// both centrings and <c>(I + W_l) diag(g2)</c> into two D x D weights that give A and B of a frame, one GEMM over all
/// frames with both weights (A and B side by side in its output).
///
/// Numerics (float32): every squared norm is a Gram form of vectors that are already centred over the channels
/// (<c>C</c> is applied to the vectors before the products), never <c>E[x²] - E[x]²</c>, which cancels when a vector's mean
/// is large against its spread (biases, LayerNorm offsets). What is left cancels only where the true quantity is
/// small against the frames it averages, which is the conditioning of the problem itself; tests compare with the
/// float64 direct module and the golden folders at 1e-5.
/// </summary>
public sealed class XPoolFactored : IDisposable
{
    /// <summary>The module's LayerNorm epsilon (PyTorch's default, which X-Pool keeps).</summary>
    public const double Eps = TextConditionedPooling.LayerNormEps;

    private readonly Dictionary<string, Tensor> w;
    private readonly Tensor cc, g3cc;
    private readonly Tensor? abWeight, abBias;                // one head: [2D, D] and [2D], frames (after LN1) to A and B side by side
    private readonly Tensor? qkWeight, qkBias;                // one head: W_k^T W_q / sqrt(D) and W_k^T b_q / sqrt(D), LN1'd text to W_k^T q
    private readonly Tensor? nT;                              // several heads: N^T, N = C (I + W_l) diag(g2), so B = A N^T
    private readonly Tensor g3, g3Sq, linear;                 // g3, g3², and [cc; g3² cc; g3 b3] (B against them gives the linear forms)
    private readonly XPoolPairKernel.Constants constants;
    private readonly int heads, dim, headDim;

    public ScalarType Dtype { get; }
    public int Heads => heads;

    /// <summary>Reads the module's weights (by their checkpoint keys) in <paramref name="dtype"/> and folds the text- and video-independent constants.</summary>
    public XPoolFactored(TextConditionedPooling pool, ScalarType dtype = ScalarType.Float32)
    {
        Dtype = dtype;
        heads = pool.NumHeads;
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        w = pool.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().to(dtype).contiguous().MoveToOuterDisposeScope());
        dim = (int)w["linear_proj.weight"].shape[0];
        headDim = dim / heads;
        // c = (I + W_l) b2 + b_l, centred: the part of C s that does not depend on the frames.
        var b2 = w["layer_norm2.bias"];
        var c = b2.Plus(w["linear_proj.weight"].matmul(b2)).Plus(w["linear_proj.bias"]);
        cc = Centre(c).MoveToOuterDisposeScope();
        g3cc = (cc * w["layer_norm3.weight"]).MoveToOuterDisposeScope();
        // N = C (I + W_l) diag(g2): B = N A for each of the vectors A = C P (C centres a vector over the channels,
        // which for a matrix acting on column vectors means centring each column).
        var n = CentreColumns(torch.eye(dim, dtype: dtype).Plus(w["linear_proj.weight"]) * w["layer_norm2.weight"]);
        if (heads == 1)
        {
            // A = C (W_o W_v x + W_o b_v + b_o) and B = N A: both linear in the LN1'd frame x.
            var wo = w["cross_attn.out_proj.weight"];
            var wA = CentreColumns(wo.matmul(w["cross_attn.v_proj.weight"]));
            var bA = Centre(wo.matmul(w["cross_attn.v_proj.bias"]).Plus(w["cross_attn.out_proj.bias"]));
            abWeight = torch.cat([wA, n.matmul(wA)], 0).contiguous().MoveToOuterDisposeScope();
            abBias = torch.cat([bA, n.matmul(bA)], 0).contiguous().MoveToOuterDisposeScope();
            // The logits q·(W_k x + b_k) with q = (W_q LN1(t) + b_q) / sqrt(D): (W_k^T q)·x, and q·b_k is the same for every
            // frame of a video, so the softmax drops it. W_k^T W_q folds into one weight: one D x D product per text.
            var wk = w["cross_attn.k_proj.weight"];
            qkWeight = wk.T.matmul(w["cross_attn.q_proj.weight"]).DividedBy(Math.Sqrt(headDim)).contiguous().MoveToOuterDisposeScope();
            qkBias = wk.T.matmul(w["cross_attn.q_proj.bias"]).DividedBy(Math.Sqrt(headDim)).contiguous().MoveToOuterDisposeScope();
        }
        else nT = n.T.contiguous().MoveToOuterDisposeScope();
        var b3 = w["layer_norm3.bias"];
        g3 = w["layer_norm3.weight"];
        g3Sq = (g3 * g3).MoveToOuterDisposeScope();
        // (g3 B)·(g3 cc) = B·(g3² cc) and (g3 B)·b3 = B·(g3 b3): all three linear forms are products with B.
        linear = torch.stack([cc, g3 * g3cc, g3 * b3], 0).contiguous().MoveToOuterDisposeScope();
        constants = new XPoolPairKernel.Constants(dim, Eps, cc.dot(cc).ToDouble(), g3cc.dot(g3cc).ToDouble(),
            g3cc.dot(b3).ToDouble(), b3.dot(b3).ToDouble());
    }

    private static Tensor CentreColumns(Tensor m) => m - m.mean(new long[] { 0 }, keepdim: true);

    /// <summary>The floor of a norm before dividing by it (rooted: see Tensors/Scalars.cs).</summary>
    private static readonly Scalar NormFloor = 1e-12.ToScalar();

    private static Tensor Centre(Tensor x) => x - x.mean(new long[] { -1 }, keepdim: true);

    private Tensor LayerNorm1(Tensor x) =>
        nn.functional.layer_norm(x, [dim], w["layer_norm1.weight"], w["layer_norm1.bias"], Eps);

    private Tensor Linear(Tensor x, string name) => nn.functional.linear(x, w[name + ".weight"], w[name + ".bias"]);

    /// <summary>Per-video data, independent of the texts. n = H·F. Stored in chunks of <see cref="ChunkVideos"/> videos
    /// (chunk c holds videos c·ChunkVideos ..), so that each stored tensor stays below glibc's mmap threshold (see
    /// <see cref="VideoStep"/>): one tensor for all videos (49 MiB at 1k-A size) was mapped and page-faulted in afresh on
    /// every preparation, which cost more than the copies that fill it (docs/PERFORMANCE.md).</summary>
    /// <param name="Keys">Per chunk <c>[H, cv·F, d_head]</c>: the keys of every frame, per head (rows of the chunk's video
    /// v are v·F .. v·F+F-1); with one head <c>[2, cv·F, D]</c>: the LN1'd frames themselves (k_proj is folded into the
    /// queries), then <see cref="G3B"/>, so that one batched GEMM per block gives both products.</param>
    /// <param name="G3B">Per chunk <c>[cv·n, D]</c>: the vectors g3 ∘ B[h,f] (row v·n + h·F + f of the chunk's video v),
    /// which meet the raw texts; with one head a view of <c>Keys[c][1]</c>.</param>
    /// <param name="Forms"><c>[V, 3m + 3n]</c>, m = n(n+1)/2 (all videos): the lower triangles (row by row, off-diagonal
    /// entries doubled) of A A^T, B B^T and (g3 B)(g3 B)^T, then B·cc, (g3 B)·(g3 cc), (g3 B)·b3: what the pair kernel
    /// reads per video.</param>
    public sealed record Videos(IReadOnlyList<Tensor> Keys, IReadOnlyList<Tensor> G3B, Tensor Forms, int Count, int Frames, int ChunkVideos) : IDisposable
    {
        public void Dispose()
        {
            foreach (var k in Keys) k.Dispose();
            foreach (var g in G3B) g.Dispose();
            Forms.Dispose();
        }

        /// <summary>Takes the tensors out of the caller's dispose scope, for data kept beyond it.</summary>
        public Videos DetachFromDisposeScope()
        {
            foreach (var k in Keys) k.DetachFromDisposeScope();
            foreach (var g in G3B) g.DetachFromDisposeScope();
            Forms.DetachFromDisposeScope();
            return this;
        }

        /// <summary>Videos <c>[v0, v0+vn)</c> cut at chunk boundaries: (first video, count) of each piece.</summary>
        public IEnumerable<(long V0, long Vn)> Pieces(long v0, long vn)
        {
            for (long s = v0, end = v0 + vn; s < end;)
            {
                long e = Math.Min(end, (s / ChunkVideos + 1) * ChunkVideos);
                yield return (s, e - s);
                s = e;
            }
        }
    }

    /// <summary>Per-text data. <c>Q</c> <c>[H, T, d_head]</c>: the queries, already scaled by 1/sqrt(d_head); with one head
    /// <c>[2, T, D]</c>: the query times W_k (so it meets the LN1'd frames), then the raw texts. <c>T</c> <c>[T, D]</c>:
    /// the raw texts, which meet <c>g3 B</c> (with one head a view of <c>Q[1]</c>). <c>Scalars</c> <c>[3, T]</c>: |t|,
    /// &lt;t, b3&gt;, &lt;g3 t, cc&gt;.</summary>
    public sealed record Texts(Tensor Q, Tensor T, Tensor Scalars, int Count) : IDisposable
    {
        public void Dispose() { Q.Dispose(); T.Dispose(); Scalars.Dispose(); }
    }

    /// <summary>Videos per step of <see cref="PrepareVideos"/> and texts per step of <see cref="PrepareTexts"/>: the
    /// temporaries of a step (LN1'd frames, A and B: 6 MiB each at 256 videos, F = 12, D = 512; LN1'd texts: 4 MiB) stay
    /// below glibc's mmap threshold, so they are reused from the heap instead of being mapped and faulted in afresh each
    /// time (at 1k-A size the unstepped temporaries were about 100 MiB of fresh pages per preparation), and A and B are
    /// still in cache when the forms pass reads them; the GEMMs stay large (3,072 x 512 x 512). Also keeps every tensor
    /// the hand-written kernels see under 2^31 elements. The stored per-video data is kept in chunks of the same size
    /// (<see cref="Videos"/>: <c>[2, 3072, 512]</c> floats, 12 MiB, per chunk at F = 12, D = 512) for the same reason: as one
    /// tensor it was mapped afresh on every preparation, and on this machine first-touching fresh pages cost about ten
    /// times the copy that fills them (busy machine: 250-380 ms against 2-30 ms for 24 MiB).</summary>
    public const int VideoStep = 256, TextStep = 2048;

    /// <param name="frames">Frame embeddings <c>[V, F, D]</c> (any float dtype; computed in <see cref="Dtype"/>).</param>
    /// <param name="chunkVideos">Videos per stored chunk and per step (tests use small ones to cross chunk edges).</param>
    public Videos PrepareVideos(Tensor frames, int chunkVideos = VideoStep)
    {
        if (chunkVideos < 1) throw new ArgumentOutOfRangeException(nameof(chunkVideos), "chunks hold at least one video");
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        long v = frames.shape[0], f = frames.shape[1];
        int n = (int)(heads * f);
        // One head: k_proj moves to the text side (PrepareTexts), and out_proj, both centrings and (I + W_l) diag(g2) fold
        // into two [D, D] weights, so a frame costs one GEMM row of both here (A | B side by side); the LN1'd frames and
        // g3 B are written side by side into one [2, cv·F, D] tensor per chunk, the left operand of the block's one batched GEMM.
        var keys = new List<Tensor>();
        var g3bs = new List<Tensor>();
        var forms = new List<Tensor>();
        for (long v0 = 0; v0 < v; v0 += chunkVideos)
        {
            using var step = torch.NewDisposeScope();
            long vn = Math.Min(chunkVideos, v - v0);
            var chunk = (heads == 1 ? torch.empty(2, vn * f, dim, dtype: Dtype) : torch.empty(heads, vn * f, headDim, dtype: Dtype)).MoveToOuterDisposeScope();
            var g3b = (heads == 1 ? chunk[1] : torch.empty(vn * n, dim, dtype: Dtype)).MoveToOuterDisposeScope();
            keys.Add(chunk);
            g3bs.Add(g3b);
            var x = LayerNorm1(frames.narrow(0, v0, vn).to(Dtype)).reshape(vn * f, dim);         // [vn·F, D]
            if (heads == 1)
            {
                chunk[0].copy_(x);
                // A and B of every frame from one GEMM with both weights, [vn·F, 2D] (A | B side by side): one
                // 3,072 x 512 x 1,024 product instead of two of half the width; the forms pass reads the halves in place.
                var ab = nn.functional.linear(x, abWeight!, abBias!);                           // [vn·F, 2D]
                forms.Add(XPoolGramForms.ComputeSideBySide(ab, n, g3Sq, linear, scaleB: g3, into: g3b).MoveToOuterDisposeScope()); // [vn, 3m + 3n]
            }
            else
            {
                chunk.copy_(Linear(x, "cross_attn.k_proj").view(vn * f, heads, headDim).permute(1, 0, 2)); // [H, vn·F, hd]
                var values = Linear(x, "cross_attn.v_proj").view(vn, f, heads, headDim);       // [vn, F, H, hd]
                // P[v,h,f] = W_o[:, head h] v[v,f,h] + b_o / H: out_proj applied head by head (columns h·hd .. h·hd+hd-1).
                var wo = w["cross_attn.out_proj.weight"].view(dim, heads, headDim);            // [D, H, hd]
                var p = torch.einsum("vfhe,dhe->vhfd", values, wo).Plus(w["cross_attn.out_proj.bias"].DividedBy(heads)); // [vn, H, F, D]
                var a = Centre(p).reshape(vn * n, dim).contiguous();                            // [vn·n, D]
                var b = a.matmul(nT);                                                           // C (I + W_l) diag(g2) A
                // The Gram triangles and linear forms in one pass per video, which also writes g3 B where the texts meet it.
                forms.Add(XPoolGramForms.Compute(a, b, n, g3Sq, linear, scaleB: g3, into: g3b)
                    .MoveToOuterDisposeScope());                                                // [vn, 3m + 3n]
            }
        }
        // No videos: no chunk was made, and torch.cat refuses an empty list.
        var allForms = forms.Count switch { 0 => torch.empty(0, 3 * (n * (n + 1) / 2) + 3 * n, dtype: Dtype), 1 => forms[0], _ => torch.cat(forms, 0) };
        foreach (var t in keys.Concat(g3bs)) t.MoveToOuterDisposeScope();
        return new Videos(keys, g3bs, allForms.MoveToOuterDisposeScope(), (int)v, (int)f, chunkVideos);
    }

    /// <param name="text">Raw text embeddings <c>[T, D]</c> (not layer-normed: the cosine uses them as they are).</param>
    public Texts PrepareTexts(Tensor text)
    {
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        var t = text.to(Dtype);
        long n = t.shape[0];
        Tensor q, raw;
        if (heads == 1)
        {
            // W_k^T q = (W_k^T W_q / sqrt(D)) LN1(t) + W_k^T b_q / sqrt(D), written straight into Q[0] (bias, then the
            // GEMM accumulating onto it), and the raw texts into Q[1]: the right operand of the block's batched GEMM.
            q = HugePages.Empty([2, n, dim], Dtype);                                              // 114 MiB at MSVD size: see HugePages
            for (long t0 = 0; t0 < n; t0 += TextStep)
            {
                using var step = torch.NewDisposeScope();
                long tn = Math.Min(TextStep, n - t0);
                q[0].narrow(0, t0, tn).copy_(qkBias!.expand(tn, dim)).addmm_(LayerNorm1(t.narrow(0, t0, tn)), qkWeight!.T);
            }
            raw = q[1].copy_(t);
        }
        else
        {
            q = Linear(LayerNorm1(t), "cross_attn.q_proj").DivideInPlace(Math.Sqrt(headDim)).view(n, heads, headDim).permute(1, 0, 2).contiguous(); // [H, T, hd]
            raw = t.contiguous().alias();
        }
        // F.normalize divides by max(|t|, 1e-12). <g3 t, cc> = <t, g3 cc>.
        var norm = torch.linalg.vector_norm(t, dims: new long[] { -1 }).clamp_min(NormFloor).unsqueeze(0);
        var dots = torch.stack([w["layer_norm3.bias"], g3cc], 0).matmul(raw.T);                // [2, T]
        var scalars = torch.cat([norm, dots], 0).contiguous();                                 // [3, T]
        return new Texts(q.MoveToOuterDisposeScope(), raw.MoveToOuterDisposeScope(), scalars.MoveToOuterDisposeScope(), (int)n);
    }

    /// <summary>
    /// Similarities of texts <c>[t0, t0+tn)</c> against videos <c>[v0, v0+vn)</c>.
    /// Returns sims <c>[tn, vn]</c> and the attention weights <c>[tn, vn, H, F]</c> (the softmax over frames).
    /// </summary>
    public (Tensor Sims, Tensor Weights) Score(Texts texts, Videos videos, long t0, long tn, long v0, long vn)
    {
        using var scope = torch.NewDisposeScope();
        var sims = torch.empty(tn, vn, dtype: Dtype);
        var weights = torch.empty(vn, heads, videos.Frames, tn, dtype: Dtype);                 // the kernel's [vn, n, tn]
        if (Dtype == ScalarType.Float64)
            Run(texts, videos, t0, tn, v0, vn, XPoolPairKernel.Of<double>(sims), 0, vn, XPoolPairKernel.Of<double>(weights));
        else
            Run(texts, videos, t0, tn, v0, vn, XPoolPairKernel.Of<float>(sims), 0, vn, XPoolPairKernel.Of<float>(weights));
        return (sims.MoveToOuterDisposeScope(), weights.permute(3, 0, 1, 2).MoveToOuterDisposeScope());
    }

    /// <summary>
    /// Similarities of texts <c>[t0, t0+tn)</c> against videos <c>[v0, v0+vn)</c> written into a row-major
    /// <c>[T, V]</c> matrix: the pair (t, v) at <c>t · <paramref name="rowStride"/> + v</c> (float32 only; no attention weights).
    /// </summary>
    public void ScoreInto(Texts texts, Videos videos, long t0, long tn, long v0, long vn, float[] result, long rowStride)
    {
        if (Dtype != ScalarType.Float32) throw new InvalidOperationException("ScoreInto writes float32; this XPoolFactored computes in " + Dtype);
        Run(texts, videos, t0, tn, v0, vn, XPoolPairKernel.Of(result), t0 * rowStride + v0, rowStride, null);
    }

    /// <summary>
    /// The block's GEMMs, laid out text-minor for the pair kernel, straight from row ranges of the stored matrices:
    /// returns the tensor holding the logits <c>[H, vn·F, tn]</c> (the keys against the queries, per head) at element 0
    /// and the tensor holding <c>&lt;g3 t, B&gt;</c> <c>[vn·n, tn]</c> (g3 B against the raw texts) at the returned offset.
    /// One head: one batched GEMM <c>[2, vn·F, D] x [2, D, tn]</c> gives both, in one tensor (on the busy machine this
    /// ran several times faster than two separate GEMMs of half the size; plausibly a batch of two gives each thread its own GEMM).
    /// The videos must lie in one stored chunk (<see cref="Videos.Pieces"/> cuts a range at the chunk edges).
    /// </summary>
    public (Tensor Logits, Tensor TextB, long TextBOffset) BlockGemms(Texts texts, Videos videos, long t0, long tn, long v0, long vn)
    {
        long f = videos.Frames, n = heads * f, c = v0 / videos.ChunkVideos, local = v0 - c * videos.ChunkVideos;
        if (vn < 1 || local + vn > videos.ChunkVideos)
            throw new ArgumentOutOfRangeException(nameof(vn), $"videos {v0} .. {v0 + vn - 1} are not in one chunk of {videos.ChunkVideos}");
        var k = videos.Keys[(int)c].narrow(1, local * f, vn * f);                               // [H, vn·F, hd] (one head: [2, vn·F, D])
        var logits = k.bmm(texts.Q.narrow(1, t0, tn).transpose(1, 2)).contiguous();            // [H, vn·F, tn] (one head: [2, vn·F, tn])
        if (heads == 1) return (logits, logits, vn * f * tn);
        var textB = videos.G3B[(int)c].narrow(0, local * n, vn * n).mm(texts.T.narrow(0, t0, tn).T).contiguous(); // [vn·n, tn]
        return (logits, textB, 0);
    }

    // Per piece of the block within one stored chunk: the GEMMs, then the fused per-pair kernel (XPoolPairKernel), which
    // writes the sims (and the weights when asked) where the caller wants them.
    private void Run<T>(Texts texts, Videos videos, long t0, long tn, long v0, long vn,
        XPoolPairKernel.SpanOf<T> sims, long simsOffset, long simsStrideT, XPoolPairKernel.SpanOf<T>? weights)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        using var _ = torch.no_grad();
        foreach (var (p0, pn) in videos.Pieces(v0, vn))
        {
            using var scope = torch.NewDisposeScope();
            var (logits, textB, textBOffset) = BlockGemms(texts, videos, t0, tn, p0, pn);
            // The piece's weights [pn, n, tn] start (p0 - v0) videos into the block's [vn, n, tn].
            long weightsOffset = (p0 - v0) * heads * videos.Frames * tn;
            var pieceWeights = weights is null ? null : new XPoolPairKernel.SpanOf<T>(() => weights().Slice((int)weightsOffset));
            var block = new XPoolPairKernel.Block<T>(heads, videos.Frames, (int)tn, (int)pn, t0, p0, texts.Count,
                XPoolPairKernel.Of<T>(logits), XPoolPairKernel.Of<T>(textB), textBOffset, XPoolPairKernel.Of<T>(videos.Forms),
                XPoolPairKernel.Of<T>(texts.Scalars), sims, simsOffset + (p0 - v0), simsStrideT, pieceWeights);
            XPoolPairKernel.Run(block, constants, torch.get_num_threads());
        }
    }

    /// <summary>
    /// Multiply-adds x 2 of the factored all-pairs computation for <paramref name="texts"/> x <paramref name="videos"/>:
    /// per video the keys, values and out_proj of every frame (3·F·D² MACs; one head: A and B of every frame, 2·F·D²),
    /// (I + W_l) of every B (H·F·D²; one head: folded into B's weight), the three Gram triangles (3·m·D, m = n(n+1)/2) and
    /// the three linear forms (3·n·D); per text q (D²; one head W_k^T q, folded into one D x D weight) and the two scalar
    /// products (2·D); per pair the two GEMMs (F·D + n·D) and the Gram forms as the kernel computes them (the m
    /// products a_i a_j, three packed triangles, three linear forms: 4m + 3n). Elementwise work (softmax, LayerNorm
    /// statistics, norms) is not counted.
    /// </summary>
    public static double Flops(long texts, long videos, int frames, int dim, int heads)
    {
        double n = (double)heads * frames, d = dim, m = n * (n + 1) / 2;
        double perVideo = (heads == 1 ? 2 : 3 + heads) * frames * d * d + 3 * m * d + 3 * n * d;
        double perText = d * d + 2 * d;
        double perPair = frames * d + n * d + 4 * m + 3 * n;
        return 2 * (videos * perVideo + texts * perText + (double)texts * videos * perPair);
    }

    private IEnumerable<Tensor?> Folded => [abWeight, abBias, qkWeight, qkBias, nT, g3Sq, linear];

    /// <summary>Takes the folded weights out of the caller's dispose scope, for an object kept beyond it.</summary>
    public XPoolFactored DetachFromDisposeScope()
    {
        foreach (var t in w.Values) t.DetachFromDisposeScope();
        cc.DetachFromDisposeScope();
        g3cc.DetachFromDisposeScope();
        foreach (var t in Folded) t?.DetachFromDisposeScope();
        return this;
    }

    public void Dispose()
    {
        foreach (var t in w.Values) t.Dispose();
        cc.Dispose();
        g3cc.Dispose();
        foreach (var t in Folded) t?.Dispose();
    }
}
