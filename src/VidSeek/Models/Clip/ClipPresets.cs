namespace VidSeek.Models.Clip;

/// <summary>Named CLIP architectures for training from scratch (no checkpoint), with the real CLIP BPE vocabulary.</summary>
public static class ClipPresets
{
    /// <summary>
    /// For the 64x64 Shapes videos on a CPU: 64 px input, 8 px patches (65 tokens), 4 layers of width 128 in both
    /// towers, 77 text positions (a 3-segment caption runs past 32 tokens), 128-d joint space. About 8.7M parameters, 6.3M of them the token embedding.
    /// </summary>
    public static ClipConfig ShapesSmall => new()
    {
        ProjectionDim = 128,
        TextConfig = new ClipTextConfig { HiddenSize = 128, IntermediateSize = 512, NumAttentionHeads = 4, NumHiddenLayers = 4, MaxPositionEmbeddings = 77 },
        VisionConfig = new ClipVisionConfig { HiddenSize = 128, IntermediateSize = 512, NumAttentionHeads = 4, NumHiddenLayers = 4, ImageSize = 64, PatchSize = 8 },
    };

    /// <summary>A very small model for tests and smoke runs: 32 px input, 1 layer of width 32.</summary>
    public static ClipConfig Tiny => new()
    {
        ProjectionDim = 32,
        TextConfig = new ClipTextConfig { HiddenSize = 32, IntermediateSize = 64, NumAttentionHeads = 2, NumHiddenLayers = 1, MaxPositionEmbeddings = 16 },
        VisionConfig = new ClipVisionConfig { HiddenSize = 32, IntermediateSize = 64, NumAttentionHeads = 2, NumHiddenLayers = 1, ImageSize = 32, PatchSize = 16 },
    };

    public static IReadOnlyDictionary<string, Func<ClipConfig>> All { get; } = new Dictionary<string, Func<ClipConfig>>
    {
        ["shapes-small"] = () => ShapesSmall,
        ["tiny"] = () => Tiny,
    };

    /// <summary>A preset by name, or a CLIP <c>config.json</c> file.</summary>
    public static ClipConfig Resolve(string nameOrFile)
    {
        if (All.TryGetValue(nameOrFile, out var make)) return make();
        if (File.Exists(nameOrFile)) return ClipConfig.Load(nameOrFile);
        throw new VidSeekException($"--clip-config '{nameOrFile}' is neither a preset ({string.Join(", ", All.Keys)}) nor a config.json file");
    }
}
