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
/// <item><c>GET /api/search?q=TEXT&amp;k=5[&amp;per_video=true]</c>: the moments (segments) as JSON, each with its time range and its
/// neighbouring moments; <c>per_video</c>: at most one per video. A missing or empty <c>q</c>, or a bad <c>k</c>, is a 400 with
/// <c>{"error": ...}</c>.</item>
/// <item><c>GET /api/moment/{segment}?q=TEXT</c>: one moment scored for the query (the page's previous / next links).</item>
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
    private IReadOnlyList<string>? examples;

    /// <summary>The address it listens on, with the actual port when 0 was asked for.</summary>
    public string Url => app.Services.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>()
        .Features.Get<Microsoft.AspNetCore.Hosting.Server.Features.IServerAddressesFeature>()!.Addresses.First();

    private SearchServer(VideoSearcher searcher, ServeOptions options, IPAddress address)
    {
        this.searcher = searcher;
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.SetMinimumLevel(options.LogLevel);
        // A failed start (port in use) is reported by StartAsync in one line; the host's own log of it is 60 lines of stack.
        builder.Logging.AddFilter("Microsoft.Extensions.Hosting", LogLevel.None);
        // Exactly one address (ListenAddress): a URL with a host name would make Kestrel listen on every interface.
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(address, options.Port));
        builder.Services.ConfigureHttpJsonOptions(o =>
        {
            o.SerializerOptions.PropertyNamingPolicy = System.Text.Json.JsonNamingPolicy.SnakeCaseLower;
            // A non-finite score is written as "NaN"/"Infinity" rather than failing the response halfway.
            o.SerializerOptions.NumberHandling |= System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals;
        });
        app = builder.Build();
        Map(options);
    }

    /// <summary>
    /// Starts serving <paramref name="searcher"/> (which the server then owns, and disposes if it cannot start). A host that is
    /// not one address (<see cref="ListenAddress"/>), or a port in use, is a <see cref="VidSeekException"/> in one line.
    /// </summary>
    public static async Task<SearchServer> StartAsync(VideoSearcher searcher, ServeOptions? options = null)
    {
        options ??= new ServeOptions();
        IPAddress address;
        try { address = ListenAddress.Resolve(options.Host); }
        catch { searcher.Dispose(); throw; }
        var server = new SearchServer(searcher, options, address);
        try
        {
            await server.app.StartAsync();
        }
        catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException)
        {
            await server.app.DisposeAsync();
            searcher.Dispose();
            string where = address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{address}]:{options.Port}" : $"{address}:{options.Port}";
            if (e is Microsoft.AspNetCore.Connections.AddressInUseException || e.InnerException is Microsoft.AspNetCore.Connections.AddressInUseException)
                throw new VidSeekException($"port {options.Port} on {address} is already in use (another vidseek serve?); choose another --port, or --port 0 for any free one");
            throw new VidSeekException($"cannot listen on {where}: {(e.InnerException ?? e).Message}" +
                (ListenAddress.IsWildcard(address) || IPAddress.IsLoopback(address) ? "" : " (is it an address of this machine?)"));
        }
        return server;
    }

    public Task WaitForShutdownAsync(CancellationToken cancel = default) => app.WaitForShutdownAsync(cancel);

    private static IResult Error(string message, int status = StatusCodes.Status400BadRequest) =>
        Results.Json(new { error = message }, statusCode: status);

    private void Map(ServeOptions options)
    {
        string page = ReadPage();
        // Everything here is read-only: any other method than GET is a 405 with a JSON error, before routing (whose
        // fallback would otherwise answer 404).
        app.Use(async (context, next) =>
        {
            if (!HttpMethods.IsGet(context.Request.Method))
            {
                context.Response.Headers.Allow = "GET";
                await Error($"method {context.Request.Method} not allowed; this server answers GET only", StatusCodes.Status405MethodNotAllowed).ExecuteAsync(context);
                return;
            }
            await next(context);
        });
        app.MapGet("/", () => Results.Content(page, "text/html; charset=utf-8"));

        app.MapGet("/api/search", async (HttpRequest request) =>
        {
            string? q = request.Query["q"];
            if (string.IsNullOrWhiteSpace(q)) return Error("missing query: /api/search?q=TEXT&k=5");
            if (q.Length > 1000) return Error("query too long (at most 1000 characters)");
            int k = 5;
            if (request.Query.TryGetValue("k", out var kText) && (!int.TryParse(kText, out k) || k < 1 || k > options.MaxK))
                return Error($"k must be an integer from 1 to {options.MaxK}");
            bool perVideo = false, exact = false;
            if (request.Query.TryGetValue("per_video", out var pv) && !bool.TryParse(pv, out perVideo))
                return Error("per_video must be true or false");
            if (request.Query.TryGetValue("exact", out var exactText) && !bool.TryParse(exactText, out exact))
                return Error("exact must be true or false");
            await gate.WaitAsync();
            try
            {
                var hits = searcher.Search(q, k, perVideo, exact);
                return Results.Json(new
                {
                    query = q,
                    pooling = searcher.Kind,
                    ground_truth_known = searcher.HasCaptions,
                    per_video = perVideo,
                    verdict = SearchHit.Verdict(hits),
                    good_match_percentile = ScoreCalibration.GoodMatchPercentile,
                    results = hits.Select(Hit),
                });
            }
            catch (VidSeekException e) { return Error(e.Message); }
            finally { gate.Release(); }
        });

        // One moment (a neighbour of a hit: the page's previous / next links) scored and explained for the query.
        app.MapGet("/api/moment/{segment}", async (HttpRequest request, string segment) =>
        {
            if (!long.TryParse(segment, out long id)) return Error("segment must be an integer id");
            string? q = request.Query["q"];
            if (string.IsNullOrWhiteSpace(q)) return Error("missing query: /api/moment/ID?q=TEXT");
            if (q.Length > 1000) return Error("query too long (at most 1000 characters)");
            await gate.WaitAsync();
            try
            {
                var hit = searcher.Moment(q, id);
                return hit is null ? Error($"no segment {id} in the index", StatusCodes.Status404NotFound)
                    : Results.Json(new { query = q, pooling = searcher.Kind, ground_truth_known = searcher.HasCaptions, result = Hit(hit) });
            }
            catch (VidSeekException e) { return Error(e.Message); }
            finally { gate.Release(); }
        });

        // Captions the model itself ranks its ground-truth video first for (tried in index order, so not chosen by hand), so the
        // page's green outline shows for them; computed once, on the first request.
        app.MapGet("/api/examples", async () =>
        {
            await gate.WaitAsync();
            try { return Results.Json(new { examples = examples ??= searcher.WellFoundCaptions(6, tried: 60), chosen_by = "the model's own top result is the caption's ground-truth video" }); }
            finally { gate.Release(); }
        });

        app.MapGet("/api/thumbnail/{segment}/{frame}", async (string segment, string frame) =>
        {
            if (!TryParseId(segment, out long id) || !TryParseId(frame, out long frameId) || frameId > int.MaxValue) return Error("segment and frame must be integers");
            int f = (int)frameId;
            await gate.WaitAsync();
            byte[]? jpeg;
            try { jpeg = searcher.Index.Thumbnail(id, f); }
            finally { gate.Release(); }
            return jpeg is null ? Error($"no frame {f} of segment {id} in the index", StatusCodes.Status404NotFound) : Results.Bytes(jpeg, "image/jpeg");
        });

        app.MapGet("/api/video/{video}", (string video) =>
        {
            var (file, error) = VideoFile(video);
            return error ?? Results.Stream(file!.Stream!, ContentType(file.RealPath!), enableRangeProcessing: true);
        });

        // The clip as an MJPEG stream (multipart/x-mixed-replace, which an <img> plays): browsers cannot decode every
        // codec VidSeek reads (the Shapes videos are MPEG-4 part 2), and no browser-playable encoder ships with OpenCvSharp.
        app.MapGet("/api/preview/{video}", async (HttpContext context, string video) =>
        {
            var (file, error) = VideoFile(video);
            if (error is not null) { await error.ExecuteAsync(context); return; }
            string full = file!.RealPath!;
            await file.Stream!.DisposeAsync(); // checked; the decoder opens it by path
            // ?start=S&end=E plays one moment: frames before S are decoded and skipped, the stream ends after E.
            double start = 0, end = double.PositiveInfinity;
            if ((context.Request.Query.TryGetValue("start", out var st) && (!double.TryParse(st, System.Globalization.CultureInfo.InvariantCulture, out start) || !(start >= 0)))
                || (context.Request.Query.TryGetValue("end", out var en) && (!double.TryParse(en, System.Globalization.CultureInfo.InvariantCulture, out end) || !(end >= start))))
            {
                await Error("start and end must be times in seconds, 0 <= start <= end").ExecuteAsync(context);
                return;
            }
            const string boundary = "vidseekframe";
            context.Response.ContentType = $"multipart/x-mixed-replace; boundary={boundary}";
            context.Response.Headers.CacheControl = "no-store";
            var clock = System.Diagnostics.Stopwatch.StartNew();
            try
            {
                foreach (var (jpeg, time) in VidSeek.Video.VideoReader.JpegFrames(full))
                {
                    if (time < start - 1e-6) { clock.Restart(); continue; }
                    if (time >= end) break;
                    var wait = TimeSpan.FromSeconds(time - start) - clock.Elapsed; // real time
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

    /// <summary>A hit as the page reads it: the moment, its frames with attention and thumbnails, and its neighbouring moments.</summary>
    private object Hit(SearchHit h)
    {
        var (previous, next) = searcher.Neighbours(h.Segment.Id);
        return new
        {
            rank = h.Rank, score = h.Score, path = h.Video.Path, video_id = h.Video.Id, duration = h.Video.Duration,
            segment_id = h.Segment.Id, ordinal = h.Segment.Ordinal, start = h.Segment.Start, end = h.Segment.End,
            best_frame = h.BestFrame, best_frame_time = h.BestFrameTime, ground_truth = h.IsGroundTruth, itm_score = h.MatchScore,
            stand_out = h.StandOut, percentile = h.Percentile,
            video_url = $"/api/video/{h.Video.Id}", preview_url = $"/api/preview/{h.Video.Id}",
            previous = previous is null ? null : new { segment_id = previous.Id, start = previous.Start, end = previous.End },
            next = next is null ? null : new { segment_id = next.Id, start = next.Start, end = next.End },
            frames = h.Segment.FrameTimes.Select((t, f) => new
            {
                time = t, attention = h.FrameWeights?[f], score = h.FrameScores[f], thumbnail_url = $"/api/thumbnail/{h.Segment.Id}/{f}",
            }),
        };
    }

    /// <summary>
    /// The opened file of the index video whose id is <paramref name="video"/>, or the error to answer: only ids of the index
    /// resolve, and only to the file that was indexed (<see cref="IndexedFile"/>: under the root once every link is
    /// resolved, same size and modification time). A refusal is also logged, since it means the folder changed under the
    /// index or someone tried to make it serve another file.
    /// </summary>
    private (IndexedFile.Result? File, IResult? Error) VideoFile(string video)
    {
        if (!TryParseId(video, out long id)) return (null, Error("video must be an integer id"));
        if (searcher.Video(id) is not { } v) return (null, Error($"no video {id} in the index", StatusCodes.Status404NotFound));
        var file = IndexedFile.Open(searcher.Index.Manifest.Root, v.Path, v.Size, v.MtimeTicks);
        if (file.Stream is null)
        {
            app.Logger.LogWarning("video {Id} not served: {Reason}", id, file.Error);
            return (null, Error(file.Error!, file.Status));
        }
        return (file, null);
    }

    /// <summary>
    /// An id as the server writes them: ASCII digits, no sign, no spaces, no leading zero (<c>long.TryParse</c> would also take
    /// <c> 1</c>, <c>+1</c> and <c>0001</c>, so several URLs would name one video).
    /// </summary>
    public static bool TryParseId(string text, out long id)
    {
        id = 0;
        if (text.Length is 0 or > 18 || (text[0] == '0' && text.Length > 1)) return false;
        foreach (char c in text)
        {
            if (!char.IsAsciiDigit(c)) return false;
            id = id * 10 + (c - '0');
        }
        return true;
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
