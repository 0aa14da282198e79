using TorchSharp;
using static TorchSharp.torch;

namespace VidSeek.Models.Vlt.Module;

/// <summary>
/// One post-LN BERT layer (HF <c>BertLayer</c>), <c>[B, N, D]</c> -> <c>[B, N, D]</c>: self-attention, then (fusion layers
/// only) cross-attention with the text as queries and the video tokens as keys/values, then the feed-forward block,
/// each followed by residual and LayerNorm.
/// </summary>
public sealed class BertLayer : nn.Module<Tensor, Tensor?, Tensor?, Tensor?, Tensor>
{
    private readonly BertAttention attention;
    private readonly BertAttention? crossattention; // null (no keys) in the text-only layers
    private readonly BertIntermediate intermediate;
    private readonly BertOutput output;

    public BertLayer(BertConfig c, bool hasCrossAttention) : base(nameof(BertLayer))
    {
        attention = new BertAttention(c.HiddenSize, c.NumAttentionHeads, c.HiddenSize, c.LayerNormEps);
        if (hasCrossAttention) crossattention = new BertAttention(c.HiddenSize, c.NumAttentionHeads, c.VideoWidth, c.LayerNormEps);
        intermediate = new BertIntermediate(c.HiddenSize, c.IntermediateSize, c.HiddenAct);
        output = new BertOutput(c.IntermediateSize, c.HiddenSize, c.LayerNormEps);
        RegisterComponents();
    }

    public bool HasCrossAttention => crossattention is not null;

    /// <param name="x"><c>[B, N, D]</c></param>
    /// <param name="textMask">Additive mask <c>[B, 1, 1, N]</c> on the text keys, or null.</param>
    /// <param name="video">Video tokens <c>[B, M, W]</c>; required by a fusion layer, ignored by a text-only one.</param>
    /// <param name="videoMask">Additive mask <c>[B, 1, 1, M]</c> on the video keys, or null.</param>
    public override Tensor forward(Tensor x, Tensor? textMask, Tensor? video, Tensor? videoMask)
    {
        using var a = attention.forward(x, x, textMask);
        using var c = crossattention is null ? a.alias()
            : crossattention.forward(a, video ?? throw new ArgumentException("a fusion layer needs video tokens"), videoMask);
        using var i = intermediate.forward(c);
        return output.forward(i, c);
    }
}
