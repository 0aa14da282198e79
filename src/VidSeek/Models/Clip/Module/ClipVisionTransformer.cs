using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace VidSeek.Models.Clip.Module;

/// <summary>What the vision tower returns.</summary>
/// <param name="EmbeddingOutput"><c>[B, L, D]</c> after <c>pre_layrnorm</c>, the input of the first layer (HF <c>hidden_states[0]</c>).</param>
/// <param name="LastHiddenState"><c>[B, L, D]</c>, output of the last layer, before <c>post_layernorm</c>.</param>
/// <param name="PooledOutput"><c>[B, D]</c>, <c>post_layernorm</c> of the class token.</param>
public sealed record ClipVisionOutput(Tensor EmbeddingOutput, Tensor LastHiddenState, Tensor PooledOutput);

/// <summary>The ViT image tower (HF <c>CLIPVisionTransformer</c>): pixels <c>[B, 3, S, S]</c> -> <see cref="ClipVisionOutput"/>.</summary>
public sealed class ClipVisionTransformer : nn.Module<Tensor, ClipVisionOutput>
{
    private readonly ClipVisionEmbeddings embeddings;
    private readonly LayerNorm pre_layrnorm; // sic: the HF checkpoint key
    private readonly ClipEncoder encoder;
    private readonly LayerNorm post_layernorm;

    public ClipVisionTransformer(ClipVisionConfig c) : base(nameof(ClipVisionTransformer))
    {
        embeddings = new ClipVisionEmbeddings(c);
        pre_layrnorm = nn.LayerNorm(c.HiddenSize, c.LayerNormEps);
        encoder = new ClipEncoder(c.NumHiddenLayers, c.HiddenSize, c.IntermediateSize, c.NumAttentionHeads, c.HiddenAct, c.LayerNormEps);
        post_layernorm = nn.LayerNorm(c.HiddenSize, c.LayerNormEps);
        RegisterComponents();
    }

    public override ClipVisionOutput forward(Tensor pixelValues)
    {
        using var emb = embeddings.forward(pixelValues);
        var pre = pre_layrnorm.forward(emb);
        var last = encoder.forward(pre, false);
        using var cls = last.select(1, 0);
        var pooled = post_layernorm.forward(cls);
        return new ClipVisionOutput(pre, last, pooled);
    }
}
