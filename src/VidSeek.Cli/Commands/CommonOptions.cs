using System.CommandLine;
using System.Text.Json;
using Spectre.Console;

namespace VidSeek.Cli.Commands;

/// <summary>Options that several commands share, so they are spelled and described the same everywhere.</summary>
public static class CommonOptions
{
    public static readonly JsonSerializerOptions Json = new() { WriteIndented = false, Encoder = JsonText }; // one line: embeddings are long, and tools like jq pretty-print

    /// <summary>Indented, for the small documents of <c>search</c> and <c>eval</c>.</summary>
    public static readonly JsonSerializerOptions JsonIndented = new() { WriteIndented = true, Encoder = JsonText };

    /// <summary>
    /// Every <c>--json</c> writes text as it is ("café", not "caf\u00E9"), as the web API does; JSON's own escapes
    /// (quote, backslash, control characters) still apply. "Unsafe" refers to embedding the output in HTML, which the CLI never does.
    /// </summary>
    public static System.Text.Encodings.Web.JavaScriptEncoder JsonText => System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping;

    public static Option<string> Model() => new("--model")
    {
        Description = "A Hugging Face CLIPModel folder (config.json + model.safetensors), or a hub id such as openai/clip-vit-base-patch32[@revision] (from the Hugging Face cache, downloaded if missing).",
        Required = true,
    };

    /// <summary>
    /// The local model folder an option's value names (<see cref="Models.ModelSource.Resolve"/>). A Hugging Face hub id
    /// resolves with a progress bar per downloaded file on stderr.
    /// </summary>
    public static string ResolveModel(string spec, string option = "--model")
    {
        if (Directory.Exists(spec) || File.Exists(spec) || !Hub.HubRepoId.TryParse(spec, out _)) return Models.ModelSource.Resolve(spec, option);
        var hub = Hub.HubOptions.FromEnvironment();
        if (hub.Offline) return Models.ModelSource.Resolve(spec, option, hub);
        string folder = "";
        Cli.Err.Progress().AutoClear(true)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new DownloadedColumn(), new TransferSpeedColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                var tasks = new Dictionary<string, ProgressTask>();
                folder = Models.ModelSource.Resolve(spec, option, hub with
                {
                    Progress = p =>
                    {
                        if (!tasks.TryGetValue(p.File, out var task)) tasks[p.File] = task = ctx.AddTask($"{spec} {p.File}", maxValue: Math.Max(1, p.Total ?? 1));
                        if (p.Total is long total) task.MaxValue = Math.Max(1, total);
                        task.Value = p.Done ? task.MaxValue : p.Downloaded;
                        if (p.Done) task.StopTask();
                    },
                });
            });
        return folder;
    }

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
