namespace VidSeek.Models.Vlt;

/// <summary>FLOPs of a forward pass, split into the linear layers and the two attention matmuls (QK^T and AV).</summary>
public readonly record struct FlopCount(double Linear, double Attention)
{
    public double Total => Linear + Attention;

    public static FlopCount operator +(FlopCount a, FlopCount b) => new(a.Linear + b.Linear, a.Attention + b.Attention);

    public static FlopCount operator *(double times, FlopCount a) => new(times * a.Linear, times * a.Attention);
}

/// <summary>
/// FLOPs of one (text, video) pair through a <see cref="JointEncoder"/> (what <see cref="VideoLanguageModel.FusedCls"/>
/// runs), counted from the shapes. As in the CLIP bench, only matrix products count, each as 2*rows*in*out (a multiply
/// and an add per term): every Linear, and per attention the scores QK^T and the weighted values AV, each
/// 2*Lq*Lk*D summed over the heads. LayerNorm, softmax, activations, residual adds and masks are left out.
/// <para>
/// Each formula follows what the module code computes, not what it could skip: padded text tokens are counted as real
/// (they are computed, only masked as keys), rows whose output is discarded still count (the video rows of the
/// self-attention fusion), and a projection recomputed for every frame counts once per frame (the text keys of T2V).
/// </para>
/// Shapes: N text tokens, T frames of L tokens (M = T*L video tokens); D, F: the BERT hidden and intermediate sizes;
/// W: <c>encoder_width</c> (the video width the V2T cross-attention reads); Dv, Fv: the video encoder's hidden and
/// intermediate sizes (the T2V layers work in them); n_f fusion layers, n_t2v T2V layers.
/// </summary>
public static class JointEncoderFlops
{
    /// <summary>The joint encoder of <paramref name="config"/>.<see cref="VideoLanguageConfig.Fusion"/>, for one pair.</summary>
    public static FlopCount PerPair(VideoLanguageConfig config, long textTokens, long frames, long tokensPerFrame) =>
        PerPair(config.Fusion, config, textTokens, frames, tokensPerFrame);

    /// <summary>The joint encoder <paramref name="kind"/> with the widths of <paramref name="config"/>, for one pair.</summary>
    public static FlopCount PerPair(FusionKind kind, VideoLanguageConfig config, long textTokens, long frames, long tokensPerFrame) => kind switch
    {
        FusionKind.V2T => V2T(config, textTokens, frames, tokensPerFrame),
        FusionKind.SelfAttention => SelfAttention(config, textTokens, frames, tokensPerFrame),
        FusionKind.NaiveT2V2T => NaiveT2V2T(config, textTokens, frames, tokensPerFrame),
        FusionKind.T2V2T => T2V2T(config, textTokens, frames, tokensPerFrame),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "unknown fusion kind"),
    };

    /// <summary>
    /// V2T (<see cref="V2TJointEncoder"/>): n_f <see cref="BertFusionLayer"/>s with the text as queries and the M = T*L
    /// flattened video tokens as keys: <c>n_f * [2N(6D² + 2DF) + 4MWD  |  4N²D + 4NMD]</c> (linear | attention).
    /// Linear in M: the video tokens enter only as keys and values.
    /// </summary>
    public static FlopCount V2T(VideoLanguageConfig config, long textTokens, long frames, long tokensPerFrame)
    {
        Check(textTokens, frames, tokensPerFrame);
        return config.FusionLayers * BertFusionLayer(config.Text, textTokens, frames * tokensPerFrame);
    }

    /// <summary>
    /// Self-attention fusion (<see cref="SelfAttentionJointEncoder"/>): n_f <see cref="BertSelfLayer"/>s over the
    /// concatenation of S = N + T*L tokens: <c>n_f * [2S(4D² + 2DF)  |  4S²D]</c>. Quadratic in T*L; every video token
    /// is a query and goes through the FFN in every layer, the last one included, although only the text rows are kept.
    /// </summary>
    public static FlopCount SelfAttention(VideoLanguageConfig config, long textTokens, long frames, long tokensPerFrame)
    {
        Check(textTokens, frames, tokensPerFrame);
        return config.FusionLayers * BertSelfLayer(config.Text, textTokens + frames * tokensPerFrame);
    }

    /// <summary>
    /// Naive T2V2T (<see cref="T2V2TJointEncoder"/> without the bypass): n_t2v <see cref="T2VLayer"/>s with the text as
    /// the only keys (<c>Lk = N</c>), then <see cref="V2T"/> on their output.
    /// </summary>
    public static FlopCount NaiveT2V2T(VideoLanguageConfig config, long textTokens, long frames, long tokensPerFrame) =>
        config.T2VLayers * T2VLayer(config.Video, textTokens, frames, tokensPerFrame, includeOwnFrame: false)
        + V2T(config, textTokens, frames, tokensPerFrame);

    /// <summary>
    /// T2V2T (Bypass CA): n_t2v <see cref="T2VLayer"/>s whose keys are the text and the frame's own tokens
    /// (<c>Lk = N + L</c>), then <see cref="V2T"/>. Over naive T2V2T it adds, per T2V layer, the own-frame keys and
    /// values, <c>4T*L*Dv²</c>, and their attention, <c>4T*L²*Dv</c>.
    /// </summary>
    public static FlopCount T2V2T(VideoLanguageConfig config, long textTokens, long frames, long tokensPerFrame) =>
        config.T2VLayers * T2VLayer(config.Video, textTokens, frames, tokensPerFrame, includeOwnFrame: true)
        + V2T(config, textTokens, frames, tokensPerFrame);

    /// <summary>
    /// One post-LN BERT fusion layer (<c>BertLayer</c> with cross-attention), N text queries, M video keys:
    /// <code>
    ///   self-attention   query, key, value, output.dense on N rows    4 * 2ND²
    ///                    QK^T and AV over the N text keys              2 * 2N²D
    ///   cross-attention  query, output.dense on N rows               2 * 2ND²
    ///                    key, value on the M video tokens (W -> D)     2 * 2MWD   (every layer again: its own weights)
    ///                    QK^T and AV over the M video keys             2 * 2NMD
    ///   FFN              intermediate, output on N rows               2 * 2NDF
    /// </code>
    /// </summary>
    public static FlopCount BertFusionLayer(BertConfig text, long textTokens, long videoTokens)
    {
        double n = textTokens, m = videoTokens, d = text.HiddenSize, w = text.VideoWidth, f = text.IntermediateSize;
        double linear = 4 * Gemm(n, d, d) + 2 * Gemm(n, d, d) + 2 * Gemm(m, w, d) + Gemm(n, d, f) + Gemm(n, f, d);
        double attention = 2 * Gemm(n, d, n) + 2 * Gemm(n, d, m);
        return new FlopCount(linear, attention);
    }

    /// <summary>
    /// One post-LN BERT layer without cross-attention over S tokens, all of them queries and keys:
    /// <code>
    ///   query, key, value, output.dense on S rows      4 * 2SD²
    ///   QK^T and AV over S keys                          2 * 2S²D
    ///   intermediate, output on S rows                  2 * 2SDF
    /// </code>
    /// </summary>
    public static FlopCount BertSelfLayer(BertConfig text, long tokens)
    {
        double s = tokens, d = text.HiddenSize, f = text.IntermediateSize;
        return new FlopCount(4 * Gemm(s, d, d) + Gemm(s, d, f) + Gemm(s, f, d), 2 * Gemm(s, d, s));
    }

    /// <summary>
    /// One T2V layer (<see cref="Module.BypassCrossAttention"/>) on T frames of L tokens, with Lk = N + L keys a frame
    /// (bypass) or N (naive):
    /// <code>
    ///   q_proj, out_proj on the T*L frame tokens                      2 * 2TL*Dv²
    ///   k_proj, v_proj on T*Lk rows: the text keys are computed        2 * 2T*Lk*Dv²
    ///     once per frame (LN_t(F_T) is expanded to [B*T, N, D] before the projection)
    ///   QK^T and AV, per frame L queries x Lk keys                    2 * 2T*L*Lk*Dv
    ///   fc1, fc2 on the T*L frame tokens                              2 * 2TL*Dv*Fv
    /// </code>
    /// </summary>
    public static FlopCount T2VLayer(VideoEncoderConfig video, long textTokens, long frames, long tokensPerFrame, bool includeOwnFrame)
    {
        double n = textTokens, t = frames, l = tokensPerFrame, dv = video.HiddenSize, fv = video.IntermediateSize;
        double keys = n + (includeOwnFrame ? l : 0);
        double linear = 2 * Gemm(t * l, dv, dv) + 2 * Gemm(t * keys, dv, dv) + Gemm(t * l, dv, fv) + Gemm(t * l, fv, dv);
        double attention = 2 * t * Gemm(l, dv, keys);
        return new FlopCount(linear, attention);
    }

    /// <summary>A [rows, in] x [in, out] product: 2*rows*in*out.</summary>
    private static double Gemm(double rows, double inner, double cols) => 2 * rows * inner * cols;

    private static void Check(long textTokens, long frames, long tokensPerFrame)
    {
        if (textTokens < 0 || frames <= 0 || tokensPerFrame <= 0)
            throw new ArgumentOutOfRangeException(nameof(frames), $"need N >= 0 and T, L > 0, got N = {textTokens}, T = {frames}, L = {tokensPerFrame}");
    }
}
