using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace VidSeek.Models.Clip.Module;

/// <summary>
/// Multi-head self-attention of a CLIP encoder layer (HF <c>CLIPAttention</c>).
/// Input and output <c>[B, L, D]</c>. Heads are contiguous channel slices (head h = channels h*hd..h*hd+hd-1),
/// scores are scaled by 1/sqrt(hd), no dropout at inference.
/// </summary>
public sealed class ClipAttention : nn.Module<Tensor, bool, Tensor>
{
    // Field names are the checkpoint's key names: loading is a name lookup.
    private readonly Linear q_proj, k_proj, v_proj, out_proj;
    private readonly int numHeads;

    public ClipAttention(int hiddenSize, int numHeads) : base(nameof(ClipAttention))
    {
        this.numHeads = numHeads;
        q_proj = nn.Linear(hiddenSize, hiddenSize);
        k_proj = nn.Linear(hiddenSize, hiddenSize);
        v_proj = nn.Linear(hiddenSize, hiddenSize);
        out_proj = nn.Linear(hiddenSize, hiddenSize);
        RegisterComponents();
    }

    /// <param name="x"><c>[B, L, D]</c></param>
    /// <param name="causal">true in the text tower: query i sees keys j &lt;= i only.</param>
    public override Tensor forward(Tensor x, bool causal)
    {
        long b = x.shape[0], l = x.shape[1], d = x.shape[2];
        long hd = d / numHeads;
        // [B, L, D] -> [B, H, L, hd]
        Tensor Heads(Tensor t) => t.view(b, l, numHeads, hd).transpose(1, 2);
        // In bf16 (ClipModel.SetPrecision) the projections and SDPA run in bf16 (SDPA's CPU kernel accumulates in float);
        // the result returns to the residual stream's float32. In fp32 both casts are no-ops.
        using var xin = x.to(q_proj.weight!.dtype);
        using var q = Heads(q_proj.forward(xin));
        using var k = Heads(k_proj.forward(xin));
        using var v = Heads(v_proj.forward(xin));
        // SDPA applies the 1/sqrt(hd) scale and, with is_causal, the -inf above the diagonal.
        using var att = nn.functional.scaled_dot_product_attention(q, k, v, is_casual: causal);
        using var merged = att.transpose(1, 2).reshape(b, l, d);
        using var output = out_proj.forward(merged);
        return output.to(x.dtype);
    }
}
