namespace VidSeek.Models;

/// <summary>
/// The one place a model argument (<c>--model</c>, <c>--checkpoint</c>, <c>--init</c>, <c>--init-text</c>,
/// <c>--init-vision</c>) becomes a local folder that holds <c>config.json</c> + <c>model.safetensors</c>, the layout every
/// loader reads: an existing folder; a PyTorch checkpoint converted once into a cache (<see cref="TryConvertPyTorch"/>); or a
/// Hugging Face hub id (<c>org/name[@revision]</c>), resolved through the hub cache and downloaded if missing
/// (<see cref="TryResolveHubId"/>).
/// </summary>
public static class ModelSource
{
    /// <summary>The local model folder that <paramref name="spec"/> names, as an absolute path.</summary>
    /// <param name="spec">What the user typed.</param>
    /// <param name="option">The option it came from, for messages (<c>--model</c>).</param>
    /// <param name="hub">How to reach the Hugging Face hub and its cache (default: from the environment, as huggingface_hub reads it).</param>
    /// <exception cref="VidSeekException">Nothing usable is there.</exception>
    public static string Resolve(string spec, string option = "--model", Hub.HubOptions? hub = null)
    {
        if (string.IsNullOrWhiteSpace(spec)) throw new VidSeekException($"{option} is empty");
        if (TryConvertPyTorch(spec) is { } converted) return converted;
        if (Directory.Exists(spec)) return Path.GetFullPath(spec).TrimEnd(Path.DirectorySeparatorChar);
        if (File.Exists(spec))
            throw new VidSeekException($"{option} {spec}: expected a model folder (config.json + model.safetensors)");
        if (TryResolveHubId(spec, option, hub) is { } snapshot) return Resolve(snapshot, option);
        throw new VidSeekException($"model folder not found: {spec} ({option})");
    }

    /// <summary>
    /// A PyTorch checkpoint (an X-Pool <c>.pth</c>, a <c>pytorch_model.bin</c>, an openai TorchScript <c>.pt</c>, or a HF
    /// folder with only <c>pytorch_model.bin</c>): the folder it converts to, converted once into a cache
    /// (<see cref="PyTorch.ConvertedModelCache"/>). Null when <paramref name="spec"/> is not one.
    /// </summary>
    private static string? TryConvertPyTorch(string spec) =>
        PyTorch.PyTorchConverter.IsPyTorchSource(spec) ? PyTorch.ConvertedModelCache.Resolve(spec) : null;

    /// <summary>
    /// A Hugging Face hub id (<c>org/name[@revision]</c>, or <c>name</c> for a root repository) that is not a local path:
    /// the snapshot folder in the hub cache, downloaded first if the cache lacks it (<see cref="Hub.HubClient"/>). The
    /// folder then goes through <see cref="Resolve"/> like any other, so a repository with only <c>pytorch_model.bin</c>
    /// is handled as a local folder with only that file is. Null when <paramref name="spec"/> is not shaped like an id.
    /// </summary>
    public static string? TryResolveHubId(string spec, string option = "--model", Hub.HubOptions? hub = null)
    {
        if (!Hub.HubRepoId.TryParse(spec, out var id)) return null;
        try
        {
            using var client = new Hub.HubClient(hub ?? Hub.HubOptions.FromEnvironment());
            return client.Snapshot(id!, Hub.HubFiles.Model);
        }
        catch (VidSeekException e)
        {
            throw new VidSeekException($"{option} {spec}: no such folder, and from the Hugging Face hub: {e.Message}", e);
        }
    }
}
