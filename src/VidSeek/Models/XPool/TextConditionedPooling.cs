using VidSeek.Tensors;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace VidSeek.Models.XPool;

/// <summary>What text-conditioned pooling returns.</summary>
/// <param name="Pooled"><c>[V, T, D]</c>: video v pooled for text t.</param>
/// <param name="CrossAttnOut"><c>[V, T, D]</c>: the cross-attention output before <c>layer_norm2</c> (a debug aid).</param>
/// <param name="Weights"><c>[V, T, H, F]</c>: attention of each text over each video's frames.</param>
public sealed record PoolingOutput(Tensor Pooled, Tensor CrossAttnOut, Tensor Weights);

/// <summary>
/// X-Pool (CVPR 2022) text-conditioned pooling of frame embeddings (SPEC 2.3; X-Pool's <c>Transformer</c>):
/// <code>
/// q = Wq LN1(t)   k_f = Wk LN1(x_f)   v_f = Wv LN1(x_f)          one LayerNorm module, shared
/// a = softmax_f(q . k_f / sqrt(d_head))                          per head
/// r = LN2(Wo concat_heads(sum_f a_f v_f))
/// z = LN3(r + Dropout(Wl r))
/// </code>
/// Every Linear starts as the identity with zero bias, as in X-Pool, so an untrained module passes frames through
/// an attention-weighted average. Key names follow X-Pool's state_dict.
/// </summary>
public sealed class TextConditionedPooling : nn.Module<Tensor, Tensor, PoolingOutput>
{
    private readonly LayerNorm layer_norm1, layer_norm2, layer_norm3;
    private readonly XPoolCrossAttention cross_attn;
    private readonly Linear linear_proj;
    private readonly Dropout dropout;

    /// <summary>PyTorch's LayerNorm default, which X-Pool keeps.</summary>
    public const double LayerNormEps = 1e-5;

    /// <summary>Attention heads (X-Pool's <c>num_mha_heads</c>; not stored in its checkpoints).</summary>
    public int NumHeads { get; }

    public TextConditionedPooling(int embedDim, int numHeads = 1, double dropoutRate = 0.3) : base(nameof(TextConditionedPooling))
    {
        NumHeads = numHeads;
        cross_attn = new XPoolCrossAttention(embedDim, numHeads);
        linear_proj = nn.Linear(embedDim, embedDim);
        layer_norm1 = nn.LayerNorm(embedDim, LayerNormEps);
        layer_norm2 = nn.LayerNorm(embedDim, LayerNormEps);
        layer_norm3 = nn.LayerNorm(embedDim, LayerNormEps);
        dropout = nn.Dropout(dropoutRate);
        RegisterComponents();
        InitIdentity();
    }

    private void InitIdentity()
    {
        using var _ = torch.no_grad();
        foreach (var (name, p) in named_parameters())
        {
            if (!name.StartsWith("layer_norm", StringComparison.Ordinal))
            {
                if (p.dim() == 2) p.copy_(torch.eye(p.shape[0], p.shape[1]));
                else p.zero_();
            }
        }
    }

    /// <param name="text">Text embeddings <c>[T, D]</c>.</param>
    /// <param name="frames">Frame embeddings <c>[V, F, D]</c>.</param>
    public override PoolingOutput forward(Tensor text, Tensor frames)
    {
        using var scope = torch.NewDisposeScope();
        var t = layer_norm1.forward(text);
        var v = layer_norm1.forward(frames);
        var (attnOut, weights) = cross_attn.forward(t, v);
        var r = layer_norm2.forward(attnOut);
        var z = layer_norm3.forward(r.Plus(dropout.forward(linear_proj.forward(r))));
        return new PoolingOutput(z.MoveToOuterDisposeScope(), attnOut.MoveToOuterDisposeScope(), weights.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// The pooled vector a text would get if its attention (in every head) were one-hot on frame f, for each f, and the one it
    /// would get with uniform attention: <c>[V, F + 1, D]</c> (rows 0..F-1 the frames' vertices, row F the uniform point).
    /// Text-independent: for any text, X-Pool's pooled vector is <c>LN3(s)</c> of an affine function of a convex combination of
    /// the frames' <c>out_proj(v_proj(LN1 x_f))</c>, so these points span what any text can pull out of the video; with the edge
    /// midpoints they are what <see cref="VertexCentroids"/> summarises for the search's first stage. As at inference: no
    /// dropout, whatever the module's mode.
    /// </summary>
    /// <param name="frames">Frame embeddings <c>[V, F, D]</c>.</param>
    public Tensor Vertices(Tensor frames)
    {
        using var scope = torch.NewDisposeScope();
        long f = frames.shape[1];
        using var uniform = (1.0 / f).ToScalar();
        var attention = torch.cat([torch.eye(f, dtype: frames.dtype, device: frames.device),
            torch.full(1, f, uniform, dtype: frames.dtype, device: frames.device)], 0);          // [F + 1, F]
        return PooledAt(frames, attention).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The pooled vector a text would get if its attention (in every head) were split evenly between two frames i &lt; j, for every
    /// pair: <c>[V, F(F-1)/2, D]</c>, pairs in the order (0, 1), (0, 2), ..., (0, F-1), (1, 2), ..., (F-2, F-1) (<see cref="EdgePairs"/>).
    /// Text-independent, like <see cref="Vertices"/>: the midpoints of the simplex's edges, where a trained model's attention
    /// often lies (two frames showing the same thing get close logits).
    /// </summary>
    /// <param name="frames">Frame embeddings <c>[V, F, D]</c>.</param>
    public Tensor EdgeMidpoints(Tensor frames)
    {
        using var scope = torch.NewDisposeScope();
        var pairs = EdgePairs((int)frames.shape[1]);
        var attention = torch.zeros(pairs.Count, frames.shape[1], dtype: frames.dtype, device: frames.device);  // [P, F]
        for (int p = 0; p < pairs.Count; p++) { attention[p, pairs[p].I] = 0.5; attention[p, pairs[p].J] = 0.5; }
        return PooledAt(frames, attention).MoveToOuterDisposeScope();
    }

    /// <summary>The frame pairs (i &lt; j) of <see cref="EdgeMidpoints"/>' rows, in their order.</summary>
    public static IReadOnlyList<(int I, int J)> EdgePairs(int frames)
    {
        var pairs = new List<(int, int)>();
        for (int i = 0; i < frames; i++)
            for (int j = i + 1; j < frames; j++) pairs.Add((i, j));
        return pairs;
    }

    /// <summary>
    /// k unit vectors a segment that stand in for every pooled vector a text can get from it (<c>[V, k, D]</c>), for a search's first
    /// stage (max of the text's cosine over the rows): the unit pooled vectors at the simplex's vertices, its edge midpoints and its
    /// centre (F + F(F-1)/2 + 1 points, <see cref="Vertices"/>, <see cref="EdgeMidpoints"/>) summarised by spherical k-means
    /// (<see cref="SphericalKMeans"/>). Text-independent. Measured in docs/PERFORMANCE.md ("Which first-stage vectors recall
    /// X-Pool's ranking"): k = 8 centroids recall X-Pool's exact top 10 with far fewer candidates than the F + 1 vertices; the
    /// search's first stage for X-Pool (<see cref="Index.IndexModel.AnnVectors"/>).
    /// </summary>
    /// <param name="frames">Frame embeddings <c>[V, F, D]</c>.</param>
    /// <param name="k">Centroids a segment, 1 to F + F(F-1)/2 + 1.</param>
    public Tensor VertexCentroids(Tensor frames, int k)
    {
        using var scope = torch.NewDisposeScope();
        long f = frames.shape[1];
        var vertices = nn.functional.normalize(Vertices(frames), dim: -1);                       // [V, F + 1, D]
        var midpoints = nn.functional.normalize(EdgeMidpoints(frames), dim: -1);                 // [V, P, D]
        // The centre last: SphericalKMeans seeds its first centroid with the last point.
        var points = torch.cat([vertices.narrow(1, 0, f), midpoints, vertices.narrow(1, f, 1)], 1);
        return SphericalKMeans(points, k).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Spherical k-means of each row's unit vectors <c>[V, P, D]</c> into k unit centroids <c>[V, k, D]</c>, batched over V:
    /// farthest-point initialisation from the last point (each next seed the point least similar to the seeds so far), then
    /// <paramref name="steps"/> Lloyd steps (assign each point to its most similar centroid; a centroid becomes its points'
    /// normalised sum; an empty cluster keeps its centroid). Deterministic, and a row's centroids depend on that row alone, not on
    /// the batch it is computed in (the search's first stage stores them and recomputes a few to check its file, from batches of
    /// other sizes): a fixed step count, ties to the lowest index (argmin/argmax, as PyTorch documents), and the similarities in
    /// float64 (the result cast back to the points' type), so that the k-means' own batch-dependent rounding (about 1e-16) does
    /// not decide near-ties between seeds or clusters; what is left is the float32 rounding of the pooled points themselves
    /// (about 1e-7; XPoolVertexCentroidsTests checks batches of several sizes). Hand-written: no library for batched small k-means on tensors is served here, and it is a dozen
    /// tensor operations.
    /// </summary>
    public static Tensor SphericalKMeans(Tensor points, int k, int steps = 10)
    {
        long v = points.shape[0], n = points.shape[1], d = points.shape[2];
        if (k < 1 || k > n) throw new ArgumentOutOfRangeException(nameof(k), $"k = {k}: between 1 and the {n} points");
        using var scope = torch.NewDisposeScope();
        var type = points.dtype;
        points = points.to(ScalarType.Float64);
        var seeds = new List<Tensor> { points.select(1, n - 1) };                                 // [V, D] each
        var nearest = torch.einsum("vnd,vd->vn", points, seeds[0]);                              // [V, P]: similarity to the closest seed
        for (int c = 1; c < k; c++)
        {
            var far = nearest.argmin(1);                                                         // [V]
            var next = points.gather(1, far.view(v, 1, 1).expand(v, 1, d)).squeeze(1);
            seeds.Add(next);
            nearest = torch.maximum(nearest, torch.einsum("vnd,vd->vn", points, next));
        }
        var centroids = torch.stack(seeds.ToArray(), 1);                                         // [V, k, D]
        for (int step = 0; step < steps; step++)
        {
            var assign = torch.einsum("vnd,vkd->vnk", points, centroids).argmax(2);              // [V, P]
            var onehot = nn.functional.one_hot(assign, k).to(points.dtype);                     // [V, P, k]
            var sums = torch.einsum("vnk,vnd->vkd", onehot, points);                             // [V, k, D]
            var filled = onehot.sum(1).gt(Scalars.Zero).unsqueeze(2);                                       // [V, k, 1]
            centroids = torch.where(filled, nn.functional.normalize(sums, dim: -1), centroids);
        }
        return centroids.to(type).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The pooled vectors <c>[V, P, D]</c> for given attention weights over the frames (rows sum to 1; the same weights in every
    /// head), <c>[P, F]</c> for the same weights in every video or <c>[V, P, F]</c> per video, instead of the text's softmax:
    /// X-Pool's output after the attention, as in <see cref="forward"/> without dropout.
    /// </summary>
    /// <param name="frames">Frame embeddings <c>[V, F, D]</c>.</param>
    public Tensor PooledAt(Tensor frames, Tensor attention)
    {
        using var scope = torch.NewDisposeScope();
        var values = cross_attn.Values(layer_norm1.forward(frames));                            // [V, F, D], heads concatenated
        var points = attention.matmul(values);                                                  // [V, P, D]
        var r = layer_norm2.forward(cross_attn.OutProj(points));
        return layer_norm3.forward(r.Plus(linear_proj.forward(r))).MoveToOuterDisposeScope();
    }

    /// <summary>The attention keys of the frames <c>[V, F, D]</c> (<c>k_proj(LN1 x_f)</c>, heads concatenated): text-independent.</summary>
    /// <param name="frames">Frame embeddings <c>[V, F, D]</c>.</param>
    public Tensor Keys(Tensor frames)
    {
        using var scope = torch.NewDisposeScope();
        return cross_attn.Keys(layer_norm1.forward(frames)).MoveToOuterDisposeScope();
    }

    /// <summary>The attention queries of texts <c>[T, D]</c> (<c>q_proj(LN1 t)</c>, heads concatenated, not yet divided by sqrt(hd)).</summary>
    /// <param name="text">Text embeddings <c>[T, D]</c>.</param>
    public Tensor Queries(Tensor text)
    {
        using var scope = torch.NewDisposeScope();
        return cross_attn.Queries(layer_norm1.forward(text)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// X-Pool's attention <c>[V, T, H, F]</c> of each text over each video's frames (the softmax of <see cref="forward"/>, without
    /// computing the pooled vectors).
    /// </summary>
    /// <param name="text">Text embeddings <c>[T, D]</c>.</param>
    /// <param name="frames">Frame embeddings <c>[V, F, D]</c>.</param>
    public Tensor Attention(Tensor text, Tensor frames)
    {
        using var scope = torch.NewDisposeScope();
        long t = text.shape[0], d = text.shape[1], v = frames.shape[0], f = frames.shape[1], hd = d / NumHeads;
        var q = cross_attn.Queries(layer_norm1.forward(text)).view(t, NumHeads, hd);             // [T, H, hd]
        var k = Keys(frames).view(v, f, NumHeads, hd);                                          // [V, F, H, hd]
        var logits = torch.einsum("thd,vfhd->vthf", q, k).DivideInPlace(Math.Sqrt(hd));                 // [V, T, H, F]
        return logits.softmax(-1).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// X-Pool's similarity <c>[T, V]</c>: cosine of each raw text embedding (not layer-normed) with the video pooled for it.
    /// </summary>
    /// <param name="text"><c>[T, D]</c></param>
    /// <param name="pooled"><c>[V, T, D]</c> from <see cref="forward"/>.</param>
    public static Tensor Similarity(Tensor text, Tensor pooled)
    {
        using var scope = torch.NewDisposeScope();
        var tn = nn.functional.normalize(text, dim: -1);                     // [T, D]
        var pn = nn.functional.normalize(pooled, dim: -1);                   // [V, T, D]
        var sims = (pn * tn.unsqueeze(0)).sum(-1);                            // [V, T]
        return sims.T.contiguous().MoveToOuterDisposeScope();
    }
}
