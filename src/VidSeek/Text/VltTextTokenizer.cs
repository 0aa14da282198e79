using TorchSharp;
using static TorchSharp.torch;

namespace VidSeek.Text;

/// <summary>
/// Captions to the BERT text encoder's input of a VLT model trained with the CLIP BPE vocabulary (the Shapes presets use
/// <c>vocab_size</c> 49408): each row is SOT + BPE ids + EOT, where SOT stands in the position of BERT's [CLS] (the ITC
/// and ITM heads read position 0), zero-padded to the longest row of the batch (at most <see cref="MaxLength"/>).
/// </summary>
/// <remarks>
/// A real BERT checkpoint needs its WordPiece vocabulary instead (Microsoft.ML.Tokenizers' <c>BertTokenizer</c>); only the
/// CLIP BPE path is wired here because every VLT model VidSeek can train from scratch uses it.
/// </remarks>
public sealed class VltTextTokenizer(ClipTokenizer tokenizer, int maxLength = 77)
{
    public ClipTokenizer Clip { get; } = tokenizer;
    public int MaxLength { get; } = maxLength;

    /// <summary>Ids and attention mask, both <c>[n, N]</c> int64 with N the longest row; the caller disposes them.</summary>
    public (Tensor Ids, Tensor Mask) Tokenize(IReadOnlyList<string> texts)
    {
        if (texts.Count == 0) throw new ArgumentException("no texts to tokenize", nameof(texts));
        var batch = Clip.EncodeBatch(texts, MaxLength);
        int n = batch.EotPositions.Max() + 1;
        var ids = new long[texts.Count * n];
        var mask = new long[texts.Count * n];
        for (int r = 0; r < texts.Count; r++)
        {
            batch.Row(r)[..n].CopyTo(ids.AsSpan(r * n, n));
            mask.AsSpan(r * n, batch.EotPositions[r] + 1).Fill(1);
        }
        return (torch.tensor(ids, [texts.Count, n], int64), torch.tensor(mask, [texts.Count, n], int64));
    }
}
