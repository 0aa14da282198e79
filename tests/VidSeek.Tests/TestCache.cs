using System.Runtime.CompilerServices;

namespace VidSeek.Tests;

/// <summary>
/// The tests' caches (PyTorch conversions, <c>$XDG_CACHE_HOME/vidseek/converted</c>) go to a temporary folder of this
/// test run, never the user's <c>~/.cache</c>; it is removed when the run ends.
/// </summary>
internal static class TestCache
{
    public static string Root { get; } = Directory.CreateTempSubdirectory("vidseek-test-cache-").FullName;

    [ModuleInitializer]
    internal static void Init()
    {
        Environment.SetEnvironmentVariable("XDG_CACHE_HOME", Root);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => { try { Directory.Delete(Root, true); } catch (IOException) { } };
    }
}
