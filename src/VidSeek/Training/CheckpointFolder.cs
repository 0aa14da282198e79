namespace VidSeek.Training;

/// <summary>Replaces a checkpoint folder atomically, for every trainer.</summary>
internal static class CheckpointFolder
{
    /// <summary>
    /// Fills <c>target.tmp</c> with <paramref name="fill"/>, then swaps it in for <paramref name="target"/> (via <c>target.old</c>),
    /// so a kill at any moment leaves either the old or the new folder complete (see <see cref="Find"/>).
    /// </summary>
    public static void Write(string target, Action<string> fill)
    {
        string tmp = target + ".tmp", old = target + ".old";
        if (Directory.Exists(tmp)) Directory.Delete(tmp, true);
        fill(tmp);
        if (Directory.Exists(old)) Directory.Delete(old, true);
        if (Directory.Exists(target)) Directory.Move(target, old);
        Directory.Move(tmp, target);
        if (Directory.Exists(old)) Directory.Delete(old, true);
    }

    /// <summary>The resumable checkpoint <paramref name="name"/> in <paramref name="outputDir"/>, or its <c>.old</c> copy left by an interrupted swap, or null.</summary>
    public static string? Find(string outputDir, string name)
    {
        foreach (var candidate in new[] { name, name + ".old" })
        {
            string dir = Path.Combine(outputDir, candidate);
            if (File.Exists(Path.Combine(dir, "trainer_state.json"))) return dir;
        }
        return null;
    }
}
