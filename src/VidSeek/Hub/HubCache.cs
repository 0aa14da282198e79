namespace VidSeek.Hub;

/// <summary>
/// The hub cache on disk, laid out exactly as Python's <c>huggingface_hub</c> writes it, so that either can use what the
/// other downloaded:
/// <code>
/// {root}/models--org--name/
///   blobs/{etag}                         file contents, named by ETag (sha256 for LFS files, git blob sha1 otherwise)
///   refs/{revision}                      the commit hash a branch or tag pointed to when last seen (no newline)
///   snapshots/{commit}/{file}            relative symlink to ../../blobs/{etag}
///   .no_exist/{commit}/{file}            empty: the repository has no such file at that commit
/// {root}/.locks/models--org--name/{etag}.lock   held while the blob downloads
/// </code>
/// </summary>
public sealed class HubCache(string root)
{
    public string Root { get; } = Path.GetFullPath(root);

    public string RepoDir(HubRepoId id) => Path.Combine(Root, id.CacheFolderName);

    public string SnapshotDir(HubRepoId id, string commit) => Path.Combine(RepoDir(id), "snapshots", commit);

    public string BlobPath(HubRepoId id, string etag) => Path.Combine(RepoDir(id), "blobs", etag);

    public string LockPath(HubRepoId id, string etag) => Path.Combine(Root, ".locks", id.CacheFolderName, etag + ".lock");

    /// <summary>The commit <paramref name="revision"/> names: itself when it is a commit hash, else what <c>refs/</c> remembers.</summary>
    public string? CommitFor(HubRepoId id, string revision)
    {
        if (HubRepoId.IsCommitHash(revision)) return revision;
        string refPath = Path.Combine(RepoDir(id), "refs", revision);
        if (!File.Exists(refPath)) return null;
        string commit = File.ReadAllText(refPath).Trim();
        return HubRepoId.IsCommitHash(commit) ? commit : null;
    }

    /// <summary>The snapshot's copy of <paramref name="file"/> when it is there (a symlink to a blob that exists, or a plain file).</summary>
    public string? CachedFile(HubRepoId id, string commit, string file)
    {
        string path = Path.Combine(SnapshotDir(id, commit), file);
        return File.Exists(path) ? path : null; // File.Exists follows the link: a dangling one counts as missing
    }

    public bool KnownMissing(HubRepoId id, string commit, string file) =>
        File.Exists(Path.Combine(RepoDir(id), ".no_exist", commit, file));

    /// <summary>Remembers that the repository lacks <paramref name="file"/> at <paramref name="commit"/>; only saves requests, so a read-only cache skips it.</summary>
    public void MarkMissing(HubRepoId id, string commit, string file)
    {
        string path = Path.Combine(RepoDir(id), ".no_exist", commit, file);
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllBytes(path, []);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }

    /// <summary>Remembers that <paramref name="revision"/> is <paramref name="commit"/> (written beside, then renamed).</summary>
    public void WriteRef(HubRepoId id, string revision, string commit)
    {
        if (revision == commit) return;
        string refPath = Path.Combine(RepoDir(id), "refs", revision);
        if (File.Exists(refPath) && File.ReadAllText(refPath) == commit) return; // unchanged: a read-only cache keeps working
        Directory.CreateDirectory(Path.GetDirectoryName(refPath)!);
        string tmp = $"{refPath}.{Guid.NewGuid():N}.tmp";
        File.WriteAllText(tmp, commit);
        File.Move(tmp, refPath, overwrite: true);
    }

    /// <summary>
    /// Points <c>snapshots/{commit}/{file}</c> at the blob with a relative symlink, as huggingface_hub does (the cache
    /// folder can then be moved). Where symlinks cannot be made, the snapshot gets a copy, as huggingface_hub does too.
    /// The link is made beside and renamed into place, so a reader never sees a half-made entry.
    /// </summary>
    public string Link(HubRepoId id, string commit, string file, string etag)
    {
        string blob = BlobPath(id, etag);
        string pointer = Path.Combine(SnapshotDir(id, commit), file);
        Directory.CreateDirectory(Path.GetDirectoryName(pointer)!);
        string tmp = $"{pointer}.{Guid.NewGuid():N}.tmp";
        try
        {
            File.CreateSymbolicLink(tmp, Path.GetRelativePath(Path.GetDirectoryName(pointer)!, blob));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or PlatformNotSupportedException)
        {
            File.Copy(blob, tmp, overwrite: true);
        }
        File.Move(tmp, pointer, overwrite: true); // rename(2): moves the link itself
        return pointer;
    }
}
