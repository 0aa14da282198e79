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
}
