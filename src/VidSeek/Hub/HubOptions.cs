namespace VidSeek.Hub;

/// <summary>One step of a download, for a progress bar: <paramref name="Downloaded"/> of <paramref name="Total"/> bytes.</summary>
public readonly record struct HubProgress(string File, long Downloaded, long? Total, bool Done);

/// <summary>
/// Where the hub cache is, where the hub is, and how to talk to it. <see cref="FromEnvironment"/> reads the variables
/// that Python's <c>huggingface_hub</c> reads, with its defaults, so both share one cache.
/// </summary>
public sealed record HubOptions
{
    public const string DefaultEndpoint = "https://huggingface.co";

    /// <summary>The cache root holding <c>models--org--name/{blobs,refs,snapshots}</c>.</summary>
    public required string CacheDir { get; init; }

    /// <summary>The hub's base URL; files are at <c>{Endpoint}/{repo}/resolve/{revision}/{file}</c>.</summary>
    public string Endpoint { get; init; } = DefaultEndpoint;

    /// <summary>Cache only, no network (<c>HF_HUB_OFFLINE=1</c>).</summary>
    public bool Offline { get; init; }

    /// <summary>Sent as <c>Authorization: Bearer</c> to the hub (never to the CDN a large file redirects to).</summary>
    public string? Token { get; init; }

    /// <summary>Called as bytes arrive (on the downloading thread).</summary>
    public Action<HubProgress>? Progress { get; init; }

    /// <summary>How long to wait for the hub's answer to a metadata request (huggingface_hub's <c>etag_timeout</c>).</summary>
    public TimeSpan MetadataTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>A download that receives nothing for this long is broken off (and resumed on the next try).</summary>
    public TimeSpan ReadTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Tries per file when the connection breaks mid-download; each try resumes where the last one stopped.</summary>
    public int DownloadAttempts { get; init; } = 5;

    /// <summary>
    /// The options the environment gives, as huggingface_hub reads them: <c>HF_HUB_CACHE</c> (or the older
    /// <c>HUGGINGFACE_HUB_CACHE</c>), else <c>HF_HOME/hub</c>, with <c>HF_HOME</c> defaulting to
    /// <c>$XDG_CACHE_HOME/huggingface</c> or <c>~/.cache/huggingface</c>; <c>HF_ENDPOINT</c>; <c>HF_HUB_OFFLINE</c>
    /// (1/true/yes/on); <c>HF_TOKEN</c> (or <c>HUGGING_FACE_HUB_TOKEN</c>), else the file <c>huggingface-cli login</c>
    /// writes (<c>HF_TOKEN_PATH</c>, default <c>HF_HOME/token</c>).
    /// </summary>
    /// <param name="env">Looks a variable up; defaults to the process environment (tests pass their own).</param>
    public static HubOptions FromEnvironment(Func<string, string?>? env = null)
    {
        env ??= Environment.GetEnvironmentVariable;
        string? Get(string name) => env(name) is { Length: > 0 } v ? v : null;

        string home = Get("HOME") ?? Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        string hfHome = Expand(Get("HF_HOME"), home) ?? Path.Combine(Expand(Get("XDG_CACHE_HOME"), home) ?? Path.Combine(home, ".cache"), "huggingface");
        string cache = Expand(Get("HF_HUB_CACHE") ?? Get("HUGGINGFACE_HUB_CACHE"), home) ?? Path.Combine(hfHome, "hub");

        string? token = Get("HF_TOKEN") ?? Get("HUGGING_FACE_HUB_TOKEN");
        if (token is null)
        {
            string tokenPath = Expand(Get("HF_TOKEN_PATH"), home) ?? Path.Combine(hfHome, "token");
            try { if (File.Exists(tokenPath)) token = File.ReadAllText(tokenPath).Trim() is { Length: > 0 } t ? t : null; }
            catch (IOException) { } // an unreadable token file is as good as none: public models still download
            catch (UnauthorizedAccessException) { }
        }

        return new HubOptions
        {
            CacheDir = cache,
            Endpoint = (Get("HF_ENDPOINT") ?? DefaultEndpoint).TrimEnd('/'),
            Offline = IsTrue(Get("HF_HUB_OFFLINE")),
            Token = token?.Trim(),
        };
    }

    private static bool IsTrue(string? value) =>
        value is not null && (value.Trim().ToUpperInvariant() is "1" or "ON" or "YES" or "TRUE");

    private static string? Expand(string? path, string home) =>
        path is null ? null : path == "~" ? home : path.StartsWith("~/", StringComparison.Ordinal) ? Path.Combine(home, path[2..]) : path;
}
