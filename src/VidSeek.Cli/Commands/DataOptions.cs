using System.CommandLine;
using Spectre.Console;
using VidSeek.Data;
using VidSeek.Data.Loaders;

namespace VidSeek.Cli.Commands;

/// <summary>The options that name a dataset split, shared by train and eval.</summary>
public sealed class DataOptions
{
    public Option<DirectoryInfo> Data { get; } = new("--data") { Description = "Dataset folder (for --format json: the json file or its folder).", Required = true };
    public Option<string> Format { get; } = new("--format") { Description = $"Annotation format: {string.Join(", ", DatasetLoaders.Names)}.", DefaultValueFactory = _ => "msrvtt" };
    public Option<DirectoryInfo?> Videos { get; } = new("--videos") { Description = "Folder of the video files (default: the format's usual place under --data)." };
    public Option<bool> SkipMissing { get; } = new("--skip-missing") { Description = "Drop captions whose video file is missing (counted in a warning) instead of failing." };

    public void AddTo(Command command)
    {
        command.Options.Add(Data);
        command.Options.Add(Format);
        command.Options.Add(Videos);
        command.Options.Add(SkipMissing);
        Format.Validators.Add(r =>
        {
            string v = r.GetValueOrDefault<string>()!;
            if (!DatasetLoaders.Names.Contains(v, StringComparer.OrdinalIgnoreCase)) r.AddError($"unknown --format '{v}' (known: {string.Join(", ", DatasetLoaders.Names)})");
        });
    }

    /// <summary>Loads a split, warning on stderr about what <c>--skip-missing</c> dropped.</summary>
    public static RetrievalSplit Load(string format, string root, string split, string? videos, bool skipMissing)
    {
        var (result, report) = DatasetLoaders.Load(format, root, split, new LoadOptions { VideosDir = videos, SkipMissing = skipMissing });
        if (report.SkippedMissing > 0)
            Cli.Err.MarkupLineInterpolated($"[yellow]warning:[/] {split}: skipped {report.SkippedMissing} caption(s) of missing videos, e.g. {string.Join(", ", report.MissingExamples)}");
        return result;
    }
}
