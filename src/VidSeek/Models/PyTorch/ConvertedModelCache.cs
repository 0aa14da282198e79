using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace VidSeek.Models.PyTorch;

/// <summary>
/// PyTorch checkpoints given where a model folder is expected (<c>--model model_best.pth</c>) are converted once into
/// <c>$XDG_CACHE_HOME/vidseek/converted/SHA256/</c> (else <c>~/.cache/vidseek/converted/</c>), keyed by the SHA-256 of the
/// checkpoint's bytes (and config.json for a folder) and the conversion options, written atomically and reused next time.
/// <para>
/// Options come from an optional sidecar next to a checkpoint file, <c>FILE.vidseek.json</c> (e.g.
/// <c>model_best.pth.vidseek.json</c>): <c>{"clip_config": "config.json|DIR|preset", "xpool_heads": 2, "tokenizer": "DIR"}</c>,
/// paths relative to the sidecar. Without one, X-Pool's head count is 1 and the CLIP architecture is inferred.
/// </para>
/// </summary>
public static class ConvertedModelCache
{
    public const string SidecarSuffix = ".vidseek.json";
    private const string FormatVersion = "vidseek-convert-1"; // bump when the conversion's output changes

    /// <summary>The cache root.</summary>
    public static string Root
    {
        get
        {
            string? xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
            string baseDir = !string.IsNullOrEmpty(xdg) ? xdg : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
            return Path.Combine(baseDir, "vidseek", "converted");
        }
    }

    /// <summary>The converted folder for <paramref name="source"/> (a checkpoint file or a folder with only pytorch_model.bin), converting it on first use.</summary>
    public static string Resolve(string source)
    {
        source = Path.GetFullPath(source).TrimEnd(Path.DirectorySeparatorChar);
        var options = Directory.Exists(source) ? new ConvertOptions() : ReadSidecar(source + SidecarSuffix);
        string folder = Path.Combine(Root, Key(source, options));
        if (File.Exists(Path.Combine(folder, "config.json")) && File.Exists(Path.Combine(folder, "model.safetensors"))) return folder;
        Directory.CreateDirectory(Root);
        try
        {
            return PyTorchConverter.Convert(source, folder, options).Folder;
        }
        catch (Exception e) when (e is IOException or VidSeekException && File.Exists(Path.Combine(folder, "model.safetensors")))
        {
            return folder; // another process finished the same conversion first
        }
    }

    private static string Key(string source, ConvertOptions options)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        sha.AppendData(Encoding.UTF8.GetBytes(FormatVersion + "\n" + options.CacheKey() + "\n"));
        var files = Directory.Exists(source)
            ? new[] { Path.Combine(source, PyTorchConverter.PyTorchBin), Path.Combine(source, "config.json"), Path.Combine(source, "vocab.json"), Path.Combine(source, "merges.txt") }
            : [source];
        foreach (var f in files.Where(File.Exists))
        {
            using var fs = File.OpenRead(f);
            var buffer = new byte[1 << 20];
            int n;
            while ((n = fs.Read(buffer)) > 0) sha.AppendData(buffer, 0, n);
        }
        foreach (var dep in new[] { options.ClipConfig, options.Tokenizer })
            if (dep is not null && File.Exists(dep)) sha.AppendData(File.ReadAllBytes(dep));
            else if (dep is not null && Directory.Exists(dep))
                foreach (var f in new[] { "config.json", "vocab.json", "merges.txt" }.Select(f => Path.Combine(dep, f)).Where(File.Exists))
                    sha.AppendData(File.ReadAllBytes(f));
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }

    private sealed record Sidecar(
        [property: System.Text.Json.Serialization.JsonPropertyName("clip_config")] string? ClipConfig,
        [property: System.Text.Json.Serialization.JsonPropertyName("xpool_heads")] int? XPoolHeads,
        [property: System.Text.Json.Serialization.JsonPropertyName("tokenizer")] string? Tokenizer);

    /// <summary>The options of <c>FILE.vidseek.json</c>, paths resolved against its folder; defaults when there is none.</summary>
    public static ConvertOptions ReadSidecar(string path)
    {
        if (!File.Exists(path)) return new ConvertOptions();
        Sidecar? s;
        try { s = JsonSerializer.Deserialize<Sidecar>(File.ReadAllText(path), new JsonSerializerOptions { UnmappedMemberHandling = System.Text.Json.Serialization.JsonUnmappedMemberHandling.Disallow }); }
        catch (JsonException e) { throw new VidSeekException($"cannot parse {path}: {e.Message}"); }
        if (s is null) throw new VidSeekException($"cannot parse {path}: empty document");
        string dir = Path.GetDirectoryName(path)!;
        string? Rel(string? p) => p is null ? null : Path.IsPathRooted(p) || !(File.Exists(Path.Combine(dir, p)) || Directory.Exists(Path.Combine(dir, p))) ? p : Path.Combine(dir, p);
        return new ConvertOptions { ClipConfig = Rel(s.ClipConfig), XPoolHeads = s.XPoolHeads, Tokenizer = Rel(s.Tokenizer) };
    }
}
