using System.CommandLine;
using System.Text.Json;
using TorchSharp;
using VidSeek.Models.Clip;
using VidSeek.Models.DualEncoder;
using VidSeek.Tensors;

namespace VidSeek.Cli.Commands;

/// <summary><c>vidseek embed-text --model DIR [--tokenizer DIR] [--normalize] [--out FILE] "text" ...</c></summary>
public static class EmbedTextCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var tokenizer = new Option<DirectoryInfo?>("--tokenizer") { Description = "Folder with vocab.json and merges.txt (default: the model folder)." };
        var normalize = CommonOptions.Normalize();
        var precision = CommonOptions.Precision();
        var output = CommonOptions.Out();
        var texts = new Argument<string[]>("text") { Description = "One or more texts to embed.", Arity = ArgumentArity.OneOrMore };
        CommonOptions.RejectOptionLikeValues(texts);
        var command = new Command("embed-text", "Embed texts with a CLIP model; prints JSON, or writes safetensors with --out.")
        {
            model, tokenizer, normalize, precision, output, texts,
        };
        command.SetAction((parse, stdout) =>
        {
            string modelDir = CommonOptions.ResolveModel(parse.GetValue(model)!);
            var items = parse.GetValue(texts)!;
            using var clip = RetrievalCheckpoint.OpenBackbone(modelDir).SetPrecision(CommonOptions.ApplyPrecision(parse, precision)); // a CLIP folder, or the backbone of a VidSeek (e.g. converted X-Pool) checkpoint
            var (tok, tokDir) = ClipTextEmbedder.ResolveTokenizer(modelDir, parse.GetValue(tokenizer)?.FullName);
            var embedder = new ClipTextEmbedder(clip, tok, tokDir);
            using var scope = torch.NewDisposeScope();
            var ids = embedder.Tokenize(items).ToTensor();
            var embeds = embedder.Embed(items);
            if (parse.GetValue(normalize)) embeds = torch.nn.functional.normalize(embeds, dim: -1);

            if (parse.GetValue(output) is { } outFile)
            {
                SafeTensors.Save(outFile.FullName, new Dictionary<string, torch.Tensor> { ["text_embeds"] = embeds, ["input_ids"] = ids },
                    new Dictionary<string, string> { ["model"] = modelDir, ["texts"] = JsonSerializer.Serialize(items), ["normalized"] = parse.GetValue(normalize).ToString().ToLowerInvariant() });
                stdout.WriteLine($"wrote text_embeds [{string.Join(", ", embeds.shape)}] to {outFile.FullName}");
                return 0;
            }
            var json = new
            {
                model = modelDir,
                tokenizer = tokDir,
                normalized = parse.GetValue(normalize),
                dim = embeds.shape[1],
                items = items.Select((t, i) => new { text = t, embedding = embeds[i].data<float>().ToArray() }),
            };
            stdout.WriteLine(JsonSerializer.Serialize(json, CommonOptions.Json));
            return 0;
        });
        return command;
    }
}
