namespace VidSeek.Tests;

/// <summary>
/// Tests that need process-wide state to themselves, run one at a time after the parallel tests:
/// <list type="bullet">
/// <item>libtorch's global random generator (seeded initialisation, dropout): any other test's
/// <c>torch.randn</c> would advance it;</item>
/// <item>the CLI's stderr console (<c>Cli.Err</c>): Spectre refuses two live progress displays at once
/// ("Trying to run one or more interactive functions concurrently").</item>
/// </list>
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcessStateCollection
{
    public const string Name = "process-wide state (libtorch RNG, CLI console)";
}
