namespace VidSeek.Tests;

/// <summary>
/// Tests that rely on libtorch's global random generator (seeded initialisation, dropout) being theirs alone.
/// xunit runs test classes in parallel, and any other test's <c>torch.randn</c> would advance the same generator.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TorchRngCollection
{
    public const string Name = "libtorch global RNG";
}
