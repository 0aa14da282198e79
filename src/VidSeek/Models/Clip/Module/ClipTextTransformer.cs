using VidSeek.Tensors;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace VidSeek.Models.Clip.Module;

/// <summary>What the text tower returns.</summary>
/// <param name="LastHiddenState"><c>[B, N, D]</c> after <c>final_layer_norm</c>, all positions.</param>
/// <param name="PooledOutput"><c>[B, D]</c>, the hidden state at each row's EOT position.</param>
public sealed record ClipTextOutput(Tensor LastHiddenState, Tensor PooledOutput);

/// <summary>
/// The causal text transformer (HF <c>CLIPTextTransformer</c>): ids <c>[B, N]</c> -> <see cref="ClipTextOutput"/>.
/// Causal mask, no padding mask: padding after EOT cannot reach the EOT position.
/// </summary>
public sealed class ClipTextTransformer : nn.Module<Tensor, ClipTextOutput>
{
    private readonly ClipTextEmbeddings embeddings;
    private readonly ClipEncoder encoder;
    private readonly LayerNorm final_layer_norm;
    private readonly int eosTokenId;

    public ClipTextTransformer(ClipTextConfig c) : base(nameof(ClipTextTransformer))
    {
        eosTokenId = c.EosTokenId;
        embeddings = new ClipTextEmbeddings(c);
        encoder = new ClipEncoder(c.NumHiddenLayers, c.HiddenSize, c.IntermediateSize, c.NumAttentionHeads, c.HiddenAct, c.LayerNormEps);
        final_layer_norm = nn.LayerNorm(c.HiddenSize, c.LayerNormEps);
        RegisterComponents();
    }

    public override ClipTextOutput forward(Tensor inputIds)
    {
        using var emb = embeddings.forward(inputIds);
        using var h = encoder.forward(emb, true);
        var last = final_layer_norm.forward(h);
        using var eos = EosPositions(inputIds);
        using var batch = inputIds.shape[0].ToScalar();
        using var rows = torch.arange(batch, dtype: ScalarType.Int64, device: inputIds.device);
        var pooled = last.index(rows, eos);
        return new ClipTextOutput(last, pooled);
    }

    /// <summary>
    /// The EOT position of each row, as HF computes it: the first occurrence of <c>eos_token_id</c>, or
    /// <c>argmax(input_ids)</c> for legacy configs whose <c>eos_token_id</c> is 2 (OpenAI's EOT is the largest id).
    /// </summary>
    private Tensor EosPositions(Tensor inputIds)
    {
        if (eosTokenId == 2) return inputIds.argmax(-1);
        using var eos = eosTokenId.ToScalar();
        using var isEos = inputIds.eq(eos).to(ScalarType.Int32);
        return isEos.argmax(-1);
    }
}
