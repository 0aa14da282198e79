using VidSeek.Models.Clip;
using VidSeek.Text;

namespace VidSeek.Models.DualEncoder;

/// <summary>A model ready for retrieval and the tokenizer that goes with it.</summary>
public sealed record RetrievalCheckpoint(DualEncoderModel Model, ClipTextEmbedder Texts, string Folder) : IDisposable
{
    /// <summary>
    /// Opens a VidSeek checkpoint folder (written by <c>vidseek train</c>), or a Hugging Face CLIP folder, which
    /// gives zero-shot CLIP with mean pooling. The tokenizer is <paramref name="tokenizerDir"/>, else the folder's own.
    /// </summary>
    public static RetrievalCheckpoint Open(string folder, string? tokenizerDir = null, int numFrames = 12)
    {
        string? type = PretrainedFolder.ModelType(folder);
        string configPath = Path.Combine(folder, "config.json");
        if (type == VideoLanguageModelType)
            throw new VidSeekException($"{folder} holds a video-language (VLT) model, not a dual encoder");
        DualEncoderModel model = type == "clip"
            ? new DualEncoderModel(new DualEncoderConfig { Pooling = VideoPooling.MeanP, Clip = ClipConfig.Load(configPath), NumFrames = numFrames }, ClipModel.FromPretrained(folder))
            : DualEncoderModel.Load(folder);
        model.eval();
        model.Clip.SetPrecision(InferencePrecision.Current);
        var (tokenizer, tokFolder) = ClipTextEmbedder.ResolveTokenizer(folder, tokenizerDir);
        return new RetrievalCheckpoint(model, new ClipTextEmbedder(model.Clip, tokenizer, tokFolder), folder);
    }

    /// <summary>The CLIP model of a Hugging Face CLIP folder, or the backbone of a VidSeek checkpoint (to fine-tune another head on it).</summary>
    public static ClipModel OpenBackbone(string folder)
    {
        string configPath = Path.Combine(folder, "config.json");
        if (File.Exists(configPath) && File.ReadAllText(configPath).Contains("\"vidseek-dual-encoder\""))
            return DualEncoderModel.Load(folder).Clip;
        return ClipModel.FromPretrained(folder);
    }

    private const string VideoLanguageModelType = "vidseek-vlt";

    public void Dispose() => Model.Dispose();
}
