using VidSeek.Models.Clip;

namespace VidSeek.Bench;

/// <summary>
/// FLOPs of the CLIP towers counted from the shapes. Only matrix products are counted, each as
/// 2*M*N*K (one multiply and one add per term): every Linear and the patch Conv2d (a GEMM with
/// K = C*p*p), plus the two attention products per layer. LayerNorm, softmax, activations, adds and
/// embeddings are not counted: they are "overhead" that the fraction of GEMM peak is meant to expose.
/// </summary>
public static class ClipFlops
{
    /// <summary>
    /// One pre-LN encoder layer over <paramref name="batch"/> sequences of <paramref name="tokens"/> tokens
    /// (L = tokens, D = hidden, F = intermediate, M = batch*L rows):
    ///   q, k, v, out projections   4 * 2*M*D*D
    ///   scores Q K^T, per head     2*batch*H*L*L*hd = 2*batch*L*L*D   (all L*L, also when causal)
    ///   weights x V                2*batch*L*L*D
    ///   fc1 and fc2                2 * 2*M*D*F
    /// </summary>
    public static double EncoderLayer(long batch, long tokens, long hidden, long intermediate)
    {
        double m = batch * tokens;
        double projections = 4 * 2 * m * hidden * hidden;
        double attention = 2 * (2.0 * batch * tokens * tokens * hidden);
        double mlp = 2 * 2 * m * hidden * intermediate;
        return projections + attention + mlp;
    }

    /// <summary>
    /// Image tower and visual projection for <paramref name="batch"/> images:
    ///   patch conv      2 * (batch*g*g) * D * (C*p*p)     (g = S/p patches a side)
    ///   layers          layers * EncoderLayer(batch, 1 + g*g, D, F)
    ///   projection      2 * batch * D * E                 (class token only)
    /// ViT-B/32 at 224 px: about 8.8 GFLOP per image.
    /// </summary>
    public static double ImageTower(ClipConfig c, long batch)
    {
        var v = c.VisionConfig;
        long g = v.ImageSize / v.PatchSize;
        double patchConv = 2.0 * batch * g * g * v.HiddenSize * ((long)v.NumChannels * v.PatchSize * v.PatchSize);
        double layers = v.NumHiddenLayers * EncoderLayer(batch, 1 + g * g, v.HiddenSize, v.IntermediateSize);
        double projection = 2.0 * batch * v.HiddenSize * c.ProjectionDim;
        return patchConv + layers + projection;
    }

    /// <summary>
    /// Text tower and text projection for <paramref name="batch"/> sequences of <paramref name="tokens"/> ids:
    ///   layers          layers * EncoderLayer(batch, tokens, D, F)
    ///   projection      2 * batch * D * E                 (EOT token only)
    /// ViT-B/32's text tower at 77 tokens: about 6.0 GFLOP per text.
    /// </summary>
    public static double TextTower(ClipConfig c, long batch, long tokens)
    {
        var t = c.TextConfig;
        double layers = t.NumHiddenLayers * EncoderLayer(batch, tokens, t.HiddenSize, t.IntermediateSize);
        double projection = 2.0 * batch * t.HiddenSize * c.ProjectionDim;
        return layers + projection;
    }
}
