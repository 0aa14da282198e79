using System.Text.Json;
using TorchSharp;
using VidSeek.Tensors;

namespace VidSeek.Models;

/// <summary>The Hugging Face folder layout every VidSeek model saves to: <c>model.safetensors</c> + <c>config.json</c>.</summary>
public static class PretrainedFolder
{
    /// <summary>Writes the module's state_dict and its config; each file is written beside and renamed into place.</summary>
    public static void Save(string folder, torch.nn.Module module, string configJson)
    {
        Directory.CreateDirectory(folder);
        SafeTensors.Save(Path.Combine(folder, "model.safetensors"), module.state_dict(), new Dictionary<string, string> { ["format"] = "pt" });
        string config = Path.Combine(folder, "config.json");
        File.WriteAllText(config + ".tmp", configJson);
        File.Move(config + ".tmp", config, overwrite: true);
    }

    /// <summary>The <c>model_type</c> of <c>FOLDER/config.json</c> (<c>clip</c>, <c>vidseek-dual-encoder</c>, <c>vidseek-vlt</c>), or null if it has none.</summary>
    public static string? ModelType(string folder)
    {
        if (!Directory.Exists(folder)) throw new VidSeekException($"checkpoint folder not found: {folder}");
        string configPath = Path.Combine(folder, "config.json");
        if (!File.Exists(configPath)) throw new VidSeekException($"config.json not found in {folder}");
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(configPath));
            return doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("model_type", out var t) && t.ValueKind == JsonValueKind.String
                ? t.GetString() : null;
        }
        catch (JsonException e) { throw new VidSeekException($"cannot parse {configPath}: {e.Message}"); }
    }
}
