namespace VidSeek.Models;

/// <summary>
/// The one place a model argument (<c>--model</c>, <c>--checkpoint</c>, <c>--init</c>, <c>--init-text</c>,
/// <c>--init-vision</c>) becomes a local folder that holds <c>config.json</c> + <c>model.safetensors</c>, the layout every
/// loader reads: an existing folder, or a PyTorch checkpoint converted once into a cache (<see cref="TryConvertPyTorch"/>). Extension point (issue "published models"): a Hugging Face hub id
/// (<c>org/name[@revision]</c>, resolved through the hub cache).
/// </summary>
public static class ModelSource
{
    /// <summary>The local model folder that <paramref name="spec"/> names, as an absolute path.</summary>
    /// <param name="spec">What the user typed.</param>
    /// <param name="option">The option it came from, for messages (<c>--model</c>).</param>
    /// <exception cref="VidSeekException">Nothing usable is there.</exception>
    public static string Resolve(string spec, string option = "--model")
    {
        if (string.IsNullOrWhiteSpace(spec)) throw new VidSeekException($"{option} is empty");
        if (TryConvertPyTorch(spec) is { } converted) return converted;
        if (Directory.Exists(spec)) return Path.GetFullPath(spec).TrimEnd(Path.DirectorySeparatorChar);
        if (File.Exists(spec))
            throw new VidSeekException($"{option} {spec}: expected a model folder (config.json + model.safetensors)");
        throw new VidSeekException($"model folder not found: {spec} ({option})");
    }

    /// <summary>
    /// A PyTorch checkpoint (an X-Pool <c>.pth</c>, a <c>pytorch_model.bin</c>, an openai TorchScript <c>.pt</c>, or a HF
    /// folder with only <c>pytorch_model.bin</c>): the folder it converts to, converted once into a cache
    /// (<see cref="PyTorch.ConvertedModelCache"/>). Null when <paramref name="spec"/> is not one.
    /// </summary>
    private static string? TryConvertPyTorch(string spec) =>
        PyTorch.PyTorchConverter.IsPyTorchSource(spec) ? PyTorch.ConvertedModelCache.Resolve(spec) : null;
}
