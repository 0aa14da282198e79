using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace VidSeek.Tests.Hub;

/// <summary>
/// A loopback stand-in for the Hugging Face hub (Kestrel on 127.0.0.1, a free port), answering as the real one does:
/// <c>HEAD/GET /{org}/{name}/resolve/{revision}/{file}</c> with <c>X-Repo-Commit</c>; small files directly with
/// <c>ETag: "git blob sha1"</c>; LFS files (<c>*.safetensors</c>, <c>*.bin</c>) as a 302 to an absolute CDN URL
/// (<c>/cdn/{sha256}</c>) with <c>X-Linked-Etag: "sha256"</c> and <c>X-Linked-Size</c>; <c>Range</c> requests answered
/// 206; errors with the hub's <c>X-Error-Code</c> (RepoNotFound, RevisionNotFound, EntryNotFound, GatedRepo).
/// </summary>
public sealed class FakeHub : IAsyncDisposable
{
    public sealed class Repo
    {
        /// <summary>Branch or tag to commit.</summary>
        public Dictionary<string, string> Refs { get; } = new();
        /// <summary>Commit to its files.</summary>
        public Dictionary<string, Dictionary<string, byte[]>> Commits { get; } = new();
        public bool Gated { get; init; }
        /// <summary>A private repository: only this token reads it.</summary>
        public string? Token { get; init; }

        /// <summary>Adds a commit holding <paramref name="files"/> and points <paramref name="revision"/> at it.</summary>
        public string Add(string revision, Dictionary<string, byte[]> files)
        {
            string commit = Sha1Hex(Encoding.UTF8.GetBytes(revision + string.Join(",", files.Keys) + Commits.Count));
            Commits[commit] = files;
            Refs[revision] = commit;
            return commit;
        }
    }

    public record Request(string Method, string Path, string? Range, string? Authorization);

    private readonly WebApplication app;
    public ConcurrentDictionary<string, Repo> Repos { get; } = new();
    /// <summary>Old repository id to new: answered with a relative redirect, as the hub does for renamed repositories.</summary>
    public ConcurrentDictionary<string, string> Renamed { get; } = new();
    public ConcurrentQueue<Request> Log { get; } = new();
    /// <summary>sha256 of a blob to a byte count: the first GET of that blob sends that many bytes, then drops the connection.</summary>
    public ConcurrentDictionary<string, long> DropOnce { get; } = new();
    public string Url { get; private set; } = "";
    /// <summary>When set, every request is answered with this status (a hub that is down: 503).</summary>
    public int? Down { get; set; }

    private FakeHub()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        app = builder.Build();
        app.Run(Handle);
    }

    public static async Task<FakeHub> StartAsync()
    {
        var hub = new FakeHub();
        await hub.app.StartAsync();
        hub.Url = hub.app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First().TrimEnd('/');
        return hub;
    }

    public async ValueTask DisposeAsync()
    {
        await app.StopAsync();
        await app.DisposeAsync();
    }

    public static string Sha256Hex(byte[] data) => Convert.ToHexStringLower(SHA256.HashData(data));

    /// <summary>git's object id of a file: sha1 over "blob {size}\0" and the contents (the hub's ETag of a non-LFS file).</summary>
    public static string GitBlobSha1(byte[] data) =>
        Sha1Hex([.. Encoding.ASCII.GetBytes($"blob {data.Length}\0"), .. data]);

    private static string Sha1Hex(byte[] data) => Convert.ToHexStringLower(SHA1.HashData(data));

    public static bool IsLfs(string file) => file.EndsWith(".safetensors", StringComparison.Ordinal) || file.EndsWith(".bin", StringComparison.Ordinal);

    private async Task Handle(HttpContext ctx)
    {
        var req = ctx.Request;
        string path = req.Path.Value ?? "";
        Log.Enqueue(new Request(req.Method, path, req.Headers.Range.FirstOrDefault(), req.Headers.Authorization.FirstOrDefault()));
        bool head = HttpMethods.IsHead(req.Method);
        if (Down is int down) { ctx.Response.StatusCode = down; return; }

        if (path.StartsWith("/cdn/", StringComparison.Ordinal))
        {
            string sha = path["/cdn/".Length..];
            var blob = Repos.Values.SelectMany(r => r.Commits.Values).SelectMany(f => f.Values).FirstOrDefault(b => Sha256Hex(b) == sha);
            if (blob is null) { ctx.Response.StatusCode = 404; return; }
            await ServeBytes(ctx, blob, head, sha);
            return;
        }

        // /{org}/{name}/resolve/{revision}/{file} (or /{name}/resolve/... for a root repository)
        string[] parts = path.TrimStart('/').Split('/');
        int resolve = Array.IndexOf(parts, "resolve");
        if (resolve < 1 || resolve > 2 || parts.Length < resolve + 3) { ctx.Response.StatusCode = 404; return; }
        string repoId = string.Join('/', parts[..resolve]);
        string revision = Uri.UnescapeDataString(parts[resolve + 1]);
        string file = string.Join('/', parts[(resolve + 2)..].Select(Uri.UnescapeDataString));

        if (Renamed.TryGetValue(repoId, out string? newId))
        {
            ctx.Response.StatusCode = 307;
            ctx.Response.Headers.Location = "/" + newId + path[(repoId.Length + 1)..]; // relative, as the hub sends it
            return;
        }
        string? auth = req.Headers.Authorization.FirstOrDefault();
        if (!Repos.TryGetValue(repoId, out var repo) || (repo.Token is not null && auth != "Bearer " + repo.Token))
        {
            Error(ctx, 401, "RepoNotFound");
            return;
        }
        if (repo.Gated && auth is null) { Error(ctx, 403, "GatedRepo"); return; }
        string? commit = repo.Refs.GetValueOrDefault(revision) ?? (repo.Commits.ContainsKey(revision) ? revision : null);
        if (commit is null) { Error(ctx, 404, "RevisionNotFound"); return; }
        ctx.Response.Headers["X-Repo-Commit"] = commit;
        if (!repo.Commits[commit].TryGetValue(file, out var data)) { Error(ctx, 404, "EntryNotFound"); return; }

        if (IsLfs(file))
        {
            string sha = Sha256Hex(data);
            ctx.Response.StatusCode = 302;
            ctx.Response.Headers.Location = $"{Url}/cdn/{sha}";
            ctx.Response.Headers["X-Linked-Etag"] = $"\"{sha}\"";
            ctx.Response.Headers["X-Linked-Size"] = data.Length.ToString();
            ctx.Response.Headers.ETag = $"\"{GitBlobSha1(Encoding.ASCII.GetBytes("lfs pointer " + sha))}\"";
            return;
        }
        ctx.Response.Headers.ETag = $"\"{GitBlobSha1(data)}\"";
        await ServeBytes(ctx, data, head, GitBlobSha1(data));
    }

    private static void Error(HttpContext ctx, int status, string code)
    {
        ctx.Response.StatusCode = status;
        ctx.Response.Headers["X-Error-Code"] = code;
    }

    private async Task ServeBytes(HttpContext ctx, byte[] data, bool head, string key)
    {
        long from = 0;
        if (ctx.Request.Headers.Range.FirstOrDefault() is { } range && range.StartsWith("bytes=", StringComparison.Ordinal) && range.EndsWith('-'))
        {
            from = long.Parse(range["bytes=".Length..^1]);
            if (from >= data.Length)
            {
                ctx.Response.StatusCode = 416;
                ctx.Response.Headers.ContentRange = $"bytes */{data.Length}";
                return;
            }
            ctx.Response.StatusCode = 206;
            ctx.Response.Headers.ContentRange = $"bytes {from}-{data.Length - 1}/{data.Length}";
        }
        ctx.Response.ContentLength = data.Length - from;
        ctx.Response.Headers.AcceptRanges = "bytes";
        if (head) return;
        if (from == 0 && DropOnce.TryRemove(key, out long cut))
        {
            await ctx.Response.Body.WriteAsync(data.AsMemory(0, (int)cut));
            await ctx.Response.Body.FlushAsync();
            ctx.Abort(); // the connection breaks mid-file
            return;
        }
        await ctx.Response.Body.WriteAsync(data.AsMemory((int)from));
    }
}
