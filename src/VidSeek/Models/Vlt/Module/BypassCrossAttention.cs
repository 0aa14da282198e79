using VidSeek.Tensors;
using TorchSharp;
using TorchSharp.Modules;
using VidSeek.Models.Clip.Module;
using static TorchSharp.torch;

namespace VidSeek.Models.Vlt.Module;

/// <summary>
/// One T2V layer, text-to-video cross-attention with a bypass (Bypass CA), pre-LN, in the video stream. For every frame i
/// of <c>F_V</c> <c>[B, T, L, D]</c> and the text <c>F_T</c> <c>[B, N, D]</c>:
/// <code>
///   q      = LN_v(F_V[i])                                   [B*T, L, D]    (frames as a batch)
///   kv     = [LN_t(F_T) ; LN_v(F_V[i])]                      [B*T, N+L, D]
///   F_V'[i]  = F_V[i] + XAttn(q, kv)
///   F_V''[i] = F_V'[i] + FFN(LN_mlp(F_V'[i]))
/// </code>
/// Masks: the text part of kv carries the text padding mask (a padded word is never a key); the frame part is never masked.
/// Frame i sees the text and its own L tokens, never another frame's. A video token that matches no word can attend to its
/// own frame instead of being forced onto irrelevant words; with the whole text masked (or N = 0) the layer is exactly a
/// pre-LN self-attention block over each frame.
/// <para>
/// <c>includeOwnFrame: false</c> gives the naive T2V layer of naive T2V2T (kv = <c>LN_t(F_T)</c> only). It is a flag, not a
/// separate class, because the two differ only in the key set: same parameters and key names, so the ablation compares
/// exactly the bypass and nothing else.
/// </para>
/// <c>LN([F_T ; F_V[i]])</c> acts per token, so it is two LayerNorms, one per stream (<c>layer_norm_text</c>,
/// <c>layer_norm_video</c>): text and video tokens come from different encoders with different statistics; the queries
/// and the frame's own keys share <c>layer_norm_video</c>, as in a pre-LN self-attention block.
/// </summary>
public sealed class BypassCrossAttention : nn.Module<Tensor, Tensor, Tensor, Tensor>
{
    private readonly LayerNorm layer_norm_video, layer_norm_text, layer_norm_mlp;
    private readonly CrossAttention cross_attn;
    private readonly ClipMlp mlp;

    /// <summary>true for Bypass CA (the frame's own tokens are keys too), false for the naive T2V (text keys only).</summary>
    public bool IncludeOwnFrame { get; }

    public BypassCrossAttention(int hiddenSize, int numHeads, int intermediateSize, string hiddenAct, double eps, bool includeOwnFrame = true)
        : base(nameof(BypassCrossAttention))
    {
        IncludeOwnFrame = includeOwnFrame;
        layer_norm_video = nn.LayerNorm(hiddenSize, eps);
        layer_norm_text = nn.LayerNorm(hiddenSize, eps);
        cross_attn = new CrossAttention(hiddenSize, numHeads);
        layer_norm_mlp = nn.LayerNorm(hiddenSize, eps);
        mlp = new ClipMlp(hiddenSize, intermediateSize, hiddenAct);
        RegisterComponents();
    }

    /// <param name="video"><c>F_V</c>, <c>[B, T, L, D]</c>.</param>
    /// <param name="text"><c>F_T</c>, <c>[B, N, D]</c> (N may be 0 with the bypass).</param>
    /// <param name="textMask"><c>[B, N]</c>, nonzero for a real token, 0 for padding.</param>
    /// <returns><c>F_V''</c>, <c>[B, T, L, D]</c>.</returns>
    public override Tensor forward(Tensor video, Tensor text, Tensor textMask)
    {
        if (video.dim() != 4) throw new ArgumentException($"expected video tokens [B, T, L, D], got [{string.Join(", ", video.shape)}]");
        long b = video.shape[0], t = video.shape[1], l = video.shape[2], d = video.shape[3];
        if (text.dim() != 3 || text.shape[0] != b || text.shape[2] != d)
            throw new ArgumentException($"expected text tokens [{b}, N, {d}], got [{string.Join(", ", text.shape)}]");
        long n = text.shape[1];
        if (textMask.dim() != 2 || textMask.shape[0] != b || textMask.shape[1] != n)
            throw new ArgumentException($"expected text mask [{b}, {n}], got [{string.Join(", ", textMask.shape)}]");
        if (n == 0 && !IncludeOwnFrame) throw new ArgumentException("naive T2V needs at least one text token: it has no other keys");

        using var scope = torch.NewDisposeScope();
        var frames = video.reshape(b * t, l, d);
        var q = layer_norm_video.forward(frames);                                          // [B*T, L, D]
        // Each frame gets its own copy of the text keys: [B, N, D] -> [B*T, N, D], frame-major within a video.
        var textKv = layer_norm_text.forward(text).unsqueeze(1).expand(b, t, n, d).reshape(b * t, n, d);
        var mask = textMask.unsqueeze(1).expand(b, t, n).reshape(b * t, n);
        Tensor kv = textKv, keyMask = mask;
        if (IncludeOwnFrame)
        {
            kv = torch.cat(new[] { textKv, q }, 1);                                        // [B*T, N+L, D]
            keyMask = torch.cat(new[] { mask, torch.ones(b * t, l, dtype: mask.dtype, device: mask.device) }, 1);
        }
        var h = frames.Plus(cross_attn.forward(q, kv, BertModel.KeyMask(keyMask, q.dtype)));
        var o = h.Plus(mlp.forward(layer_norm_mlp.forward(h)));
        return o.view(b, t, l, d).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// For analysis: the share of each video token's attention (mean over heads) that goes to its own frame's keys rather
    /// than to the words, <c>[B, T, L]</c> in [0, 1]; all 0 for the naive layer, whose keys are the words only.
    /// Arguments as <see cref="forward"/>.
    /// </summary>
    public Tensor OwnFrameShare(Tensor video, Tensor text, Tensor textMask)
    {
        long b = video.shape[0], t = video.shape[1], l = video.shape[2], d = video.shape[3], n = text.shape[1];
        using var scope = torch.NewDisposeScope();
        if (!IncludeOwnFrame) return torch.zeros(b, t, l).MoveToOuterDisposeScope();
        var q = layer_norm_video.forward(video.reshape(b * t, l, d));
        var textKv = layer_norm_text.forward(text).unsqueeze(1).expand(b, t, n, d).reshape(b * t, n, d);
        var mask = textMask.unsqueeze(1).expand(b, t, n).reshape(b * t, n);
        var kv = torch.cat(new[] { textKv, q }, 1);
        var keyMask = torch.cat(new[] { mask, torch.ones(b * t, l, dtype: mask.dtype, device: mask.device) }, 1);
        var weights = cross_attn.AttentionWeights(q, kv, BertModel.KeyMask(keyMask, q.dtype)).mean(new long[] { 1 }); // [B*T, L, N+L]
        return weights.narrow(2, n, l).sum(2).view(b, t, l).MoveToOuterDisposeScope();
    }
}
