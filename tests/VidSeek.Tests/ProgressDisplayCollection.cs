namespace VidSeek.Tests;

/// <summary>
/// Tests that run a CLI command with a Spectre progress display. <c>Cli.Err</c> is one console for the whole
/// process and Spectre refuses two live displays at once ("Trying to run one or more interactive functions
/// concurrently"), so these run on their own, after the parallel tests, never beside another command's bar.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProgressDisplayCollection
{
    public const string Name = "CLI commands with a progress display";
}
