namespace VidSeek.Tests;

/// <summary>Where the repository and the shared reference data (<c>../shared</c> beside the checkout) are.</summary>
public static class TestPaths
{
    public static string RepoRoot { get; } = FindRepoRoot();

    /// <summary><c>../shared</c> next to the checkout, or <c>$VIDSEEK_SHARED</c> when set.</summary>
    public static string Shared { get; } =
        Environment.GetEnvironmentVariable("VIDSEEK_SHARED") is { Length: > 0 } s ? s : Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared"));

    public static string Golden => Path.Combine(Shared, "golden");
    public static string Videos => Path.Combine(Shared, "fixtures", "videos");

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "VidSeek.sln"))) return dir.FullName;
        throw new InvalidOperationException("VidSeek.sln not found above " + AppContext.BaseDirectory);
    }

    /// <summary>A fresh empty folder under the system temp folder, removed by the caller's <c>using</c>.</summary>
    public static TempDir NewTempDir() => new();

    public sealed class TempDir : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("vidseek-test-").FullName;
        public void Dispose() { try { Directory.Delete(Path, true); } catch (IOException) { } }
    }
}
