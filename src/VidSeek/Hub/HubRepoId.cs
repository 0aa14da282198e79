using System.Text.RegularExpressions;

namespace VidSeek.Hub;

/// <summary>
/// A Hugging Face model id as users type it: <c>org/name</c>, <c>org/name@revision</c>, or <c>name</c> for the few
/// repositories at the hub's root (e.g. <c>gpt2</c>). The revision is a branch, a tag or a commit hash
/// (<c>main</c> when omitted), as in <c>huggingface_hub</c>'s <c>hf_hub_download(revision=...)</c>.
/// </summary>
public sealed partial record HubRepoId(string RepoId, string Revision)
{
    public const string DefaultRevision = "main";

    // huggingface_hub's validate_repo_id: optional namespace, then a name; word characters, '-' and '.', starting and
    // ending with a word character; no "--" or ".." (the cache folder uses "--" as its separator); at most 96 characters.
    [GeneratedRegex(@"^(?:\w[\w.\-]*\w/|\w/)?(?:\w[\w.\-]*\w|\w)$", RegexOptions.CultureInvariant)]
    private static partial Regex RepoPattern();

    [GeneratedRegex("^[0-9a-f]{40}$", RegexOptions.CultureInvariant)]
    private static partial Regex CommitPattern();

    /// <summary>True for a full 40-hex git commit hash (a revision that never moves).</summary>
    public static bool IsCommitHash(string revision) => CommitPattern().IsMatch(revision);

    /// <summary>Parses <paramref name="spec"/>; false when it is not shaped like a hub id (a path, an empty name, ...).</summary>
    public static bool TryParse(string spec, out HubRepoId? id)
    {
        id = null;
        if (string.IsNullOrWhiteSpace(spec)) return false;
        int at = spec.IndexOf('@');
        string repo = at < 0 ? spec : spec[..at];
        string revision = at < 0 ? DefaultRevision : spec[(at + 1)..];
        if (repo.Length is 0 or > 96 || !RepoPattern().IsMatch(repo) || repo.Contains("--") || repo.Contains("..") || repo.EndsWith(".git", StringComparison.Ordinal))
            return false;
        if (!IsValidRevision(revision)) return false;
        id = new HubRepoId(repo, revision);
        return true;
    }

    /// <summary>
    /// A revision becomes a file name under <c>refs/</c> (branches like <c>refs/pr/1</c> included), so it must stay inside
    /// that folder: no empty or dot segments, no backslashes, no control characters or spaces.
    /// </summary>
    private static bool IsValidRevision(string revision) =>
        revision.Length is > 0 and <= 255
        && revision.Split('/').All(s => s.Length > 0 && s != "." && s != "..")
        && revision.All(c => c > ' ' && c != '\\' && c != 0x7f && c != ':');

    /// <summary>The repository's folder in the hub cache: <c>models--org--name</c>.</summary>
    public string CacheFolderName => "models--" + RepoId.Replace("/", "--", StringComparison.Ordinal);

    public override string ToString() => Revision == DefaultRevision ? RepoId : $"{RepoId}@{Revision}";
}
