using VidSeek.Tensors;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace VidSeek.Models.Clip.Module;

/// <summary>Token plus position embedding (HF <c>CLIPTextEmbeddings</c>): ids <c>[B, N]</c> -> <c>[B, N, D]</c>. No LayerNorm.</summary>
public sealed class ClipTextEmbeddings : nn.Module<Tensor, Tensor>
{
    private readonly Embedding token_embedding, position_embedding;

    public ClipTextEmbeddings(ClipTextConfig c) : base(nameof(ClipTextEmbeddings))
    {
        token_embedding = nn.Embedding(c.VocabSize, c.HiddenSize);
        position_embedding = nn.Embedding(c.MaxPositionEmbeddings, c.HiddenSize);
        RegisterComponents();
    }

    public override Tensor forward(Tensor inputIds)
    {
        long n = inputIds.shape[1];
        if (n > position_embedding.weight!.shape[0])
            throw new ArgumentException($"sequence of {n} tokens is longer than the model's {position_embedding.weight.shape[0]} positions");
        using var tok = token_embedding.forward(inputIds);
        using var pos = position_embedding.weight.narrow(0, 0, n);
        return tok.Plus(pos);
    }
}
