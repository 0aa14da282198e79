using System.CommandLine;
using System.Text.Json;

namespace VidSeek.Cli.Commands;

/// <summary>Options that several commands share, so they are spelled and described the same everywhere.</summary>
public static class CommonOptions
{
    public static readonly JsonSerializerOptions Json = new() { WriteIndented = false }; // one line: embeddings are long, and tools like jq pretty-print

    public static Option<string> Model() => new("--model")
    {
        Description = "A Hugging Face CLIPModel folder (config.json + model.safetensors), e.g. openai/clip-vit-base-patch32.",
        Required = true,
    };

    /// <summary>The local model folder an option's value names (<see cref="Models.ModelSource.Resolve"/>).</summary>
    public static string ResolveModel(string spec, string option = "--model") => Models.ModelSource.Resolve(spec, option);

    /// <summary><c>--precision fp32|bf16</c>: the CLIP towers' matmuls (see <see cref="Models.Precision"/>).</summary>
    public static Option<string> Precision()
    {
        var option = new Option<string>("--precision")
        {
            Description = "CLIP towers: fp32, or bf16 matrix multiplications with LayerNorm and the residual stream in fp32 (faster on CPUs with AVX512-BF16; embeddings differ slightly). Dual encoders only; VLT models run in fp32.",
            DefaultValueFactory = _ => "fp32",
        };
        option.AcceptOnlyFromAmong("fp32", "bf16");
        return option;
    }

    /// <summary>Reads <c>--precision</c> and makes it the process's inference precision (<see cref="Models.InferencePrecision"/>).</summary>
    public static Models.Precision ApplyPrecision(System.CommandLine.ParseResult parse, Option<string> option) =>
        Models.InferencePrecision.Current = Models.InferencePrecision.Parse(parse.GetValue(option) ?? "fp32");

    public static Option<bool> Normalize() => new("--normalize") { Description = "L2-normalise the embeddings (default: raw projected features, as HF get_*_features)." };

    public static Option<FileInfo?> Out() => new("--out") { Description = "Write the embeddings to this safetensors file instead of printing JSON." };

    /// <summary>
    /// A multi-value argument would otherwise swallow a mistyped option (<c>--bogus</c>) as a value; reject it
    /// as an unknown option instead.
    /// </summary>
    public static void RejectOptionLikeValues<T>(Argument<T> argument) =>
        argument.Validators.Add(result =>
        {
            foreach (var token in result.Tokens)
                if (token.Value.Length > 1 && token.Value[0] == '-' && !char.IsDigit(token.Value[1]))
                    result.AddError($"unknown option '{token.Value}'");
        });
}
