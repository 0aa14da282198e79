using TorchSharp;
using VidSeek.Models.Vlt;
using static TorchSharp.torch;

namespace VidSeek.Text;

/// <summary>
/// Captions to the BERT text encoder's input of a VLT model, with either of the two vocabularies a VLT checkpoint can record
/// (<see cref="VideoLanguageConfig.Tokenizer"/>):
/// <list type="bullet">
/// <item><see cref="ClipBpe"/>, the CLIP BPE of the models VidSeek trains from scratch (the Shapes presets use <c>vocab_size</c>
/// 49408): each row is SOT + BPE ids + EOT, SOT standing in the position of BERT's [CLS] (the ITC and ITM heads read position 0);</item>
/// <item><see cref="WordPiece"/>, BERT's own (<c>vocab.txt</c>, with <c>--init-text</c>): <c>[CLS] pieces [SEP]</c>.</item>
/// </list>
/// Rows are padded to the longest row of the batch (at most <see cref="MaxLength"/>, the model's <c>max_position_embeddings</c>)
/// with the pad id (0 in both vocabularies); the mask is 1 on real tokens.
/// </summary>
public sealed class VltTextTokenizer
{
    /// <summary>The names <c>config.json</c> records under <c>tokenizer</c>.</summary>
    public const string ClipBpe = "clip-bpe", WordPiece = "wordpiece";

    public ClipTokenizer? Clip { get; }
    public WordPieceTokenizer? Bert { get; }
    public int MaxLength { get; }

    /// <summary>The files of the tokenizer, to copy into a checkpoint folder; empty when not known (built from a bare <see cref="ClipTokenizer"/>).</summary>
    public IReadOnlyList<string> Files { get; }

    public VltTextTokenizer(ClipTokenizer tokenizer, int maxLength = 77) : this(tokenizer, null, maxLength, []) { }

    public VltTextTokenizer(WordPieceTokenizer tokenizer, int maxLength) : this(null, tokenizer, maxLength, tokenizer.Files) { }

    private VltTextTokenizer(ClipTokenizer? clip, WordPieceTokenizer? bert, int maxLength, IReadOnlyList<string> files)
    {
        if (maxLength < 2) throw new ArgumentOutOfRangeException(nameof(maxLength), maxLength, "at least 2 positions are needed");
        Clip = clip;
        Bert = bert;
        MaxLength = maxLength;
        Files = files;
    }

    /// <summary><see cref="ClipBpe"/> or <see cref="WordPiece"/>.</summary>
    public string Kind => Bert is null ? ClipBpe : WordPiece;

    /// <summary>Entries of the vocabulary: the largest id is one less.</summary>
    public int VocabSize => Bert?.VocabSize ?? Clip!.VocabSize;

    /// <summary>
    /// The tokenizer whose files are in <paramref name="folder"/>: WordPiece when it holds <c>vocab.txt</c>, else the CLIP BPE
    /// (<c>vocab.json</c> + <c>merges.txt</c>).
    /// </summary>
    public static VltTextTokenizer FromFolder(string folder, int maxLength) =>
        Directory.Exists(folder) && WordPieceTokenizer.IsIn(folder) ? Load(folder, WordPiece, maxLength) : Load(folder, ClipBpe, maxLength);

    /// <summary>
    /// The tokenizer of the VLT checkpoint in <paramref name="folder"/>: the kind its <c>config.json</c> records (checkpoints
    /// written before the field existed used the CLIP BPE), read from the folder or from <paramref name="tokenizerDir"/>.
    /// </summary>
    /// <exception cref="VidSeekException">The files of that kind are not there, or the vocabulary is larger than the model's.</exception>
    public static VltTextTokenizer ForModel(string folder, VideoLanguageConfig config, string? tokenizerDir = null)
    {
        string kind = config.Tokenizer ?? ClipBpe;
        string dir = tokenizerDir ?? folder;
        var tok = Load(dir, kind, config.Text.MaxPositionEmbeddings);
        tok.CheckFits(config, dir);
        return tok;
    }

    /// <summary>Throws unless every id of this tokenizer is below the text encoder's <c>vocab_size</c>.</summary>
    public void CheckFits(VideoLanguageConfig config, string where)
    {
        if (VocabSize > config.Text.VocabSize)
            throw new VidSeekException($"the {Kind} tokenizer in {where} has {VocabSize} tokens but the text encoder's vocab_size is {config.Text.VocabSize}");
    }

    private static VltTextTokenizer Load(string folder, string kind, int maxLength) => kind switch
    {
        WordPiece => new VltTextTokenizer(WordPieceTokenizer.FromFolder(folder), maxLength),
        ClipBpe => new VltTextTokenizer(ClipTokenizer.FromFolder(folder), null, maxLength,
            [Path.Combine(folder, ClipTokenizer.VocabFile), Path.Combine(folder, ClipTokenizer.MergesFile)]),
        _ => throw new VidSeekException($"unknown tokenizer '{kind}' (expected {ClipBpe} or {WordPiece})"),
    };

    /// <summary>Ids and attention mask, both <c>[n, N]</c> int64 with N the longest row; the caller disposes them.</summary>
    public (Tensor Ids, Tensor Mask) Tokenize(IReadOnlyList<string> texts)
    {
        if (texts.Count == 0) throw new ArgumentException("no texts to tokenize", nameof(texts));
        long[][] rows;
        long pad;
        if (Bert is not null)
        {
            rows = texts.Select(t => Bert.Encode(t, MaxLength)).ToArray();
            pad = Bert.PadId;
        }
        else
        {
            var batch = Clip!.EncodeBatch(texts, MaxLength);
            rows = Enumerable.Range(0, texts.Count).Select(r => batch.Row(r)[..(batch.EotPositions[r] + 1)].ToArray()).ToArray();
            pad = 0;
        }
        int n = rows.Max(r => r.Length);
        var ids = new long[texts.Count * n];
        var mask = new long[texts.Count * n];
        ids.AsSpan().Fill(pad);
        for (int r = 0; r < rows.Length; r++)
        {
            rows[r].CopyTo(ids.AsSpan(r * n, rows[r].Length));
            mask.AsSpan(r * n, rows[r].Length).Fill(1);
        }
        return (torch.tensor(ids, [texts.Count, n], int64), torch.tensor(mask, [texts.Count, n], int64));
    }
}
