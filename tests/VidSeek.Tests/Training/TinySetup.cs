using TorchSharp;
using VidSeek.Data;
using VidSeek.Models.Clip;
using VidSeek.Models.DualEncoder;
using VidSeek.Text;

namespace VidSeek.Tests.Training;

/// <summary>A tiny dual encoder and a 6-video split made of the shared fixture videos, for fast training tests.</summary>
public static class TinySetup
{
    public static string TokenizerDir => Path.Combine(TestPaths.Golden, "clip-tokenizer");
    private static readonly Lazy<ClipTokenizer> SharedTokenizer = new(() => ClipTokenizer.FromFolder(TokenizerDir));
    public static ClipTokenizer Tokenizer => SharedTokenizer.Value;

    public static ClipConfig ClipConfig => new()
    {
        ProjectionDim = 32,
        TextConfig = new ClipTextConfig { VocabSize = 49408, HiddenSize = 32, IntermediateSize = 64, NumAttentionHeads = 2, NumHiddenLayers = 1, MaxPositionEmbeddings = 16 },
        VisionConfig = new ClipVisionConfig { HiddenSize = 32, IntermediateSize = 64, NumAttentionHeads = 2, NumHiddenLayers = 1, ImageSize = 32, PatchSize = 16 },
    };

    public static DualEncoderModel NewModel(VideoPooling pooling, int seed = 0, int frames = 4)
    {
        torch.manual_seed(seed);
        return new DualEncoderModel(new DualEncoderConfig { Pooling = pooling, Clip = ClipConfig, NumFrames = frames, XPoolHeads = 2 });
    }

    public static RetrievalSplit Split()
    {
        string[] files = ["bars_h264.mp4", "numbered_h264.mp4", "counter_mpeg4.mp4", "zoom_h264.mkv", "moving_vp8.webm", "cellauto_mjpeg.avi"];
        var videos = files.Select(f => new VideoEntry(Path.GetFileNameWithoutExtension(f), Path.Combine(TestPaths.Videos, f))).ToList();
        var captions = new List<CaptionEntry>();
        for (int i = 0; i < files.Length; i++)
        {
            captions.Add(new CaptionEntry($"video number {i} with colour bars", i, "full"));
            captions.Add(new CaptionEntry($"a clip {files[i].Split('_')[0]}", i, "segment"));
        }
        return new RetrievalSplit("fixtures", "train", videos, captions);
    }
}
