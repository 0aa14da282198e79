using VidSeek.Tensors;
using TorchSharp;
using static TorchSharp.torch;

namespace VidSeek.Models;

/// <summary>The activations named by Hugging Face configs' <c>hidden_act</c>.</summary>
public static class Activations
{
    /// <summary>Applies <paramref name="name"/>: <c>quick_gelu</c> is <c>x*sigmoid(1.702x)</c> (OpenAI CLIP), <c>gelu</c> the exact erf form (BERT).</summary>
    public static Tensor Apply(string name, Tensor x) => name switch
    {
        "quick_gelu" => QuickGelu(x),
        "gelu" => nn.functional.gelu(x),
        _ => throw new ArgumentException($"unsupported activation '{name}'"),
    };

    /// <summary>
    /// <see cref="Apply"/> overwriting <paramref name="x"/> and returning it, with no temporary tensor. Only for
    /// tensors that autograd does not track (inference): the caller must own <paramref name="x"/>.
    /// </summary>
    /// <remarks>
    /// Why: the MLP's hidden activations are the largest tensors of a CLIP layer (ViT-B/32, 32 images: 20 MB),
    /// and the out-of-place QuickGELU makes three of them per layer. Fresh buffers of that size come from the
    /// kernel page by page (glibc serves them by mmap), which made QuickGELU cost as much as a third of the
    /// layer's GEMM time; see docs/PERFORMANCE.md.
    /// </remarks>
    public static Tensor ApplyInPlace(string name, Tensor x) => name switch
    {
        // x*sigmoid(1.702x) = silu(1.702x)/1.702, and silu has a fused in-place kernel. Equal to QuickGelu within
        // a few float ulps (1.702x is rounded once more).
        "quick_gelu" => x.mul_(QuickGeluScale).silu_().div_(QuickGeluScale),
        "gelu" => x.gelu_(),
        _ => throw new ArgumentException($"unsupported activation '{name}'"),
    };

    /// <summary>1.702, QuickGELU's slope (rooted: see Tensors/Scalars.cs).</summary>
    private static readonly Scalar QuickGeluScale = 1.702.ToScalar();

    public static Tensor QuickGelu(Tensor x)
    {
        using var scaled = x.mul(QuickGeluScale);
        using var s = torch.sigmoid(scaled);
        return x * s;
    }
}
