using VidSeek.Data;

namespace VidSeek.Tests.Data;

/// <summary>The dataset annotation fixtures (copied to the test output) and helpers to break copies of them.</summary>
internal static class DatasetFixtures
{
    /// <summary>The fixture folder of <paramref name="name"/> (<c>msrvtt</c>, <c>json</c>, ...), read-only.</summary>
    public static string Dir(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", "datasets", name);

    /// <summary>A writable copy of the fixture <paramref name="name"/> in <paramref name="tmp"/>, for tests that break it.</summary>
    public static string Copy(string name, TestPaths.TempDir tmp)
    {
        string source = Dir(name), target = Path.Combine(tmp.Path, name);
        foreach (var file in Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories))
        {
            string to = Path.Combine(target, Path.GetRelativePath(source, file));
            Directory.CreateDirectory(Path.GetDirectoryName(to)!);
            File.Copy(file, to);
        }
        return target;
    }

    /// <summary>Asserts the split's invariants: every video has a caption, indices in range, video files exist.</summary>
    public static void AssertWellFormed(RetrievalSplit split)
    {
        Assert.All(split.Captions, c => Assert.InRange(c.VideoIndex, 0, split.Videos.Count - 1));
        Assert.Equal(Enumerable.Range(0, split.Videos.Count), split.Captions.Select(c => c.VideoIndex).Distinct().Order());
        Assert.Equal(split.Videos.Count, split.Videos.Select(v => v.Id).Distinct().Count());
        Assert.All(split.Videos, v => Assert.True(Path.IsPathFullyQualified(v.Path) && File.Exists(v.Path), v.Path));
    }

    /// <summary>Caption text -> video id, for checking the mapping.</summary>
    public static List<(string Text, string Video)> Pairs(RetrievalSplit split) =>
        split.Captions.Select(c => (c.Text, split.Videos[c.VideoIndex].Id)).ToList();

    /// <summary>Loading throws a <see cref="VidSeekException"/> whose message contains every one of <paramref name="parts"/>.</summary>
    public static VidSeekException AssertError(Action load, params string[] parts)
    {
        var e = Assert.Throws<VidSeekException>(load);
        foreach (var part in parts) Assert.Contains(part, e.Message);
        return e;
    }
}
