using System.Net;
using System.Reflection;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using VidSeek.Index;

namespace VidSeek.Web;

/// <summary>Where and how <see cref="SearchServer"/> listens.</summary>
public sealed record ServeOptions
{
    /// <summary>Loopback by default: the page serves the index's video files, so reaching it from elsewhere is an opt-in.</summary>
    public string Host { get; init; } = "127.0.0.1";
    /// <summary>0 picks a free port (see <see cref="SearchServer.Url"/>).</summary>
    public int Port { get; init; } = 8080;
    public int MaxK { get; init; } = 50;
    public LogLevel LogLevel { get; init; } = LogLevel.Warning;
}

/// <summary>
/// The web front end of a <see cref="VideoSearcher"/>: an ASP.NET Core minimal API and one static page.
/// <list type="bullet">
/// <item><c>GET /</c>: the page (search box; per result a strip of frame thumbnails with X-Pool's attention bars under them,
/// the score, the clip's player; the ground-truth video outlined in green for dataset indexes).</item>
/// <item><c>GET /api/search?q=TEXT&amp;k=5</c>: the results as JSON; a missing or empty <c>q</c>, or a bad <c>k</c>, is a 400 with
/// <c>{"error": ...}</c>.</item>
/// <item><c>GET /api/examples</c>: a few ground-truth captions to try (empty for a folder index).</item>
/// <item><c>GET /api/thumbnail/{segment}/{frame}</c>, <c>GET /api/video/{video}</c> (the file, with range requests) and
/// <c>GET /api/preview/{video}</c> (the clip as an MJPEG stream, for codecs browsers do not play): by the index's numeric video
/// id only, so no request path ever becomes a file path: only files inside the index can be served.</item>
/// </list>
/// </summary>
public sealed class SearchServer : IAsyncDisposable
{
    private readonly WebApplication app;
    private readonly VideoSearcher searcher;
    // One search at a time: the SQLite connection is not thread-safe, and two CPU-bound searches gain nothing on 2 cores.
    private readonly SemaphoreSlim gate = new(1, 1);

    /// <summary>The address it listens on, with the actual port when 0 was asked for.</summary>
    public string Url => app.Services.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>()
        .Features.Get<Microsoft.AspNetCore.Hosting.Server.Features.IServerAddressesFeature>()!.Addresses.First();

    private SearchServer(VideoSearcher searcher, ServeOptions options)
    {
        this.searcher = searcher;
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.SetMinimumLevel(options.LogLevel);
        builder.WebHost.UseUrls($"http://{(options.Host.Contains(':') ? $"[{options.Host}]" : options.Host)}:{options.Port}");
        builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.PropertyNamingPolicy = System.Text.Json.JsonNamingPolicy.SnakeCaseLower);
        app = builder.Build();
        Map(options);
    }

    /// <summary>Starts serving <paramref name="searcher"/> (which the server then owns).</summary>
    public static async Task<SearchServer> StartAsync(VideoSearcher searcher, ServeOptions? options = null)
    {
        var server = new SearchServer(searcher, options ?? new ServeOptions());
        await server.app.StartAsync();
        return server;
    }

    public Task WaitForShutdownAsync(CancellationToken cancel = default) => app.WaitForShutdownAsync(cancel);

    private static IResult Error(string message, int status = StatusCodes.Status400BadRequest) =>
        Results.Json(new { error = message }, statusCode: status);

    private void Map(ServeOptions options)
    {
        string page = ReadPage();
        app.MapGet("/", () => Results.Content(page, "text/html; charset=utf-8"));

        app.MapGet("/api/search", async (HttpRequest request) =>
        {
            string? q = request.Query["q"];
            if (string.IsNullOrWhiteSpace(q)) return Error("missing query: /api/search?q=TEXT&k=5");
            if (q.Length > 1000) return Error("query too long (at most 1000 characters)");
            int k = 5;
            if (request.Query.TryGetValue("k", out var kText) && (!int.TryParse(kText, out k) || k < 1 || k > options.MaxK))
                return Error($"k must be an integer from 1 to {options.MaxK}");
            await gate.WaitAsync();
            try
            {
                var hits = searcher.Search(q, k);
                return Results.Json(new
                {
                    query = q,
                    pooling = searcher.Kind,
                    ground_truth_known = searcher.HasCaptions,
                    results = hits.Select(h => new
                    {
                        rank = h.Rank, score = h.Score, path = h.Video.Path, video_id = h.Video.Id, duration = h.Video.Duration,
                        segment_id = h.Segment.Id, start = h.Segment.Start, end = h.Segment.End,
                        best_frame = h.BestFrame, best_frame_time = h.BestFrameTime, ground_truth = h.IsGroundTruth, itm_score = h.MatchScore,
                        video_url = $"/api/video/{h.Video.Id}", preview_url = $"/api/preview/{h.Video.Id}",
                        frames = h.Segment.FrameTimes.Select((t, f) => new
                        {
                            time = t, attention = h.FrameWeights?[f], score = h.FrameScores[f], thumbnail_url = $"/api/thumbnail/{h.Segment.Id}/{f}",
                        }),
                    }),
                });
            }
            catch (VidSeekException e) { return Error(e.Message); }
            finally { gate.Release(); }
        });

        app.MapGet("/api/examples", () => Results.Json(new { examples = searcher.ExampleCaptions(8) }));

        app.MapGet("/api/thumbnail/{segment}/{frame}", async (string segment, string frame) =>
        {
            if (!long.TryParse(segment, out long id) || !int.TryParse(frame, out int f)) return Error("segment and frame must be integers");
            await gate.WaitAsync();
            byte[]? jpeg;
            try { jpeg = searcher.Index.Thumbnail(id, f); }
            finally { gate.Release(); }
            return jpeg is null ? Error($"no frame {f} of segment {id} in the index", StatusCodes.Status404NotFound) : Results.Bytes(jpeg, "image/jpeg");
        });

        app.MapGet("/api/video/{video}", (string video) =>
        {
            var (full, error) = VideoFile(video);
            return error ?? Results.File(full!, ContentType(full!), enableRangeProcessing: true);
        });

        // The clip as an MJPEG stream (multipart/x-mixed-replace, which an <img> plays): browsers cannot decode every
        // codec VidSeek reads (the Shapes videos are MPEG-4 part 2), and no browser-playable encoder ships with OpenCvSharp.
        app.MapGet("/api/preview/{video}", async (HttpContext context, string video) =>
        {
            var (full, error) = VideoFile(video);
            if (error is not null) { await error.ExecuteAsync(context); return; }
            const string boundary = "vidseekframe";
            context.Response.ContentType = $"multipart/x-mixed-replace; boundary={boundary}";
            context.Response.Headers.CacheControl = "no-store";
            var clock = System.Diagnostics.Stopwatch.StartNew();
            try
            {
                foreach (var (jpeg, time) in VidSeek.Video.VideoReader.JpegFrames(full!))
                {
                    var wait = TimeSpan.FromSeconds(time) - clock.Elapsed; // real time
                    if (wait > TimeSpan.Zero) await Task.Delay(wait, context.RequestAborted);
                    await context.Response.WriteAsync($"--{boundary}\r\nContent-Type: image/jpeg\r\nContent-Length: {jpeg.Length}\r\n\r\n", context.RequestAborted);
                    await context.Response.Body.WriteAsync(jpeg, context.RequestAborted);
                    await context.Response.WriteAsync("\r\n", context.RequestAborted);
                    await context.Response.Body.FlushAsync(context.RequestAborted);
                }
                await context.Response.WriteAsync($"--{boundary}--\r\n", context.RequestAborted);
            }
            catch (OperationCanceledException) { } // the page closed the stream
            catch (VidSeekException) when (!context.Response.HasStarted) { await Error($"video {video} cannot be decoded", StatusCodes.Status422UnprocessableEntity).ExecuteAsync(context); }
        });

        app.MapFallback((HttpContext c) => Error($"not found: {WebUtility.HtmlEncode(c.Request.Path)}", StatusCodes.Status404NotFound));
    }

    /// <summary>
    /// The file of the index video whose id is <paramref name="video"/>, or the error to answer: only ids of the index resolve,
    /// and the stored path, relative to the root by construction, is checked once more not to leave it.
    /// </summary>
    private (string? Path, IResult? Error) VideoFile(string video)
    {
        if (!long.TryParse(video, out long id)) return (null, Error("video must be an integer id"));
        if (searcher.Video(id) is not { } v) return (null, Error($"no video {id} in the index", StatusCodes.Status404NotFound));
        string full = Path.GetFullPath(Path.Combine(searcher.Index.Manifest.Root, v.Path));
        string root = Path.TrimEndingDirectorySeparator(searcher.Index.Manifest.Root) + Path.DirectorySeparatorChar;
        if (!full.StartsWith(root, StringComparison.Ordinal)) return (null, Error("forbidden", StatusCodes.Status403Forbidden));
        if (!File.Exists(full)) return (null, Error($"{v.Path} is no longer on disk", StatusCodes.Status404NotFound));
        return (full, null);
    }

    private static string ContentType(string path) => Path.GetExtension(path).ToLowerInvariant() switch
    {
        ".mp4" or ".m4v" or ".mov" => "video/mp4",
        ".webm" => "video/webm",
        ".ogv" => "video/ogg",
        ".mts" or ".m2ts" => "video/mp2t",
        ".3gp" => "video/3gpp",
        ".mpg" or ".mpeg" => "video/mpeg",
        ".wmv" => "video/x-ms-wmv",
        ".flv" => "video/x-flv",
        ".mkv" => "video/x-matroska",
        ".avi" => "video/x-msvideo",
        _ => "application/octet-stream",
    };

    private static string ReadPage()
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("VidSeek.Web.index.html")
            ?? throw new InvalidOperationException("the page resource VidSeek.Web.index.html is missing from the build");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    public async ValueTask DisposeAsync()
    {
        await app.StopAsync();
        await app.DisposeAsync();
        searcher.Dispose();
        gate.Dispose();
    }
}
