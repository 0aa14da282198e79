using VidSeek.Tensors;
using TorchSharp;

namespace VidSeek.Models.Vlt;

/// <summary>BERT-style initialisation for the layers the VLT adds around its encoders.</summary>
internal static class VltInit
{
    /// <summary>
    /// N(0, <paramref name="std"/>) weights, zero biases, unit LayerNorms, recognised by name (<c>LayerNorm</c>,
    /// <c>layer_norm*</c>); TorchSharp's default Kaiming-uniform init is scaled for ReLU nets, not for transformers.
    /// </summary>
    public static void Normal(torch.nn.Module module, double std)
    {
        using var _ = torch.no_grad();
        foreach (var (name, p) in module.named_parameters())
        {
            string leaf = name[(name.LastIndexOf('.') + 1)..];
            bool layerNorm = name.Contains("LayerNorm") || name.Contains("layer_norm");
            if (layerNorm && leaf == "weight") p.fill_(Scalars.One);
            else if (leaf == "bias") p.zero_();
            else torch.nn.init.normal_(p, 0, std);
        }
    }
}
