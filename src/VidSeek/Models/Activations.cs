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

    public static Tensor QuickGelu(Tensor x)
    {
        using var s = torch.sigmoid(x * 1.702);
        return x * s;
    }
}
