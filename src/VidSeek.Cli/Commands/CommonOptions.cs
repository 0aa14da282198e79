using System.CommandLine;
using System.Text.Json;
using Spectre.Console;

namespace VidSeek.Cli.Commands;

/// <summary>Options that several commands share, so they are spelled and described the same everywhere.</summary>
public static class CommonOptions
{
    /// <summary>
    /// One line (embeddings are long, and tools like jq pretty-print). A non-finite number (an overflowing score) is written
    /// as the string "NaN", "Infinity" or "-Infinity" (System.Text.Json's named literals), where the default would throw
    /// in the middle of the output. Text is written as it is (<see cref="JsonText"/>).
    /// </summary>
    public static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = false, Encoder = JsonText, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary><see cref="Json"/>, indented (search and eval results, read by people too).</summary>
    public static readonly JsonSerializerOptions JsonIndented = new(Json) { WriteIndented = true };

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
        Cli.Progress().AutoClear(true)
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

    /// <summary>Most frames a video is sampled at: far beyond what the models were trained with (4 to 12), and 256 frames at
    /// 224 px are already 150 MB of pixels per video.</summary>
    public const int MaxFrames = 256;
    /// <summary>Most results a search returns.</summary>
    public const int MaxK = 1000;
    /// <summary>Most videos ITM re-scores per caption.</summary>
    public const int MaxRerankK = 10_000;
    /// <summary>Largest training batch (the InfoNCE similarity matrix is batch x batch x frames).</summary>
    public const int MaxBatch = 4096;

    /// <summary>
    /// Bounds a size option, so that a typo such as <c>--frames 100000</c> is a usage error naming the option rather than
    /// gigabytes of decoded frames.
    /// </summary>
    public static Option<int> Bound(this Option<int> option, int min, int max)
    {
        option.Validators.Add(r =>
        {
            if (!TryValue(r, out int value)) return;
            if (value < min || value > max) r.AddError($"{option.Name} must lie in {min}..{max} (got {value})");
        });
        return option;
    }

    /// <inheritdoc cref="Bound(Option{int}, int, int)"/>
    public static Option<int?> Bound(this Option<int?> option, int min, int max)
    {
        option.Validators.Add(r =>
        {
            if (TryValue(r, out int? v) && v is int value && (value < min || value > max)) r.AddError($"{option.Name} must lie in {min}..{max} (got {value})");
        });
        return option;
    }

    /// <inheritdoc cref="Bound(Option{int}, int, int)"/>
    public static Option<long> Bound(this Option<long> option, long min, long max)
    {
        option.Validators.Add(r =>
        {
            if (!TryValue(r, out long value)) return;
            if (value < min || value > max) r.AddError($"{option.Name} must lie in {min}..{max} (got {value})");
        });
        return option;
    }

    /// <inheritdoc cref="Bound(Option{int}, int, int)"/>
    public static Option<double> Bound(this Option<double> option, double min, double max)
    {
        option.Validators.Add(r =>
        {
            if (!TryValue(r, out double value)) return;
            if (!(value >= min && value <= max)) r.AddError($"{option.Name} must lie in {min}..{max} (got {value})");
        });
        return option;
    }

    /// <summary>The option's value, or false when it did not convert (that error is reported already; asking again would throw).</summary>
    private static bool TryValue<T>(System.CommandLine.Parsing.OptionResult result, out T value)
    {
        try { value = result.GetValueOrDefault<T>(); return true; }
        catch (InvalidOperationException) { value = default!; return false; }
    }

    /// <summary>
    /// Adds a validator over several options of <paramref name="command"/>. It is skipped when one of the values it reads did
    /// not convert (<c>--model nope</c>): that error is reported already, and reading the value again would throw out of
    /// the parser.
    /// </summary>
    public static void AddValidator(this Command command, Action<System.CommandLine.Parsing.CommandResult> validate) =>
        command.Validators.Add(r =>
        {
            try { validate(r); }
            catch (InvalidOperationException) { }
        });
}
