using VidSeek.Tensors;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace VidSeek.Models.Clip.Module;

/// <summary>
/// Patch embedding, class token and position embedding (HF <c>CLIPVisionEmbeddings</c>):
/// pixels <c>[B, C, S, S]</c> -> tokens <c>[B, 1 + (S/p)^2, D]</c>, class token first, patches row-major.
/// </summary>
public sealed class ClipVisionEmbeddings : nn.Module<Tensor, Tensor>
{
    private readonly Parameter class_embedding;
    private readonly Conv2d patch_embedding;
    private readonly Embedding position_embedding;
    private readonly int imageSize;

    public ClipVisionEmbeddings(ClipVisionConfig c) : base(nameof(ClipVisionEmbeddings))
    {
        imageSize = c.ImageSize;
        class_embedding = nn.Parameter(torch.randn(c.HiddenSize));
        patch_embedding = nn.Conv2d(c.NumChannels, c.HiddenSize, kernel_size: c.PatchSize, stride: c.PatchSize, bias: false);
        position_embedding = nn.Embedding(c.NumPatches + 1, c.HiddenSize);
        RegisterComponents();
    }

    public override Tensor forward(Tensor pixelValues)
    {
        if (pixelValues.dim() != 4 || pixelValues.shape[2] != imageSize || pixelValues.shape[3] != imageSize)
            throw new ArgumentException($"expected pixel values [B, C, {imageSize}, {imageSize}], got [{string.Join(", ", pixelValues.shape)}]");
        long b = pixelValues.shape[0];
        using var pixels = pixelValues.to(patch_embedding.weight!.dtype);   // bf16 when ClipModel.SetPrecision says so
        using var patchesLow = patch_embedding.forward(pixels);
        using var patches = patchesLow.to(class_embedding.dtype);          // [B, D, g, g], float32
        using var flat = patches.flatten(2).transpose(1, 2);               // [B, g*g, D]
        using var cls = class_embedding.expand(b, 1, -1);                  // [B, 1, D]
        using var tokens = torch.cat(new[] { cls, flat }, 1);              // [B, 1+g*g, D]
        return tokens.Plus(position_embedding.weight!);
    }
}
