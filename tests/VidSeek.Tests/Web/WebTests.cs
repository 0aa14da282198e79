using System.Net;
using System.Text.Json;
using Microsoft.Playwright;
using VidSeek.Index;
using VidSeek.Models.DualEncoder;
using VidSeek.Tests.Index;
using VidSeek.Tests.Training;
using VidSeek.Web;

namespace VidSeek.Tests.Web;

/// <summary>A running <see cref="SearchServer"/> on a free port over an index of the fixture videos with their test captions.</summary>
public sealed class ServerFixture : IndexedServerFixture
{
    public string Root { get; private set; } = "";

    protected override string BuildIndex()
    {
        var (videos, root) = IndexBuilder.FromSplit(TinySetup.Split());
        Root = root;
        return Build(Path.Combine(Models.Tmp, "web.vsi"), videos, root);
    }
}

[Collection(ProcessStateCollection.Name)]
public class WebApiTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private static readonly CancellationToken Cancel = TestContext.Current.CancellationToken;

    [Fact]
    public async Task SearchReturnsTopKWithFramesAttentionAndGroundTruth()
    {
        var response = await fixture.Http.GetAsync("/api/search?q=" + Uri.EscapeDataString("video number 2 with colour bars") + "&k=5", Cancel);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Cancel));
        var results = doc.RootElement.GetProperty("results").EnumerateArray().ToList();
        Assert.Equal(5, results.Count);
        Assert.Equal("xpool", doc.RootElement.GetProperty("pooling").GetString());
        Assert.Equal(Enumerable.Range(1, 5), results.Select(r => r.GetProperty("rank").GetInt32()));
        var scores = results.Select(r => r.GetProperty("score").GetDouble()).ToList();
        Assert.Equal(scores.OrderDescending(), scores);
        foreach (var r in results)
        {
            var frames = r.GetProperty("frames").EnumerateArray().ToList();
            Assert.Equal(4, frames.Count);
            Assert.Equal(1.0, frames.Sum(f => f.GetProperty("attention").GetDouble()), 4);
        }
        // Ground truth is marked where it appears (the caption belongs to counter_mpeg4.mp4 only).
        Assert.All(results, r => Assert.Equal(r.GetProperty("path").GetString()!.EndsWith("counter_mpeg4.mp4"), r.GetProperty("ground_truth").GetBoolean()));

        var thumb = await fixture.Http.GetAsync(results[0].GetProperty("frames")[0].GetProperty("thumbnail_url").GetString(), Cancel);
        Assert.Equal("image/jpeg", thumb.Content.Headers.ContentType!.MediaType);
        var jpeg = await thumb.Content.ReadAsByteArrayAsync(Cancel);
        Assert.Equal([0xFF, 0xD8], jpeg[..2]);

        var preview = await fixture.Http.GetAsync(results[0].GetProperty("preview_url").GetString(), Cancel);
        Assert.Equal("multipart/x-mixed-replace", preview.Content.Headers.ContentType!.MediaType);
        var stream = System.Text.Encoding.Latin1.GetString(await preview.Content.ReadAsByteArrayAsync(Cancel));
        Assert.True(System.Text.RegularExpressions.Regex.Matches(stream, "Content-Type: image/jpeg").Count >= 1, "the preview stream has JPEG frames");

        var video = await fixture.Http.GetAsync(results[0].GetProperty("video_url").GetString(), Cancel);
        Assert.Equal(HttpStatusCode.OK, video.StatusCode);
        var bytes = await video.Content.ReadAsByteArrayAsync(Cancel);
        Assert.Equal(File.ReadAllBytes(Path.Combine(fixture.Root, results[0].GetProperty("path").GetString()!)), bytes);
    }

    [Theory]
    [InlineData("/api/search", "missing query")]
    [InlineData("/api/search?q=", "missing query")]
    [InlineData("/api/search?q=%20%20", "missing query")]
    [InlineData("/api/search?q=bars&k=0", "k must be")]
    [InlineData("/api/search?q=bars&k=abc", "k must be")]
    [InlineData("/api/search?q=bars&k=1000", "k must be")]
    [InlineData("/api/thumbnail/x/0", "must be integers")]
    [InlineData("/api/video/abc", "integer id")]
    [InlineData("/api/preview/abc", "integer id")]
    [InlineData("/api/video/..%2F..%2F..%2Fetc%2Fpasswd", "integer id")]
    public async Task MalformedRequestsGet400WithAJsonError(string url, string message)
    {
        var response = await fixture.Http.GetAsync(url, Cancel);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType!.MediaType);
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Cancel));
        Assert.Contains(message, doc.RootElement.GetProperty("error").GetString());
    }

    [Theory]
    [InlineData("/api/video/999999")]
    [InlineData("/api/preview/999999")]
    [InlineData("/api/thumbnail/1/99")]
    [InlineData("/api/video/../../etc/passwd")]
    [InlineData("/etc/passwd")]
    [InlineData("/bars_h264.mp4")]
    public async Task NothingOutsideTheIndexIsServed(string url)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        // Send the path as written (HttpClient would otherwise resolve the dot segments itself).
        request.RequestUri = new Uri(fixture.Http.BaseAddress!, new Uri(url, UriKind.Relative));
        var response = await fixture.Http.SendAsync(request, Cancel);
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.DoesNotContain("root:", await response.Content.ReadAsStringAsync(Cancel));
    }
}

/// <summary>
/// The page in a real browser (Playwright driving Debian's chromium, which <c>.ci/run</c> installs): type a query, see five
/// results with thumbnails and attention bars. The screenshot is kept in <c>artifacts/</c> at the repository root.
/// </summary>
[Collection(ProcessStateCollection.Name)]
public class BrowserTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    /// <summary>The chromium to drive: <c>VIDSEEK_CHROMIUM</c>, else Debian's; <c>VIDSEEK_CHROMIUM=none</c> skips the browser tests.</summary>
    public static string? Chromium => Environment.GetEnvironmentVariable("VIDSEEK_CHROMIUM") == "none" ? null
        : new[] { Environment.GetEnvironmentVariable("VIDSEEK_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser" }
            .FirstOrDefault(p => !string.IsNullOrEmpty(p) && File.Exists(p));

    /// <summary>
    /// Skips the calling test when no chromium is installed, saying so where <c>dotnet test</c> shows it: a skipped test's
    /// reason alone appears only at detailed verbosity, so the reason also goes to stderr, which the console logger shows.
    /// </summary>
    public static void SkipWithoutChromium()
    {
        if (Chromium is not null) return;
        string reason = Environment.GetEnvironmentVariable("VIDSEEK_CHROMIUM") == "none" ? "VIDSEEK_CHROMIUM=none"
            : "no chromium browser installed (apt-get install chromium, or set VIDSEEK_CHROMIUM); .ci/run installs it";
        Console.Error.WriteLine($"warning: browser tests skipped: {reason}");
        TestContext.Current.SendDiagnosticMessage($"browser tests skipped: {reason}");
        Assert.Skip(reason);
    }

    [Fact]
    public async Task TypingAQueryShowsFiveResultsWithThumbnailsAndAttentionBars()
    {
        SkipWithoutChromium();
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new() { ExecutablePath = Chromium, Headless = true, Args = ["--no-sandbox"] });
        var page = await browser.NewPageAsync(new() { ViewportSize = new() { Width = 1200, Height = 1400 } });
        await page.GotoAsync(fixture.Server.Url);
        await page.FillAsync("#q", "video number 2 with colour bars");
        await page.PressAsync("#q", "Enter");
        await page.WaitForSelectorAsync(".result[data-rank='5']");

        Assert.Equal(5, await page.Locator(".result").CountAsync());
        for (int i = 0; i < 5; i++)
        {
            var card = page.Locator(".result").Nth(i);
            Assert.Equal(4, await card.Locator("img.thumb").CountAsync());
            Assert.Equal(4, await card.Locator(".bar").CountAsync());
        }
        // Every thumbnail actually loaded, and the tallest bar of each card is full height.
        await page.WaitForFunctionAsync("() => [...document.querySelectorAll('img.thumb')].every(i => i.complete && i.naturalWidth > 0)");
        var heights = await page.EvalOnSelectorAllAsync<string[]>(".result", "cards => cards.map(c => Math.max(...[...c.querySelectorAll('.bar')].map(b => parseFloat(b.style.height))).toFixed(0))");
        Assert.All(heights, h => Assert.Equal("100", h));
        // The caption's video is outlined as ground truth where it is listed.
        var gt = page.Locator(".result.ground-truth");
        if (await gt.CountAsync() > 0) Assert.Contains("counter_mpeg4.mp4", await gt.First.Locator(".path").InnerTextAsync());

        // counter_mpeg4.mp4 is MPEG-4 part 2, which Chromium does not decode: its card offers the server's preview stream.
        var mpeg4 = page.Locator(".result", new() { Has = page.Locator(".path", new() { HasText = "counter_mpeg4.mp4" }) });
        if (await mpeg4.CountAsync() > 0)
        {
            await mpeg4.Locator("button.play").ClickAsync(new() { Timeout = 15_000 });
            await page.WaitForFunctionAsync("() => { const i = document.querySelector('img.preview'); return i && i.naturalWidth > 0; }", null, new() { Timeout = 15_000 });
        }

        string artifacts = Path.Combine(TestPaths.RepoRoot, "artifacts");
        Directory.CreateDirectory(artifacts);
        string shot = Path.Combine(artifacts, "search-page.png");
        await page.ScreenshotAsync(new() { Path = shot, FullPage = true });
        Assert.True(new FileInfo(shot).Length > 10_000);
        TestContext.Current.AddAttachment("screenshot", shot);
    }
}
