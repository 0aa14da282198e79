using TorchSharp;
using VidSeek.Tensors;
using static TorchSharp.torch;

namespace VidSeek.Models;

/// <summary>
/// Loads a safetensors file (or tensors already in memory) into a module whose parameter names are the checkpoint's key
/// names. Every key and shape is checked before any weight is touched: a missing key, an unexpected key or a shape mismatch
/// is an error that names the offending keys, never a silently half-loaded model. Weights must also be of a floating-point
/// dtype where the module holds floats (a same-size dtype swap, F32 read as I32, changes no byte count, only the dtype can
/// tell), and finite: a NaN or infinite weight turns every score into NaN, so it is refused with its name rather than
/// discovered in the output.
/// </summary>
public static class StateDictLoader
{
    private const int MaxListed = 8;

    /// <param name="module">The module to fill; its <c>state_dict()</c> keys are the expected keys.</param>
    /// <param name="path">The safetensors file.</param>
    /// <param name="what">What the module is, for messages ("the CLIP model of config.json").</param>
    /// <param name="ignorable">Keys the file may carry that the module does not need (e.g. HF <c>position_ids</c> buffers).</param>
    public static void Load(nn.Module module, string path, string what, Func<string, bool>? ignorable = null)
    {
        var header = SafeTensors.ReadHeader(path);
        var entries = header.Entries.ToDictionary(e => e.Name);
        Check(module, entries.ToDictionary(kv => kv.Key, kv => kv.Value.Shape), path, what, ignorable,
            entries.ToDictionary(kv => kv.Key, kv => (kv.Value.IsFloat, kv.Value.DType.ToString())));

        var loaded = SafeTensors.Load(path);
        try { Copy(module, loaded, path); }
        finally
        {
            foreach (var t in loaded.Values) t.Dispose();
        }
    }

    /// <summary>
    /// Fills <paramref name="module"/> from tensors already in memory (a converted PyTorch checkpoint), with the same
    /// checks as the file overload: every missing, unexpected or misshapen key is named in one error.
    /// </summary>
    /// <param name="source">What the tensors came from, for messages (the checkpoint file).</param>
    public static void Load(nn.Module module, IReadOnlyDictionary<string, Tensor> tensors, string source, string what, Func<string, bool>? ignorable = null)
    {
        Check(module, tensors.ToDictionary(kv => kv.Key, kv => kv.Value.shape), source, what, ignorable,
            tensors.ToDictionary(kv => kv.Key, kv => (kv.Value.is_floating_point(), kv.Value.dtype.ToString())));
        Copy(module, tensors, source);
    }

    private static void Copy(nn.Module module, IReadOnlyDictionary<string, Tensor> tensors, string source)
    {
        using var _ = torch.no_grad();
        foreach (var (key, target) in module.state_dict())
        {
            var tensor = tensors[key];
            if (tensor.is_floating_point() && !torch.isfinite(tensor).all().item<bool>())
                throw new VidSeekException($"{source}: tensor '{key}' has non-finite values (NaN or infinity); the file is damaged");
            target.copy_(tensor); // copy_ converts F16/BF16 checkpoints to the module's dtype
        }
    }

    /// <summary>Throws one error naming every missing, unexpected and misshapen (or wrongly typed) key of <paramref name="fileShapes"/>.</summary>
    /// <param name="fileTypes">Per key: whether the stored dtype is floating point, and its name; null skips the dtype check.</param>
    public static void Check(nn.Module module, IReadOnlyDictionary<string, long[]> fileShapes, string source, string what, Func<string, bool>? ignorable = null,
        IReadOnlyDictionary<string, (bool IsFloat, string DType)>? fileTypes = null)
    {
        var expected = module.state_dict();
        var missing = expected.Keys.Where(k => !fileShapes.ContainsKey(k)).ToList();
        var unexpected = fileShapes.Keys.Where(k => !expected.ContainsKey(k) && !(ignorable?.Invoke(k) ?? false)).ToList();
        var mismatched = expected.Where(kv => fileShapes.TryGetValue(kv.Key, out var s) && !s.SequenceEqual(kv.Value.shape))
            .Select(kv => $"{kv.Key} is [{string.Join(", ", fileShapes[kv.Key])}] in the file but [{string.Join(", ", kv.Value.shape)}] in the model")
            .ToList();
        if (fileTypes is not null)
            mismatched.AddRange(expected.Where(kv => fileTypes.TryGetValue(kv.Key, out var t) && kv.Value.is_floating_point() != t.IsFloat)
                .Select(kv => $"{kv.Key} is {fileTypes[kv.Key].DType} in the file but {(kv.Value.is_floating_point() ? "floating point (F32, F16, BF16 or F64)" : "an integer")} in the model"));
        if (missing.Count + unexpected.Count + mismatched.Count > 0)
        {
            var parts = new List<string>();
            if (missing.Count > 0) parts.Add($"{missing.Count} missing key(s): {List(missing)}");
            if (unexpected.Count > 0) parts.Add($"{unexpected.Count} unexpected key(s): {List(unexpected)}");
            if (mismatched.Count > 0) parts.Add($"{mismatched.Count} shape mismatch(es): {List(mismatched)}");
            throw new VidSeekException($"{source} does not fit {what}: {string.Join("; ", parts)}");
        }
    }

    private static string List(List<string> items) =>
        string.Join(", ", items.Take(MaxListed)) + (items.Count > MaxListed ? $", ... ({items.Count - MaxListed} more)" : "");
}
