using VidSeek.Tensors;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace VidSeek.Models.Vlt.Module;

/// <summary>
/// Word, position and token-type embeddings, then LayerNorm (HF <c>BertEmbeddings</c>): ids <c>[B, N]</c> -> <c>[B, N, D]</c>.
/// Token type 0 everywhere (single-segment text); positions <c>0..N-1</c> for every row, padding included.
/// </summary>
public sealed class BertEmbeddings : nn.Module<Tensor, Tensor>
{
    // Field names are the checkpoint's key names: loading is a name lookup.
    private readonly Embedding word_embeddings, position_embeddings, token_type_embeddings;
    private readonly LayerNorm LayerNorm;

    public BertEmbeddings(BertConfig c) : base(nameof(BertEmbeddings))
    {
        // No padding_idx: it only freezes one row in training, and with the CLIP BPE vocabulary id 0 is a real token.
        word_embeddings = nn.Embedding(c.VocabSize, c.HiddenSize);
        position_embeddings = nn.Embedding(c.MaxPositionEmbeddings, c.HiddenSize);
        token_type_embeddings = nn.Embedding(c.TypeVocabSize, c.HiddenSize);
        LayerNorm = nn.LayerNorm(c.HiddenSize, c.LayerNormEps);
        RegisterComponents();
    }

    public override Tensor forward(Tensor inputIds)
    {
        long n = inputIds.shape[1];
        using var word = word_embeddings.forward(inputIds);
        using var type = token_type_embeddings.weight!.select(0, 0);
        using var pos = position_embeddings.weight!.narrow(0, 0, n);
        // HF's order, (word + type) + position: float addition is not associative.
        using var wt = word.Plus(type);
        using var sum = wt.Plus(pos);
        return LayerNorm.forward(sum);
    }
}
