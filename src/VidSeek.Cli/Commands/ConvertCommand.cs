using System.CommandLine;
using VidSeek.Models.PyTorch;

namespace VidSeek.Cli.Commands;

/// <summary>
/// <c>vidseek convert SOURCE --out DIR [--clip-config FILE|DIR|preset] [--xpool-heads N] [--tokenizer DIR]</c>: a PyTorch
/// checkpoint (X-Pool <c>model_best.pth</c>, <c>pytorch_model.bin</c> or a folder with it, openai TorchScript <c>ViT-B-32.pt</c>)
/// to a VidSeek model folder that every command takes.
/// </summary>
public static class ConvertCommand
{
    public static Command Create()
    {
        var source = new Argument<string>("source") { Description = "A PyTorch checkpoint file (.pth, .bin, .pt) or a Hugging Face folder with only pytorch_model.bin." };
        var output = new Option<DirectoryInfo>("--out") { Description = "The model folder to write (config.json + model.safetensors); must not exist or be empty.", Required = true };
        var clipConfig = new Option<string?>("--clip-config") { Description = "The CLIP architecture: a config.json, a folder with one, or a preset (default: the source folder's config.json, else inferred from the weights with heads = width / 64 as openai's build_model)." };
        var heads = new Option<int?>("--xpool-heads") { Description = "X-Pool's --num_mha_heads, which its checkpoints do not store (default 1, as X-Pool's and its released models)." };
        heads.Validators.Add(r => { if (r.GetValueOrDefault<int?>() is < 1) r.AddError("--xpool-heads must be at least 1"); });
        var tokenizer = new Option<DirectoryInfo?>("--tokenizer") { Description = "vocab.json + merges.txt to put in the folder (default: the source folder's, else the bundled CLIP vocabulary for 49,408-token models)." };
        var command = new Command("convert", "Convert a PyTorch checkpoint (X-Pool, Hugging Face pytorch_model.bin, openai CLIP TorchScript) into a VidSeek model folder.")
        {
            source, output, clipConfig, heads, tokenizer,
        };
        command.SetAction((parse, stdout) =>
        {
            var result = PyTorchConverter.Convert(parse.GetValue(source)!, parse.GetValue(output)!.FullName, new ConvertOptions
            {
                ClipConfig = parse.GetValue(clipConfig),
                XPoolHeads = parse.GetValue(heads),
                Tokenizer = parse.GetValue(tokenizer)?.FullName,
            });
            stdout.WriteLine($"wrote {result.Folder}: {result.Kind}, {result.Tensors} tensors ({result.StoragesRead.Count} storages read from the checkpoint)");
            if (result.Clip is null) return 0;
            var v = result.Clip.VisionConfig;
            var t = result.Clip.TextConfig;
            stdout.WriteLine($"CLIP: vision {v.NumHiddenLayers} layers x {v.HiddenSize} ({Heads(v.NumAttentionHeads)}), {v.ImageSize} px / {v.PatchSize} px patches; " +
                             $"text {t.NumHiddenLayers} layers x {t.HiddenSize} ({Heads(t.NumAttentionHeads)}), {t.VocabSize} tokens, {t.MaxPositionEmbeddings} positions; {result.Clip.ProjectionDim}-d embeddings");
            stdout.WriteLine(result.Tokenizer ? "tokenizer: vocab.json + merges.txt copied" : "tokenizer: none known for this vocabulary; pass --tokenizer DIR (or give --tokenizer to embed-text/eval)");
            return 0;
        });
        return command;
    }

    private static string Heads(int n) => n == 1 ? "1 head" : $"{n} heads";
}
