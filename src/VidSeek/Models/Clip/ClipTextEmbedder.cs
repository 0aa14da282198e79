using TorchSharp;
using VidSeek.Text;
using static TorchSharp.torch;

namespace VidSeek.Models.Clip;

/// <summary>
/// Text -> CLIP text embeddings: tokenizes with the model's own context length, checks that every id
/// exists in the model's vocabulary (a tokenizer from another model is an error, not an index crash),
/// and encodes in batches.
/// </summary>
public sealed class ClipTextEmbedder
{
    private readonly ClipModel model;
    private readonly ClipTokenizer tokenizer;
    private readonly string tokenizerSource;

    public ClipTextEmbedder(ClipModel model, ClipTokenizer tokenizer, string tokenizerSource)
    {
        this.model = model;
        this.tokenizer = tokenizer;
        this.tokenizerSource = tokenizerSource;
    }

    /// <summary>
    /// The tokenizer for a model folder: <paramref name="tokenizerFolder"/> when given, else the model folder's own
    /// <c>vocab.json</c> + <c>merges.txt</c>. Returns the folder it came from.
    /// </summary>
    public static (ClipTokenizer Tokenizer, string Folder) ResolveTokenizer(string modelFolder, string? tokenizerFolder)
    {
        string folder = tokenizerFolder ?? modelFolder;
        if (tokenizerFolder is null && !(File.Exists(Path.Combine(folder, ClipTokenizer.VocabFile)) && File.Exists(Path.Combine(folder, ClipTokenizer.MergesFile))))
            throw new VidSeekException($"no tokenizer in model folder {modelFolder}: {ClipTokenizer.VocabFile} and {ClipTokenizer.MergesFile} are missing; pass --tokenizer DIR with the model's tokenizer files");
        return (ClipTokenizer.FromFolder(folder), folder);
    }

    /// <summary>Token ids <c>[N, L]</c> (L = the model's context length), checked against the model's vocabulary.</summary>
    public TokenBatch Tokenize(IReadOnlyList<string> texts)
    {
        var batch = tokenizer.EncodeBatch(texts, model.ContextLength);
        int vocab = model.Config.TextConfig.VocabSize;
        for (int i = 0; i < batch.Ids.Length; i++)
        {
            if (batch.Ids[i] >= vocab)
                throw new VidSeekException(
                    $"token id {batch.Ids[i]} of text {i / batch.ContextLength + 1} is outside the model's vocabulary of {vocab} (text_config.vocab_size): the tokenizer in {tokenizerSource} ({tokenizer.VocabSize} tokens) does not belong to this model");
        }
        return batch;
    }

    /// <summary>Text embeddings <c>[N, E]</c> (projected, not normalised), <paramref name="batchSize"/> texts at a time.</summary>
    public Tensor Embed(IReadOnlyList<string> texts, int batchSize = 64)
    {
        if (texts.Count == 0) throw new ArgumentException("no texts");
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        using var ids = Tokenize(texts).ToTensor();
        var parts = new List<Tensor>();
        for (long i = 0; i < texts.Count; i += batchSize)
            parts.Add(model.GetTextFeatures(ids.narrow(0, i, Math.Min(batchSize, texts.Count - i))));
        return torch.cat(parts, 0).MoveToOuterDisposeScope();
    }
}
