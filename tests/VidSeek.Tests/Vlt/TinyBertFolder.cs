using System.Text.Json.Nodes;
using TorchSharp;
using VidSeek.Tensors;
using static TorchSharp.torch;

namespace VidSeek.Tests.Vlt;

/// <summary>
/// Hugging Face BERT folders made from the golden <c>bert-fusion-tiny</c> weights without its cross-attention (a plain BERT, as
/// <c>bert-base-uncased</c> is): <c>config.json</c> without <c>fusion_layer</c>/<c>encoder_width</c>, <c>model.safetensors</c>, and a
/// 120-line <c>vocab.txt</c> whose ids 0, 1, 2 are <c>[PAD]</c>, <c>[CLS]</c>, <c>[SEP]</c> as in the golden inputs.
/// </summary>
internal static class TinyBertFolder
{
    public static string Golden => Path.Combine(TestPaths.Golden, "bert-fusion-tiny");

    /// <summary>Words for the fixture corpus' captions ("video number 3 with colour bars", "a clip counter"), then fillers.</summary>
    private static readonly string[] Words =
    [
        "[PAD]", "[CLS]", "[SEP]", "[UNK]", "[MASK]", "video", "number", "with", "colour", "bars", "a", "clip", "counter", "zoom", "moving",
        "cell", "##auto", "numbered", "0", "1", "2", "3", "4", "5", "red", "circle", "moves", "left", "the", ".",
    ];

    /// <summary>Writes the folder.</summary>
    /// <param name="maskedLm">
    /// true: <c>BertForMaskedLM</c> keys (<c>bert.</c> prefix, no pooler, <c>cls.predictions.*</c> head) with the embeddings'
    /// LayerNorm under the TF-era names <c>gamma</c>/<c>beta</c> that <c>bert-base-uncased</c> keeps; false: <c>BertModel</c> keys.
    /// </param>
    public static string Write(string dir, bool maskedLm)
    {
        Directory.CreateDirectory(dir);
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(Golden, "config.json")))!.AsObject();
        config.Remove("fusion_layer");
        config.Remove("encoder_width");
        config["architectures"] = new JsonArray(maskedLm ? "BertForMaskedLM" : "BertModel");
        File.WriteAllText(Path.Combine(dir, "config.json"), config.ToJsonString());
        File.WriteAllLines(Path.Combine(dir, "vocab.txt"), Words.Concat(Enumerable.Range(Words.Length, 120 - Words.Length).Select(i => $"w{i}")));
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), """{"do_lower_case": true, "model_max_length": 24}""");

        var weights = SafeTensors.Load(Path.Combine(Golden, "weights.safetensors"));
        var output = new Dictionary<string, Tensor>();
        foreach (var (key, t) in weights)
        {
            if (key.Contains(".crossattention.")) continue;
            if (!maskedLm) { output[key] = t; continue; }
            if (key.StartsWith("pooler.", StringComparison.Ordinal)) continue;
            string k = key.Replace("embeddings.LayerNorm.weight", "embeddings.LayerNorm.gamma").Replace("embeddings.LayerNorm.bias", "embeddings.LayerNorm.beta");
            output["bert." + k] = t;
        }
        if (maskedLm)
        {
            torch.manual_seed(5);
            output["cls.predictions.bias"] = torch.randn(120);
            output["cls.predictions.transform.dense.weight"] = torch.randn(32, 32);
            output["cls.predictions.transform.dense.bias"] = torch.randn(32);
            output["cls.predictions.transform.LayerNorm.weight"] = torch.randn(32);
            output["cls.predictions.transform.LayerNorm.bias"] = torch.randn(32);
            output["cls.predictions.decoder.weight"] = torch.randn(120, 32);
            output["bert.embeddings.position_ids"] = torch.arange(24).unsqueeze(0);
        }
        SafeTensors.Save(Path.Combine(dir, "model.safetensors"), output, new Dictionary<string, string> { ["format"] = "pt" });
        return dir;
    }
}
