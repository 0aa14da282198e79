using TorchSharp;
using VidSeek.Tensors;
using static TorchSharp.torch;

namespace VidSeek.Models;

/// <summary>
/// Loads a safetensors file into a module whose parameter names are the checkpoint's key names.
/// Every key and shape is checked before any weight is touched: a missing key, an unexpected key or a
/// shape mismatch is an error that names the offending keys, never a silently half-loaded model. Weights must also be of a
/// floating-point dtype where the module holds floats (a same-size dtype swap, F32 read as I32, changes no byte count, only
/// the dtype can tell), and finite: a NaN or infinite weight turns every score into NaN, so it is refused with its name
/// rather than discovered in the output.
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
        var fileShapes = header.Entries.ToDictionary(e => e.Name, e => e.Shape);
        var fileEntries = header.Entries.ToDictionary(e => e.Name);
        var expected = module.state_dict();

        var missing = expected.Keys.Where(k => !fileShapes.ContainsKey(k)).ToList();
        var unexpected = fileShapes.Keys.Where(k => !expected.ContainsKey(k) && !(ignorable?.Invoke(k) ?? false)).ToList();
        var mismatched = expected.Where(kv => fileShapes.TryGetValue(kv.Key, out var s) && !s.SequenceEqual(kv.Value.shape))
            .Select(kv => $"{kv.Key} is [{string.Join(", ", fileShapes[kv.Key])}] in the file but [{string.Join(", ", kv.Value.shape)}] in the model")
            .ToList();
        var wrongType = expected.Where(kv => fileEntries.TryGetValue(kv.Key, out var e) && kv.Value.is_floating_point() != e.IsFloat)
            .Select(kv => $"{kv.Key} is {fileEntries[kv.Key].DType} in the file but {(kv.Value.is_floating_point() ? "floating point (F32, F16, BF16 or F64)" : "an integer")} in the model")
            .ToList();
        if (wrongType.Count > 0) mismatched.AddRange(wrongType);
        if (missing.Count + unexpected.Count + mismatched.Count > 0)
        {
            var parts = new List<string>();
            if (missing.Count > 0) parts.Add($"{missing.Count} missing key(s): {List(missing)}");
            if (unexpected.Count > 0) parts.Add($"{unexpected.Count} unexpected key(s): {List(unexpected)}");
            if (mismatched.Count > 0) parts.Add($"{mismatched.Count} shape mismatch(es): {List(mismatched)}");
            throw new VidSeekException($"{path} does not fit {what}: {string.Join("; ", parts)}");
        }

        var loaded = SafeTensors.Load(path);
        try
        {
            using var _ = torch.no_grad();
            foreach (var (key, target) in expected)
            {
                var source = loaded[key];
                if (source.is_floating_point() && !torch.isfinite(source).all().item<bool>())
                    throw new VidSeekException($"{path}: tensor '{key}' has non-finite values (NaN or infinity); the file is damaged");
                target.copy_(source); // copy_ converts F16/BF16 checkpoints to the module's dtype
            }
        }
        finally
        {
            foreach (var t in loaded.Values) t.Dispose();
        }
    }

    private static string List(List<string> items) =>
        string.Join(", ", items.Take(MaxListed)) + (items.Count > MaxListed ? $", ... ({items.Count - MaxListed} more)" : "");
}
