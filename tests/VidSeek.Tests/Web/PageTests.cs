using System.Text.Json;
using Microsoft.Playwright;
using VidSeek.Index;
using VidSeek.Tests.Index;
using VidSeek.Web;

namespace VidSeek.Tests.Web;

/// <summary>A server over an index of every decodable fixture video twice (16 videos): more results than one page of five.</summary>
public sealed class PagingServerFixture : IndexedServerFixture
{
    protected override string BuildIndex()
    {
        string folder = Path.Combine(Models.Tmp, "videos");
        foreach (var copy in new[] { "a", "b" })
        {
            Directory.CreateDirectory(Path.Combine(folder, copy));
            foreach (var name in IndexFixture.GoodVideos) File.Copy(Path.Combine(TestPaths.Videos, name), Path.Combine(folder, copy, name));
        }
        var (videos, root) = VideoFiles.Scan(folder);
        return Build(Path.Combine(Models.Tmp, "paging.vsi"), videos, root);
    }
}

/// <summary>The page's URL state, paging and player seeking in a real browser; the API's calibration fields.</summary>
[Collection(ProcessStateCollection.Name)]
public class PageTests(PagingServerFixture fixture) : IClassFixture<PagingServerFixture>
{
    private static readonly CancellationToken Cancel = TestContext.Current.CancellationToken;

    [Fact]
    public async Task TheApiReportsEachResultAgainstUnrelatedTextAndAVerdict()
    {
        using var doc = JsonDocument.Parse(await fixture.Http.GetStringAsync("/api/search?q=colour+bars&k=7", Cancel));
        var root = doc.RootElement;
        Assert.Contains(root.GetProperty("verdict").GetString(), new[] { "good match", "no good match" });
        var results = root.GetProperty("results").EnumerateArray().ToList();
        Assert.Equal(7, results.Count);
        foreach (var r in results)
        {
            Assert.InRange(r.GetProperty("percentile").GetDouble(), 0, 100);
            Assert.True(double.IsFinite(r.GetProperty("stand_out").GetDouble()));
        }
        // The percentile is a monotone function of the stand-out (both against the same bank), and the verdict is the rule
        // applied to the best percentile among the results.
        var pairs = results.Select(r => (Z: r.GetProperty("stand_out").GetDouble(), P: r.GetProperty("percentile").GetDouble())).OrderBy(x => x.Z).ToList();
        Assert.Equal(pairs.Select(x => x.P).Order(), pairs.Select(x => x.P));
        double best = pairs.Max(x => x.P);
        Assert.Equal(best >= root.GetProperty("good_match_percentile").GetDouble() ? "good match" : "no good match", root.GetProperty("verdict").GetString());
    }

    [Fact]
    public async Task ASearchUrlShowsResultsThumbnailsSeekAndMoreAddsRanks6To10()
    {
        BrowserTests.SkipWithoutChromium();
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new() { ExecutablePath = BrowserTests.Chromium, Headless = true, Args = ["--no-sandbox", "--autoplay-policy=no-user-gesture-required"] });
        var page = await browser.NewPageAsync(new() { ViewportSize = new() { Width = 1200, Height = 1400 } });
        await page.GotoAsync(fixture.Server.Url + "/?q=" + Uri.EscapeDataString("moving colour bars") + "&k=5");

        // Results without typing: the query came from the URL.
        await page.WaitForSelectorAsync(".result[data-rank='5']");
        Assert.Equal(5, await page.Locator(".result").CountAsync());
        Assert.Equal("moving colour bars", await page.InputValueAsync("#q"));
        Assert.False(string.IsNullOrEmpty(await page.InnerTextAsync("#verdict")));

        // A card whose file the browser plays (H.264 or VP8/VP9): clicking its third thumbnail seeks the player to that frame.
        await page.WaitForFunctionAsync("() => [...document.querySelectorAll('video.player')].some(v => v.readyState >= 1)", null, new() { Timeout = 30_000 });
        int card = await page.EvaluateAsync<int>("() => [...document.querySelectorAll('.result')].findIndex(c => { const v = c.querySelector('video.player'); return v && v.readyState >= 1; })");
        var target = page.Locator(".result").Nth(card);
        double before = await target.Locator("video.player").EvaluateAsync<double>("v => v.currentTime");
        // Not the best-matching frame, where the player already starts.
        await target.Locator(".frame:not(.best) img.thumb").Last.ClickAsync();
        await page.WaitForFunctionAsync($"() => {{ const v = document.querySelectorAll('.result')[{card}].querySelector('video.player'); return Math.abs(v.currentTime - {before.ToString(System.Globalization.CultureInfo.InvariantCulture)}) > 0.01; }}",
            null, new() { Timeout = 15_000 });

        // "More results": ranks 6-10 appended below the first five, and the URL says k=10.
        await page.ClickAsync("#more");
        await page.WaitForSelectorAsync(".result[data-rank='10']");
        var ranks = await page.Locator(".result").EvaluateAllAsync<string[]>("cards => cards.map(c => c.dataset.rank)");
        Assert.Equal(Enumerable.Range(1, 10).Select(i => i.ToString()), ranks);
        Assert.Contains("k=10", page.Url);

        // Reload keeps the search (ten results again).
        await page.ReloadAsync();
        await page.WaitForSelectorAsync(".result[data-rank='10']");
        Assert.Equal(10, await page.Locator(".result").CountAsync());
    }
}
