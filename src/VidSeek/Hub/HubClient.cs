using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;

namespace VidSeek.Hub;

/// <summary>
/// Fetches files of a Hugging Face model repository into the hub cache (<see cref="HubCache"/>), the way Python's
/// <c>huggingface_hub.hf_hub_download</c> does, and resolves them from the cache alone when offline or when the hub
/// cannot be reached.
/// <para>
/// Hand-written on <see cref="HttpClient"/> because no .NET package served here is a hub client: the NuGet list has only
/// tokenizer bindings (Tokenizers.DotNet), nothing that knows the cache layout, the <c>X-Repo-Commit</c> /
/// <c>X-Linked-Etag</c> metadata or resumable blob downloads.
/// </para>
/// <para>
/// Per file: a HEAD request on <c>{endpoint}/{repo}/resolve/{revision}/{file}</c> (relative redirects, i.e. renamed
/// repositories, followed; an absolute redirect, i.e. a large file on the CDN, is not followed, its headers are the
/// metadata) gives the commit (<c>X-Repo-Commit</c>), the ETag (<c>X-Linked-Etag</c>, else <c>ETag</c>) and the size
/// (<c>X-Linked-Size</c>, else <c>Content-Length</c>). The first answer pins the commit; the other files are asked for at
/// that commit, so one snapshot never mixes two commits, and files a snapshot already holds cost no request. A blob
/// downloads into <c>blobs/{etag}.incomplete</c>, resumed with a <c>Range</c> request when the connection breaks (within
/// this run, and by the next run), is checked against the size and, where the ETag is a sha256 (LFS) or a git blob sha1,
/// against its hash, and is then renamed to <c>blobs/{etag}</c> and linked from the snapshot.
/// </para>
/// </summary>
public sealed class HubClient : IDisposable
{
    private const int MaxRedirects = 10;
    private readonly HubOptions options;
    private readonly HttpClient http;
    private readonly Uri endpoint;

    public HubClient(HubOptions options, HttpMessageHandler? handler = null)
    {
        this.options = options;
        Cache = new HubCache(options.CacheDir);
        if (!Uri.TryCreate(options.Endpoint, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
            throw new VidSeekException($"HF_ENDPOINT is not an http(s) URL: {options.Endpoint}");
        endpoint = uri;
        // Redirects are followed by hand: a HEAD must stop at the CDN redirect to read the hub's headers, and the token
        // must not travel to another host.
        http = new HttpClient(handler ?? new SocketsHttpHandler { AllowAutoRedirect = false, ConnectTimeout = options.MetadataTimeout })
        {
            Timeout = Timeout.InfiniteTimeSpan, // per request below: the metadata timeout, or a read timeout per chunk
        };
        http.DefaultRequestHeaders.UserAgent.ParseAdd("vidseek/1.0");
    }

    public HubCache Cache { get; }

    public void Dispose() => http.Dispose();

    /// <summary>
    /// The snapshot folder holding <paramref name="files"/> of <paramref name="id"/> at its revision, downloading what the
    /// cache lacks. Offline (<see cref="HubOptions.Offline"/>), or when the hub cannot be reached, the cache alone answers.
    /// </summary>
    /// <exception cref="VidSeekException">Not found, not allowed, not reachable and not cached, or a broken download; the message is one line.</exception>
    public string Snapshot(HubRepoId id, IReadOnlyList<HubFileGroup> files, CancellationToken cancel = default) =>
        SnapshotAsync(id, files, cancel).GetAwaiter().GetResult();

    public async Task<string> SnapshotAsync(HubRepoId id, IReadOnlyList<HubFileGroup> files, CancellationToken cancel = default)
    {
        foreach (var name in files.SelectMany(g => g.Names)) CheckFileName(name);
        if (options.Offline) return FromCache(id, files, "HF_HUB_OFFLINE is set");

        // A commit hash never moves: what the snapshot already holds needs no request.
        string? commit = HubRepoId.IsCommitHash(id.Revision) ? id.Revision : null;
        try
        {
            foreach (var group in files)
            {
                bool found = false;
                foreach (string name in group.Names)
                {
                    if (commit is not null && Cache.CachedFile(id, commit, name) is not null) { found = true; break; }
                    if (commit is not null && Cache.KnownMissing(id, commit, name)) continue;

                    var meta = await HeadAsync(id, commit ?? id.Revision, name, cancel);
                    if (commit is null && meta.Commit is not null)
                    {
                        commit = meta.Commit;
                        Cache.WriteRef(id, id.Revision, commit);
                    }
                    if (meta.Missing)
                    {
                        if (meta.Commit is not null) Cache.MarkMissing(id, meta.Commit, name);
                        continue;
                    }
                    await FetchAsync(id, commit!, name, meta, cancel);
                    found = true;
                    break;
                }
                if (!found && group.Required)
                    throw new VidSeekException($"{id} has {(group.Names.Count == 1 ? "no " : "")}{group.Describe()} (at {endpoint.GetLeftPart(UriPartial.Authority)}{(commit is null ? "" : ", commit " + commit)})");
            }
        }
        catch (HubUnreachableException e)
        {
            // As huggingface_hub does: without a connection, a model that was downloaded before is still usable.
            return FromCache(id, files, $"the hub cannot be reached ({e.Message})");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new VidSeekException($"cannot write the Hugging Face cache {Cache.Root} for {id}: {e.Message}", e);
        }
        if (commit is null) throw new VidSeekException($"{id}: none of {string.Join(", ", files.SelectMany(g => g.Names))} found at {endpoint.GetLeftPart(UriPartial.Authority)}");
        return Cache.SnapshotDir(id, commit);
    }

    /// <summary>The snapshot from the cache alone, or an error saying what is missing and <paramref name="why"/> nothing was downloaded.</summary>
    public string FromCache(HubRepoId id, IReadOnlyList<HubFileGroup> files, string why)
    {
        string? commit = Cache.CommitFor(id, id.Revision);
        if (commit is null || !Directory.Exists(Cache.SnapshotDir(id, commit)))
            throw new VidSeekException($"{id} is not in the Hugging Face cache ({Cache.Root}) and {why}");
        foreach (var group in files.Where(g => g.Required))
            if (!group.Names.Any(n => Cache.CachedFile(id, commit, n) is not null))
                throw new VidSeekException($"{id}: {string.Join(" or ", group.Names)} is not in the Hugging Face cache ({Cache.SnapshotDir(id, commit)}) and {why}");
        return Cache.SnapshotDir(id, commit);
    }

    private static void CheckFileName(string name)
    {
        if (name.Length == 0 || name.StartsWith('/') || name.Contains('\\') || name.Split('/').Any(s => s is "" or "." or ".."))
            throw new ArgumentException($"not a file name inside a repository: {name}", nameof(name));
    }

    // ---- metadata -------------------------------------------------------------------------------------------------

    /// <param name="Location">Where the bytes are: the resolve URL, or the CDN URL a large file redirects to.</param>
    /// <param name="OnHub">Whether <paramref name="Location"/> is the hub itself (the token goes there, never to a CDN).</param>
    private sealed record FileMetadata(string? Commit, string? ETag, long? Size, Uri Location, bool Missing, bool OnHub = true);

    private Uri ResolveUrl(HubRepoId id, string revision, string file) =>
        new($"{endpoint.ToString().TrimEnd('/')}/{id.RepoId}/resolve/{Uri.EscapeDataString(revision)}/{string.Join('/', file.Split('/').Select(Uri.EscapeDataString))}");

    private async Task<FileMetadata> HeadAsync(HubRepoId id, string revision, string file, CancellationToken cancel)
    {
        Uri url = ResolveUrl(id, revision, file);
        for (int hop = 0; hop <= MaxRedirects; hop++)
        {
            using var request = NewRequest(HttpMethod.Head, url, withToken: true);
            request.Headers.AcceptEncoding.ParseAdd("identity"); // the size of the file, not of a compressed answer
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancel);
            timeout.CancelAfter(options.MetadataTimeout);
            using var response = await SendAsync(request, timeout.Token, cancel);

            string? commit = Header(response, "X-Repo-Commit");
            int status = (int)response.StatusCode;
            if (status is >= 300 and < 400 && response.Headers.Location is { } location)
            {
                // A relative Location is the hub itself (a renamed repository): follow it. An absolute one is the CDN
                // that serves a large file: its metadata is in this answer's headers.
                if (!location.IsAbsoluteUri) { url = new Uri(url, location); continue; }
                return Metadata(response, commit, location, id, file) with { OnHub = false };
            }
            if (response.IsSuccessStatusCode) return Metadata(response, commit, url, id, file);
            if (IsEntryNotFound(response)) return new FileMetadata(commit, null, null, url, Missing: true);
            // A hub that is down or rate-limiting is, like no network, a reason to use the cache (as huggingface_hub does).
            if (status >= 500 || status == 429)
                throw new HubUnreachableException($"{endpoint.GetLeftPart(UriPartial.Authority)} answered {status} {response.ReasonPhrase}", null);
            throw HttpError(response, id, revision, url);
        }
        throw new VidSeekException($"{id}: too many redirects for {file} ({ResolveUrl(id, revision, file)})");
    }

    private FileMetadata Metadata(HttpResponseMessage response, string? commit, Uri location, HubRepoId id, string file)
    {
        string? etag = NormalizeETag(Header(response, "X-Linked-Etag") ?? response.Headers.ETag?.Tag ?? Header(response, "ETag"));
        long? size = long.TryParse(Header(response, "X-Linked-Size"), out long linked) ? linked : response.Content.Headers.ContentLength;
        if (commit is null || !HubRepoId.IsCommitHash(commit))
            throw new VidSeekException($"{endpoint} does not answer like a Hugging Face hub: no commit (X-Repo-Commit) for {id} {file}; check HF_ENDPOINT");
        if (etag is null || etag.Length == 0 || etag.IndexOfAny(['/', '\\']) >= 0 || etag.Contains(".."))
            throw new VidSeekException($"{endpoint} gave no usable ETag for {id} {file}, so the download cannot be checked or cached");
        return new FileMetadata(commit, etag, size, location, Missing: false);
    }

    /// <summary>The hub sends <c>"etag"</c> (and the HTTP spec allows <c>W/"etag"</c>); the cache names blobs by the bare value.</summary>
    private static string? NormalizeETag(string? etag)
    {
        if (etag is null) return null;
        if (etag.StartsWith("W/", StringComparison.Ordinal)) etag = etag[2..];
        return etag.Trim('"');
    }

    private static string? Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) || response.Content.Headers.TryGetValues(name, out values) ? values.FirstOrDefault() : null;

    private static bool IsEntryNotFound(HttpResponseMessage response) =>
        response.StatusCode == HttpStatusCode.NotFound && Header(response, "X-Error-Code") is null or "EntryNotFound";

    /// <summary>One line saying what the hub refused and what to do about it (huggingface_hub's <c>hf_raise_for_status</c> cases).</summary>
    private VidSeekException HttpError(HttpResponseMessage response, HubRepoId id, string revision, Uri url)
    {
        string? code = Header(response, "X-Error-Code");
        string where = endpoint.GetLeftPart(UriPartial.Authority);
        string tokenHint = options.Token is null ? "set HF_TOKEN to a token that can read it" : "the token in HF_TOKEN cannot read it";
        return ((int)response.StatusCode, code) switch
        {
            (404, "RevisionNotFound") or (400, "RevisionNotFound") => new VidSeekException($"revision '{revision}' not found in {id.RepoId} at {where}: check the branch, tag or commit after '@'"),
            (_, "GatedRepo") => new VidSeekException($"{id.RepoId} is gated at {where}: accept its conditions on {where}/{id.RepoId} and {(options.Token is null ? "set HF_TOKEN" : "use a token of that account in HF_TOKEN")}"),
            (_, "RepoNotFound") or (401, _) => new VidSeekException($"repository {id.RepoId} not found at {where}, or it is private: check the name, or {tokenHint}"),
            (403, _) => new VidSeekException($"access to {id.RepoId} denied at {where} (403): {tokenHint}"),
            (404, _) => new VidSeekException($"not found at {where}: {url}"),
            var (status, _) => new VidSeekException($"{where} answered {status} {response.ReasonPhrase} for {url}"),
        };
    }

    // ---- download -------------------------------------------------------------------------------------------------

    private async Task FetchAsync(HubRepoId id, string commit, string file, FileMetadata meta, CancellationToken cancel)
    {
        if (Cache.CachedFile(id, commit, file) is not null) return;
        string blob = Cache.BlobPath(id, meta.ETag!);
        if (!File.Exists(blob))
        {
            Directory.CreateDirectory(Path.GetDirectoryName(blob)!);
            using (await LockAsync(Cache.LockPath(id, meta.ETag!), cancel))
                if (!File.Exists(blob)) // another process may have finished it while we waited
                    await DownloadBlobAsync(id, file, meta, blob, cancel);
        }
        Cache.Link(id, commit, file, meta.ETag!);
    }

    /// <summary>
    /// Held while a blob downloads, so two processes (Python's included: its filelock and .NET's FileShare.None are both
    /// flock on Linux) never write one <c>.incomplete</c> file at once.
    /// </summary>
    private static async Task<FileStream> LockAsync(string path, CancellationToken cancel)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        while (true)
        {
            try { return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None); }
            catch (IOException) { await Task.Delay(200, cancel); }
        }
    }

    private async Task DownloadBlobAsync(HubRepoId id, string file, FileMetadata meta, string blob, CancellationToken cancel)
    {
        string incomplete = blob + ".incomplete";
        long? size = meta.Size;
        for (int attempt = 1; ; attempt++)
        {
            long have = File.Exists(incomplete) ? new FileInfo(incomplete).Length : 0;
            if (size is long s && have > s) { File.Delete(incomplete); have = 0; }
            if (size is long full && have == full && full > 0) break; // a previous run got every byte and stopped before the rename
            try
            {
                await DownloadRangeAsync(id, file, meta, incomplete, have, size, cancel);
                break;
            }
            catch (Exception e) when (e is IOException or HttpRequestException or HubUnreachableException or OperationCanceledException && !cancel.IsCancellationRequested)
            {
                if (attempt >= options.DownloadAttempts)
                    throw new VidSeekException($"download of {id} {file} broke off {attempt} times ({Reason(e)}); run again to resume from the {(File.Exists(incomplete) ? new FileInfo(incomplete).Length : 0)} bytes kept in {incomplete}");
                await Task.Delay(TimeSpan.FromMilliseconds(200 * attempt), cancel);
            }
        }

        long got = new FileInfo(incomplete).Length;
        if (size is long expected && got != expected)
        {
            File.Delete(incomplete);
            throw new VidSeekException($"download of {id} {file} has {got} bytes, the hub said {expected}; removed it, run again");
        }
        if (ExpectedHash(meta.ETag!) is { } algorithm)
        {
            string actual = await HashAsync(incomplete, algorithm, got, cancel);
            if (!string.Equals(actual, meta.ETag, StringComparison.OrdinalIgnoreCase))
            {
                File.Delete(incomplete);
                throw new VidSeekException($"download of {id} {file} is corrupt: its {algorithm} is {actual}, the hub's ETag {meta.ETag}; removed it, run again");
            }
        }
        File.Move(incomplete, blob, overwrite: true);
        options.Progress?.Invoke(new HubProgress(file, got, got, Done: true));
    }

    /// <summary>
    /// GETs <paramref name="url"/> from byte <paramref name="have"/> on, appending to <paramref name="incomplete"/>.
    /// A server that ignores the Range header answers 200: the file then starts over.
    /// </summary>
    private async Task DownloadRangeAsync(HubRepoId id, string file, FileMetadata meta, string incomplete, long have, long? size, CancellationToken cancel)
    {
        Uri url = meta.Location;
        using var response = await GetFollowingRedirectsAsync(url, meta.OnHub, have, cancel);
        int status = (int)response.StatusCode;
        bool resumed = false;
        if (status == 206)
        {
            long? start = response.Content.Headers.ContentRange?.From;
            resumed = start == have;
            if (!resumed) throw new IOException($"the server resumed at byte {start}, not {have}");
        }
        else if (status == 416 && have > 0)
        {
            File.Delete(incomplete); // the kept part is not a prefix of this file: start over
            throw new IOException("the server refused to resume");
        }
        else if (status >= 500)
        {
            throw new IOException($"{url.GetLeftPart(UriPartial.Authority)} answered {status} {response.ReasonPhrase}"); // tried again
        }
        else if (!response.IsSuccessStatusCode)
        {
            throw HttpError(response, id, "", url);
        }
        if (!resumed) have = 0;

        await using var output = new FileStream(incomplete, resumed ? FileMode.Append : FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16);
        await using var body = await response.Content.ReadAsStreamAsync(cancel);
        var buffer = new byte[1 << 20];
        options.Progress?.Invoke(new HubProgress(file, have, size, Done: false));
        while (true)
        {
            using var stall = CancellationTokenSource.CreateLinkedTokenSource(cancel);
            stall.CancelAfter(options.ReadTimeout);
            int n;
            try { n = await body.ReadAsync(buffer, stall.Token); }
            catch (OperationCanceledException) when (!cancel.IsCancellationRequested) { throw new IOException($"no data for {options.ReadTimeout.TotalSeconds:0} s"); }
            if (n == 0) break;
            await output.WriteAsync(buffer.AsMemory(0, n), cancel);
            have += n;
            options.Progress?.Invoke(new HubProgress(file, have, size, Done: false));
        }
        await output.FlushAsync(cancel);
        if (size is long expected && have < expected) throw new IOException($"the connection closed after {have} of {expected} bytes");
    }

    private async Task<HttpResponseMessage> GetFollowingRedirectsAsync(Uri url, bool withToken, long from, CancellationToken cancel)
    {
        for (int hop = 0; hop <= MaxRedirects; hop++)
        {
            using var request = NewRequest(HttpMethod.Get, url, withToken);
            if (from > 0) request.Headers.Range = new RangeHeaderValue(from, null);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancel);
            timeout.CancelAfter(options.ReadTimeout); // until the headers arrive; the body has its own per-read timeout
            var response = await SendAsync(request, timeout.Token, cancel, HttpCompletionOption.ResponseHeadersRead);
            if ((int)response.StatusCode is >= 300 and < 400 && response.Headers.Location is { } location)
            {
                response.Dispose();
                withToken &= !location.IsAbsoluteUri; // only a relative redirect stays on the hub
                url = location.IsAbsoluteUri ? location : new Uri(url, location);
                continue;
            }
            return response;
        }
        throw new IOException($"too many redirects for {url}");
    }

    private HttpRequestMessage NewRequest(HttpMethod method, Uri url, bool withToken)
    {
        var request = new HttpRequestMessage(method, url);
        // huggingface_hub drops the token when a large file redirects to the CDN: it is for the hub only.
        if (withToken && options.Token is not null && Uri.Compare(url, endpoint, UriComponents.SchemeAndServer, UriFormat.Unescaped, StringComparison.OrdinalIgnoreCase) == 0)
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", options.Token);
        return request;
    }

    private async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken timeout, CancellationToken cancel, HttpCompletionOption completion = HttpCompletionOption.ResponseContentRead)
    {
        try
        {
            return await http.SendAsync(request, completion, timeout);
        }
        catch (HttpRequestException e)
        {
            throw new HubUnreachableException($"{Reason(e)}: {endpoint.GetLeftPart(UriPartial.Authority)}", e);
        }
        catch (OperationCanceledException e) when (!cancel.IsCancellationRequested)
        {
            throw new HubUnreachableException($"no answer within the timeout from {request.RequestUri!.GetLeftPart(UriPartial.Authority)}", e);
        }
    }

    private static string Reason(Exception e)
    {
        // The innermost message names the cause (Connection refused, Name or service not known, ...).
        while (e.InnerException is not null) e = e.InnerException;
        return e.Message.TrimEnd('.');
    }

    // ---- integrity ------------------------------------------------------------------------------------------------

    /// <summary>The hub's ETag of an LFS file is its sha256; of a file in git, its git blob sha1 (the object id).</summary>
    private static string? ExpectedHash(string etag) =>
        etag.Length == 64 && etag.All(Uri.IsHexDigit) ? "sha256" : etag.Length == 40 && etag.All(Uri.IsHexDigit) ? "git-sha1" : null;

    private static async Task<string> HashAsync(string path, string algorithm, long length, CancellationToken cancel)
    {
        await using var stream = File.OpenRead(path);
        if (algorithm == "sha256") return Convert.ToHexStringLower(await SHA256.HashDataAsync(stream, cancel));
        using var sha1 = IncrementalHash.CreateHash(HashAlgorithmName.SHA1);
        sha1.AppendData(Encoding.ASCII.GetBytes($"blob {length}\0")); // git hashes a header, then the contents
        var buffer = new byte[1 << 20];
        int n;
        while ((n = await stream.ReadAsync(buffer, cancel)) > 0) sha1.AppendData(buffer, 0, n);
        return Convert.ToHexStringLower(sha1.GetHashAndReset());
    }

    /// <summary>The hub did not answer at all (refused, no route, DNS, timeout): the cache may still serve.</summary>
    private sealed class HubUnreachableException(string message, Exception? inner) : Exception(message, inner);
}
