using System.Runtime.CompilerServices;

namespace VidSeek.Tests;

/// <summary>
/// The tests' caches (PyTorch conversions, <c>$XDG_CACHE_HOME/vidseek/converted</c>) go to a folder beside the test
/// binaries, emptied when a run starts, never the user's <c>~/.cache</c>.
/// </summary>
internal static class TestCache
{
    public static string Root { get; } = Path.Combine(AppContext.BaseDirectory, "test-cache");

    [ModuleInitializer]
    internal static void Init()
    {
        if (Directory.Exists(Root)) Directory.Delete(Root, recursive: true);
        Directory.CreateDirectory(Root);
        Environment.SetEnvironmentVariable("XDG_CACHE_HOME", Root);
    }
}
