namespace VidSeek.Models.Vlt;

/// <summary>Named BERT text/fusion encoder architectures.</summary>
public static class BertPresets
{
    /// <summary>
    /// BERT-base as VindLU uses it: 12 layers of width 768, 12 heads, WordPiece vocabulary of 30522, 512 positions;
    /// layers 9-11 add cross-attention to video tokens of width 768 (ViT-B). About 110M parameters plus 3 cross-attention blocks.
    /// </summary>
    public static BertConfig Base => new()
    {
        VocabSize = 30522, HiddenSize = 768, NumHiddenLayers = 12, NumAttentionHeads = 12, IntermediateSize = 3072,
        MaxPositionEmbeddings = 512, TypeVocabSize = 2, FusionLayer = 9, EncoderWidth = 768,
    };

    /// <summary>
    /// For Shapes on a CPU, beside <c>ClipPresets.ShapesSmall</c>: 4 layers of width 128 (4 heads), the last 2 fusion
    /// layers reading video tokens of width 128; the CLIP BPE vocabulary (49408) and its 77 positions.
    /// <c>initializer_range</c> is 1/sqrt(128), not BERT's 0.02: trained from scratch with ITC alone (no masked-LM), at 0.02
    /// the [CLS] of every caption starts out the same (mean cosine 1.000 across a batch, vs 0.96) and the contrastive
    /// gradient through it is too small to start learning (measured with <c>vidseek-bench vlt-probe</c>).
    /// </summary>
    public static BertConfig ShapesSmall => new()
    {
        VocabSize = 49408, HiddenSize = 128, NumHiddenLayers = 4, NumAttentionHeads = 4, IntermediateSize = 512,
        MaxPositionEmbeddings = 77, TypeVocabSize = 2, FusionLayer = 2, EncoderWidth = 128, InitializerRange = 0.088,
    };

    public static IReadOnlyDictionary<string, Func<BertConfig>> All { get; } = new Dictionary<string, Func<BertConfig>>
    {
        ["bert-base"] = () => Base,
        ["shapes-small"] = () => ShapesSmall,
    };

    /// <summary>A preset by name, or a BERT <c>config.json</c> file.</summary>
    public static BertConfig Resolve(string nameOrFile)
    {
        if (All.TryGetValue(nameOrFile, out var make)) return make();
        if (File.Exists(nameOrFile)) return BertConfig.Load(nameOrFile);
        throw new VidSeekException($"BERT config '{nameOrFile}' is neither a preset ({string.Join(", ", All.Keys)}) nor a config.json file");
    }
}
