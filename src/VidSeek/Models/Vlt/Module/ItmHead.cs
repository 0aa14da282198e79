using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace VidSeek.Models.Vlt.Module;

/// <summary>
/// The image(video)-text matching head, <c>Linear(D, 2)</c> on the fused [CLS]: <c>[B, D]</c> -> logits <c>[B, 2]</c>
/// (column 0 "no match", column 1 "match"). Its parameters are <c>weight</c> and <c>bias</c> directly, so the keys are
/// ALBEF/VindLU's <c>itm_head.weight</c> / <c>itm_head.bias</c>.
/// </summary>
public sealed class ItmHead : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight, bias;

    public ItmHead(int hiddenSize) : base(nameof(ItmHead))
    {
        weight = nn.Parameter(torch.empty(2, hiddenSize));
        bias = nn.Parameter(torch.zeros(2));
        RegisterComponents();
    }

    /// <param name="cls">Fused text [CLS] <c>[B, D]</c>.</param>
    public override Tensor forward(Tensor cls) => nn.functional.linear(cls, weight, bias);

    /// <summary>The ITM score, the logit of "match": <c>[B, D]</c> -> <c>[B]</c>.</summary>
    public Tensor MatchLogit(Tensor cls)
    {
        using var logits = forward(cls);
        return logits.select(1, 1).contiguous();
    }
}
