using TorchSharp;
using static TorchSharp.torch;

namespace VidSeek.Models.Vlt.Module;

/// <summary>
/// An attention block with its residual and LayerNorm (HF <c>BertAttention</c>, keys <c>self.*</c>, <c>output.*</c>):
/// <c>[B, N, D]</c> -> <c>[B, N, D]</c>. A BERT layer's <c>attention</c> (self) and <c>crossattention</c> (keys and
/// values from video tokens of width <c>encoder_width</c>) are both this block.
/// </summary>
public sealed class BertAttention : nn.Module<Tensor, Tensor, Tensor?, Tensor>
{
    private readonly BertSelfAttention self;
    private readonly BertSelfOutput output;

    public BertAttention(int hiddenSize, int numHeads, int contextWidth, double eps) : base(nameof(BertAttention))
    {
        self = new BertSelfAttention(hiddenSize, numHeads, contextWidth);
        output = new BertSelfOutput(hiddenSize, eps);
        RegisterComponents();
    }

    /// <param name="x"><c>[B, N, D]</c>, the queries and the residual.</param>
    /// <param name="context"><c>[B, M, W]</c>: <paramref name="x"/> itself for self-attention, the video tokens for cross-attention.</param>
    /// <param name="keyMask">Additive key mask <c>[B, 1, 1, M]</c>, or null.</param>
    public override Tensor forward(Tensor x, Tensor context, Tensor? keyMask)
    {
        using var attended = self.forward(x, context, keyMask);
        return output.forward(attended, x);
    }
}
