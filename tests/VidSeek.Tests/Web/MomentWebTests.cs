using System.Net;
using System.Text.Json;
using Microsoft.Playwright;
using VidSeek.Index;
using VidSeek.Tests.Index;
using VidSeek.Web;

namespace VidSeek.Tests.Web;

/// <summary>
/// A server over a folder index cut into 1-second windows: <c>bars_h264.mp4</c> (3 s, H.264, which Chromium plays) becomes
/// three moments, <c>numbered_h264.mp4</c> (1 s) stays one.
/// </summary>
public sealed class MomentServerFixture : IndexedServerFixture
{
    protected override string BuildIndex()
    {
        string videos = Models.NewVideoFolder("bars_h264.mp4", "numbered_h264.mp4");
        string index = Path.Combine(Models.Tmp, "moments.vsi");
        var (code, _, err) = CliRunner.Run("index", videos, "--model", Models.Model, "--out", index, "--segment", "1s");
        if (code != 0) throw new InvalidOperationException(err);
        return index;
    }
}

[Collection(ProcessStateCollection.Name)]
public class MomentWebTests(MomentServerFixture fixture) : IClassFixture<MomentServerFixture>
{
    private static readonly CancellationToken Cancel = TestContext.Current.CancellationToken;

    private async Task<List<JsonElement>> Search(string query)
    {
        var response = await fixture.Http.GetAsync("/api/search?k=10&q=" + Uri.EscapeDataString("colour bars") + query, Cancel);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Cancel));
        return doc.RootElement.GetProperty("results").EnumerateArray().ToList();
    }

    [Fact]
    public async Task HitsAreMomentsWithNeighboursAndPerVideoKeepsTheBestOfEach()
    {
        var all = await Search("");
        Assert.Equal(4, all.Count); // 3 moments of bars, 1 of numbered
        var bars = all.Where(r => r.GetProperty("path").GetString() == "bars_h264.mp4").OrderBy(r => r.GetProperty("start").GetDouble()).ToList();
        Assert.Equal([0.0, 1.0, 2.0], bars.Select(r => Math.Round(r.GetProperty("start").GetDouble(), 3)));
        Assert.Equal([1.0, 2.0, 3.0], bars.Select(r => Math.Round(r.GetProperty("end").GetDouble(), 3)));
        // Neighbours chain the moments of a video, and a one-moment video has none.
        Assert.Equal(JsonValueKind.Null, bars[0].GetProperty("previous").ValueKind);
        Assert.Equal(bars[1].GetProperty("segment_id").GetInt64(), bars[0].GetProperty("next").GetProperty("segment_id").GetInt64());
        Assert.Equal(bars[0].GetProperty("segment_id").GetInt64(), bars[1].GetProperty("previous").GetProperty("segment_id").GetInt64());
        Assert.Equal(JsonValueKind.Null, bars[2].GetProperty("next").ValueKind);
        var numbered = all.Single(r => r.GetProperty("path").GetString() == "numbered_h264.mp4");
        Assert.Equal(JsonValueKind.Null, numbered.GetProperty("previous").ValueKind);
        Assert.Equal(JsonValueKind.Null, numbered.GetProperty("next").ValueKind);

        // per_video: one hit per video, each video's best moment, in the same order as the full ranking.
        var perVideo = await Search("&per_video=true");
        Assert.Equal(2, perVideo.Count);
        var firsts = all.DistinctBy(r => r.GetProperty("video_id").GetInt64()).Select(r => r.GetProperty("segment_id").GetInt64());
        Assert.Equal(firsts, perVideo.Select(r => r.GetProperty("segment_id").GetInt64()));
        Assert.Equal([1, 2], perVideo.Select(r => r.GetProperty("rank").GetInt32()));

        // A neighbour scored for the same query is the same moment as in the full ranking.
        long id = bars[1].GetProperty("segment_id").GetInt64();
        using var moment = JsonDocument.Parse(await fixture.Http.GetStringAsync($"/api/moment/{id}?q=" + Uri.EscapeDataString("colour bars"), Cancel));
        var m = moment.RootElement.GetProperty("result");
        Assert.Equal(bars[1].GetProperty("score").GetDouble(), m.GetProperty("score").GetDouble(), 5);
        Assert.Equal(bars[1].GetProperty("start").GetDouble(), m.GetProperty("start").GetDouble());

        Assert.Equal(HttpStatusCode.BadRequest, (await fixture.Http.GetAsync("/api/search?q=bars&per_video=maybe", Cancel)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await fixture.Http.GetAsync("/api/moment/999999?q=bars", Cancel)).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await fixture.Http.GetAsync("/api/moment/1", Cancel)).StatusCode);
    }

    [Fact]
    public void TheSearchCommandShowsTheTimeRangeAndPerVideoWithinEightyColumns()
    {
        var (code, stdout, stderr) = CliRunner.Run("search", fixture.Index, "colour bars", "-k", "10");
        Assert.True(code == 0, stderr);
        Assert.Contains("moment", stdout);
        foreach (var range in new[] { "0.0-1.0 s", "1.0-2.0 s", "2.0-3.0 s" }) Assert.Contains(range, stdout);
        Assert.All(stdout.Split('\n'), line => Assert.True(line.Length <= 80, $"wider than 80 columns: {line}"));
        Assert.Equal(3, stdout.Split('\n').Count(l => l.Contains("bars_h264.mp4")));

        var per = CliRunner.Run("search", fixture.Index, "colour bars", "-k", "10", "--per-video");
        Assert.True(per.Code == 0, per.Err);
        Assert.Equal(1, per.Out.Split('\n').Count(l => l.Contains("bars_h264.mp4")));
        Assert.Equal(1, per.Out.Split('\n').Count(l => l.Contains("numbered_h264.mp4")));
    }

    /// <summary>The page in Chromium: every moment's player starts inside the moment, and the neighbour links move to the next one.</summary>
    [Fact]
    public async Task ThePlayerStartsAtTheMomentAndTheNextLinkMovesToTheNextMoment()
    {
        BrowserTests.SkipWithoutChromium();
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new() { ExecutablePath = BrowserTests.Chromium, Headless = true, Args = ["--no-sandbox"] });
        var page = await browser.NewPageAsync(new() { ViewportSize = new() { Width = 1200, Height = 1400 } });
        await page.GotoAsync(fixture.Server.Url);
        await page.FillAsync("#q", "colour bars");
        await page.PressAsync("#q", "Enter");
        await page.WaitForSelectorAsync(".result[data-rank='4']");

        // The player of each bars moment, once it has its metadata, stands inside the moment's range.
        const string playersInRange = """
            () => [...document.querySelectorAll('.result')].filter(c => c.querySelector('.path').textContent === 'bars_h264.mp4').every(c => {
              const v = c.querySelector('video');
              return v && v.readyState >= 1 && v.currentTime >= +c.dataset.start - 0.05 && v.currentTime <= +c.dataset.end + 0.05;
            })
            """;
        await page.WaitForFunctionAsync(playersInRange, null, new() { Timeout = 20_000 });
        var starts = await page.EvalOnSelectorAllAsync<double[]>(".result", "cs => cs.filter(c => c.querySelector('.path').textContent === 'bars_h264.mp4').map(c => c.querySelector('video').currentTime)");
        Assert.Contains(starts, t => t >= 1.9); // a moment that does not start at 0: the player really moved
        Assert.Equal(4, await page.Locator(".result .moment").CountAsync()); // every card shows its time range

        // The first moment of bars links to the next; following it shows that moment, its frames and a player inside it.
        var first = page.Locator(".result[data-start='0']", new() { Has = page.Locator(".path", new() { HasText = "bars_h264.mp4" }) });
        string rank = (await first.GetAttributeAsync("data-rank"))!;
        await first.Locator("button.next").ClickAsync();
        var moved = page.Locator($".result[data-rank='{rank}']");
        await page.WaitForFunctionAsync($"() => {{ const c = document.querySelector(\".result[data-rank='{rank}']\"); return c && Math.abs(+c.dataset.start - 1) < 0.01; }}");
        Assert.Equal(4, await moved.Locator("img.thumb").CountAsync());
        Assert.Equal(1, await moved.Locator("button.prev").CountAsync());
        await page.WaitForFunctionAsync($"() => {{ const c = document.querySelector(\".result[data-rank='{rank}']\"); const v = c.querySelector('video'); return v.readyState >= 1 && v.currentTime >= 0.95 && v.currentTime <= 2.05; }}", null, new() { Timeout = 20_000 });

        string artifacts = Path.Combine(TestPaths.RepoRoot, "artifacts");
        Directory.CreateDirectory(artifacts);
        await page.ScreenshotAsync(new() { Path = Path.Combine(artifacts, "moments-page.png"), FullPage = true });
    }
}
