using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using VidSeek.Index;
using VidSeek.Tests.Index;
using VidSeek.Web;

namespace VidSeek.Tests.Reliability;

/// <summary>
/// A server over an index of a writable copy of three fixture videos, so that tests can change the folder under it (swap a
/// video for a symbolic link, touch it). Each test that changes a file restores it.
/// </summary>
public sealed class WritableServerFixture : IAsyncLifetime
{
    public IndexFixture Models { get; } = new();
    public SearchServer Server { get; private set; } = null!;
    public HttpClient Http { get; } = new();
    public string Videos { get; private set; } = "";
    public string IndexPath { get; private set; } = "";
    /// <summary>Index id by path relative to the root.</summary>
    public Dictionary<string, long> Ids { get; } = [];

    public async ValueTask InitializeAsync()
    {
        Videos = Models.NewVideoFolder("bars_h264.mp4", "numbered_h264.mp4", "counter_mpeg4.mp4");
        IndexPath = Path.Combine(Models.Tmp, "serve-security.vsi");
        var (code, _, err) = CliRunner.Run("index", Videos, "--model", Models.Model, "--out", IndexPath);
        Assert.True(code == 0, err);
        var searcher = VideoSearcher.Open(IndexPath);
        foreach (var v in searcher.Videos) Ids[v.Path] = v.Id;
        Server = await SearchServer.StartAsync(searcher, new ServeOptions { Port = 0 });
        Http.BaseAddress = new Uri(Server.Url);
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await Server.DisposeAsync();
        try { Directory.Delete(Videos, true); } catch (IOException) { }
        Models.Dispose();
    }
}

[Collection(ProcessStateCollection.Name)]
public sealed class ServeSecurityTests(WritableServerFixture fixture) : IClassFixture<WritableServerFixture>
{
    private static readonly CancellationToken Cancel = TestContext.Current.CancellationToken;

    private async Task<(HttpStatusCode Status, byte[] Body)> Get(string url)
    {
        var response = await fixture.Http.GetAsync(url, Cancel);
        return (response.StatusCode, await response.Content.ReadAsByteArrayAsync(Cancel));
    }

    /// <summary>Replaces <paramref name="relative"/> by <paramref name="change"/>, runs <paramref name="check"/>, and puts the original back.</summary>
    private async Task WithChanged(string relative, Action<string> change, Func<Task> check)
    {
        string path = Path.Combine(fixture.Videos, relative), saved = path + ".saved";
        File.Move(path, saved);
        try
        {
            change(path);
            await check();
        }
        finally
        {
            if (File.Exists(path) || new FileInfo(path).LinkTarget is not null) File.Delete(path);
            else if (Directory.Exists(path)) Directory.Delete(path, true);
            File.Move(saved, path);
        }
    }

    [Fact]
    public async Task AnUnchangedVideoIsServedByteForByte()
    {
        string relative = Path.Combine("sub", "counter_mpeg4.mp4");
        var (status, body) = await Get($"/api/video/{fixture.Ids[relative]}");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(File.ReadAllBytes(Path.Combine(fixture.Videos, relative)), body);
    }

    [Theory]
    [InlineData("/api/video/")]
    [InlineData("/api/preview/")]
    public async Task AVideoSwappedForASymlinkToEtcPasswdIsNotServed(string endpoint)
    {
        const string relative = "bars_h264.mp4";
        await WithChanged(relative, path => File.CreateSymbolicLink(path, "/etc/passwd"), async () =>
        {
            var (status, body) = await Get(endpoint + fixture.Ids[relative]);
            Assert.Equal(HttpStatusCode.Forbidden, status);
            Assert.DoesNotContain("root:", System.Text.Encoding.UTF8.GetString(body));
            Assert.Contains("outside the index's folder", JsonDocument.Parse(body).RootElement.GetProperty("error").GetString());
        });
    }

    [Fact]
    public async Task AFolderSwappedForASymlinkOutsideTheRootIsNotServed()
    {
        string sub = Path.Combine(fixture.Videos, "sub"), moved = sub + "-moved";
        string outside = Directory.CreateTempSubdirectory("outside-").FullName;
        try
        {
            // The same file names and bytes, but outside the root: still refused, the real path decides.
            foreach (var f in Directory.GetFiles(sub)) File.Copy(f, Path.Combine(outside, Path.GetFileName(f)), true);
            Directory.Move(sub, moved);
            Directory.CreateSymbolicLink(sub, outside);
            var (status, _) = await Get($"/api/video/{fixture.Ids[Path.Combine("sub", "counter_mpeg4.mp4")]}");
            Assert.Equal(HttpStatusCode.Forbidden, status);
        }
        finally
        {
            if (new DirectoryInfo(sub).LinkTarget is not null) Directory.Delete(sub);
            if (Directory.Exists(moved)) Directory.Move(moved, sub);
            Directory.Delete(outside, true);
        }
    }

    [Fact]
    public async Task AVideoSwappedForAnotherVideoOfTheFolderIsRefusedAsChanged()
    {
        const string relative = "bars_h264.mp4";
        await WithChanged(relative, path => File.CreateSymbolicLink(path, Path.Combine(fixture.Videos, "sub", "numbered_h264.mp4")), async () =>
        {
            var (status, body) = await Get($"/api/video/{fixture.Ids[relative]}");
            Assert.Equal(HttpStatusCode.Conflict, status);
            Assert.Contains("changed since it was indexed", JsonDocument.Parse(body).RootElement.GetProperty("error").GetString());
        });
    }

    [Fact]
    public async Task AVideoRewrittenAfterIndexingIsRefusedAsChanged()
    {
        const string relative = "bars_h264.mp4";
        await WithChanged(relative, path =>
        {
            File.Copy(path + ".saved", path);
            File.AppendAllText(path, "more bytes");
        }, async () => Assert.Equal(HttpStatusCode.Conflict, (await Get($"/api/video/{fixture.Ids[relative]}")).Status));
        // Same bytes, another modification time: refused too (the index's size and mtime are what identifies the file).
        await WithChanged(relative, path =>
        {
            File.Copy(path + ".saved", path);
            File.SetLastWriteTimeUtc(path, new DateTime(2001, 1, 1, 0, 0, 0, DateTimeKind.Utc));
        }, async () => Assert.Equal(HttpStatusCode.Conflict, (await Get($"/api/video/{fixture.Ids[relative]}")).Status));
        Assert.Equal(HttpStatusCode.OK, (await Get($"/api/video/{fixture.Ids[relative]}")).Status); // restored
    }

    [Fact]
    public async Task AFifoInTheVideosPlaceIsRefusedWithoutBlocking()
    {
        const string relative = "bars_h264.mp4";
        await WithChanged(relative, path =>
        {
            using var mkfifo = System.Diagnostics.Process.Start("mkfifo", path);
            mkfifo.WaitForExit();
        }, async () =>
        {
            var request = fixture.Http.GetAsync($"/api/video/{fixture.Ids[relative]}", Cancel);
            Assert.Same(request, await Task.WhenAny(request, Task.Delay(TimeSpan.FromSeconds(20), Cancel)));
            Assert.Equal(HttpStatusCode.Conflict, (await request).StatusCode);
        });
    }

    [Theory]
    [InlineData("/api/video/%201")]
    [InlineData("/api/video/+1")]
    [InlineData("/api/video/01")]
    [InlineData("/api/video/0001")]
    [InlineData("/api/video/1%20")]
    [InlineData("/api/video/-1")]
    [InlineData("/api/video/1e0")]
    [InlineData("/api/video/99999999999999999999999")]
    [InlineData("/api/preview/+1")]
    [InlineData("/api/thumbnail/01/0")]
    [InlineData("/api/thumbnail/1/+0")]
    [InlineData("/api/thumbnail/1/00")]
    public async Task IdsAreStrictDecimalWithoutSignSpacesOrLeadingZeros(string url)
    {
        var (status, body) = await Get(url);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("integer", JsonDocument.Parse(body).RootElement.GetProperty("error").GetString());
    }

    [Theory]
    [InlineData("POST", "/api/search?q=bars")]
    [InlineData("PUT", "/api/video/1")]
    [InlineData("DELETE", "/api/video/1")]
    [InlineData("PATCH", "/")]
    [InlineData("POST", "/no/such/path")]
    [InlineData("HEAD", "/api/examples")]
    public async Task OtherMethodsThanGetAre405(string method, string url)
    {
        using var request = new HttpRequestMessage(new HttpMethod(method), url);
        var response = await fixture.Http.SendAsync(request, Cancel);
        Assert.Equal(HttpStatusCode.MethodNotAllowed, response.StatusCode);
        Assert.Contains("GET", response.Content.Headers.Allow);
    }

    [Theory]
    [InlineData("nonexistent.invalid", "does not resolve")]
    [InlineData("256.1.1.1", "256 is not a number from 0 to 255")]
    [InlineData("127.0.0.l", "does not resolve")]
    [InlineData("127.1", "four parts")]
    [InlineData("2130706433", "four parts")]
    [InlineData("0x7f.0.0.1", "four parts")]
    [InlineData("127.0.0.01x", "does not resolve")]
    [InlineData("", "empty")]
    [InlineData(" 127.0.0.1", "spaces")]
    [InlineData("http://127.0.0.1", "no scheme or path")]
    [InlineData("::1::2", "not an IPv6 address")]
    [InlineData("*", "neither an IP address nor a host name")]
    public void AHostThatIsNotOneAddressIsAnError(string host, string why)
    {
        var e = Assert.Throws<VidSeekException>(() => ListenAddress.Resolve(host));
        Assert.Contains($"--host '{host}'", e.Message);
        Assert.Contains(why, e.Message);
    }

    [Theory]
    [InlineData("127.0.0.1", "127.0.0.1")]
    [InlineData("localhost", "127.0.0.1")]
    [InlineData("::1", "::1")]
    [InlineData("[::1]", "::1")]
    [InlineData("0.0.0.0", "0.0.0.0")]
    [InlineData("10.1.2.3", "10.1.2.3")]
    public void AnAddressIsExactlyThatAddress(string host, string address) =>
        Assert.Equal(IPAddress.Parse(address), ListenAddress.Resolve(host));

    [Fact]
    public void ServeWithABadHostIsOneErrorLineAndListensNowhere()
    {
        foreach (var host in new[] { "nonexistent.invalid", "256.1.1.1", "127.0.0.l" })
        {
            var (code, stdout, stderr) = CliRunner.Run("serve", fixture.IndexPath, "--host", host, "--port", "0");
            Assert.Equal(1, code);
            Assert.Equal("", stdout);
            string line = Assert.Single(stderr.Trim().Split('\n'));
            Assert.StartsWith($"error: --host '{host}' is not an address to listen on", line);
        }
    }

    [Fact]
    public async Task APortInUseIsOneLineNamingThePortAndWhatToDo()
    {
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        int port = ((IPEndPoint)taken.LocalEndpoint).Port;
        var e = await Assert.ThrowsAsync<VidSeekException>(() => SearchServer.StartAsync(VideoSearcher.Open(fixture.IndexPath), new ServeOptions { Port = port }));
        Assert.Equal($"port {port} on 127.0.0.1 is already in use (another vidseek serve?); choose another --port, or --port 0 for any free one", e.Message);

        var (code, stdout, stderr) = CliRunner.Run("serve", fixture.IndexPath, "--port", port.ToString());
        Assert.Equal(1, code);
        Assert.Equal($"error: {e.Message}", stderr.Trim());
    }

    [Fact]
    public async Task AnAddressOfAnotherMachineIsAnErrorNotAWiderBind()
    {
        // TEST-NET-3 (RFC 5737): never an address of this machine.
        var e = await Assert.ThrowsAsync<VidSeekException>(() => SearchServer.StartAsync(VideoSearcher.Open(fixture.IndexPath), new ServeOptions { Host = "203.0.113.7", Port = 0 }));
        Assert.Contains("cannot listen on 203.0.113.7:0", e.Message);
    }

    private static readonly string[] Paths = ["/", "/api/search", "/api/examples", "/api/thumbnail/1/0", "/api/video/1", "/api/preview/1", "/etc/passwd", "/api/video/..%2f..%2fetc%2fpasswd"];
    private static readonly string[] Pieces = ["q=", "k=", "&", "%", "%00", "%ff", "..", "/", "\\", "+", " ", "0", "1", "-1", "99999999999999999999", "a", "<script>", "%2e%2e", "?", "#", "\u00e9"];

    /// <summary>
    /// Malformed paths, queries and methods: every answer is a status below 500 (and a JSON error for the API), within the
    /// time limit; nothing under /etc is ever in a body.
    /// </summary>
    [Fact]
    public void FuzzedRequestsGetCleanAnswers()
    {
        string[] methods = ["GET", "GET", "GET", "POST", "PUT", "DELETE", "OPTIONS", "TRACE"];
        var outcome = FuzzHarness.Run("http", FuzzHarness.Iterations(120), (r, _) =>
        {
            var path = new System.Text.StringBuilder(Paths[r.Next(Paths.Length)]);
            for (int k = r.Next(0, 4); k > 0; k--) path.Insert(r.Next(path.Length + 1), Pieces[r.Next(Pieces.Length)]);
            if (r.Next(2) == 0) path.Append("?q=" + Uri.EscapeDataString(new string((char)r.Next(32, 127), r.Next(0, 1200))) + (r.Next(2) == 0 ? "&k=" + Pieces[r.Next(Pieces.Length)] : ""));
            string method = methods[r.Next(methods.Length)], url = path.ToString();
            return ($"{method} {url[..Math.Min(url.Length, 120)]}", () =>
            {
                if (!Uri.TryCreate(fixture.Http.BaseAddress!, url, out var uri) || uri.Authority != fixture.Http.BaseAddress!.Authority) return; // not sendable to this server ("//host/...")
                using var request = new HttpRequestMessage(new HttpMethod(method), uri);
                var response = fixture.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead).GetAwaiter().GetResult();
                Assert.True((int)response.StatusCode < 500, $"{method} {url}: {(int)response.StatusCode}");
                if (response.Content.Headers.ContentType?.MediaType == "multipart/x-mixed-replace") return; // a preview stream
                string body = response.Content.ReadAsStringAsync().GetAwaiter().GetResult();
                Assert.DoesNotContain("root:x:", body);
            });
        });
        Assert.Equal(outcome.Cases, outcome.Succeeded);
    }
}
