using System.Text;
using TorchSharp;
using VidSeek.Hub;
using VidSeek.Models;
using VidSeek.Models.Clip;
using VidSeek.Tensors;

namespace VidSeek.Tests.Hub;

/// <summary>
/// Hugging Face hub ids against a loopback hub (<see cref="FakeHub"/>): the cache layout huggingface_hub writes, downloads,
/// resume, the cache without a network, and the errors. Every test has its own cache folder and options (no process
/// environment), so they run in parallel.
/// </summary>
public class HubTests
{
    private static string Golden(string folder, string file) => Path.Combine(TestPaths.Golden, folder, file);

    private static Dictionary<string, byte[]> TinyClip() => new()
    {
        ["config.json"] = File.ReadAllBytes(Golden("clip-tiny", "config.json")),
        ["model.safetensors"] = File.ReadAllBytes(Golden("clip-tiny", "model.safetensors")),
    };

    private static HubOptions Options(string cache, string endpoint, Action<HubProgress>? progress = null, string? token = null) => new()
    {
        CacheDir = cache,
        Endpoint = endpoint,
        Token = token,
        Progress = progress,
        MetadataTimeout = TimeSpan.FromSeconds(5),
        ReadTimeout = TimeSpan.FromSeconds(10),
    };

    private static async Task<(FakeHub Hub, string Commit)> StartWithTinyClip(string repo = "tiny/clip")
    {
        var hub = await FakeHub.StartAsync();
        var r = new FakeHub.Repo();
        string commit = r.Add("main", TinyClip());
        hub.Repos[repo] = r;
        return (hub, commit);
    }

    private static VidSeekException Fails(Func<object> action)
    {
        var e = Assert.Throws<VidSeekException>(action);
        Assert.DoesNotContain('\n', e.Message);
        return e;
    }

    /// <summary>The golden clip-tiny outputs from a model loaded out of <paramref name="folder"/>: the weights arrived intact and in place.</summary>
    private static void AssertIsTinyClip(string folder)
    {
        using var scope = torch.NewDisposeScope();
        using var model = ClipModel.FromPretrained(folder);
        var inputs = SafeTensors.Load(Golden("clip-tiny", "inputs.safetensors"));
        var expected = SafeTensors.Load(Golden("clip-tiny", "expected.safetensors"));
        using var _ = torch.no_grad();
        var outputs = model.forward(inputs["input_ids"], inputs["pixel_values"]);
        TensorAssert.Close(expected["text_embeds"], outputs.TextEmbeds, 1e-5, "text_embeds");
        TensorAssert.Close(expected["image_embeds"], outputs.ImageEmbeds, 1e-5, "image_embeds");
    }

    [Fact]
    public async Task DownloadsIntoAnEmptyCacheInHuggingFaceHubsLayoutAndTheModelLoads()
    {
        using var tmp = TestPaths.NewTempDir();
        var (hub, commit) = await StartWithTinyClip();
        var files = TinyClip();
        var progress = new List<HubProgress>();
        string folder;
        await using (hub)
        {
            folder = ModelSource.Resolve("tiny/clip", "--model", Options(tmp.Path, hub.Url, p => { lock (progress) progress.Add(p); }));

            string repoDir = Path.Combine(tmp.Path, "models--tiny--clip");
            Assert.Equal(Path.Combine(repoDir, "snapshots", commit), folder);
            Assert.Equal(commit, File.ReadAllText(Path.Combine(repoDir, "refs", "main"))); // no newline, as huggingface_hub writes it
            foreach (var (name, data) in files)
            {
                string etag = FakeHub.IsLfs(name) ? FakeHub.Sha256Hex(data) : FakeHub.GitBlobSha1(data);
                var pointer = new FileInfo(Path.Combine(folder, name));
                Assert.Equal($"../../blobs/{etag}", pointer.LinkTarget); // a relative symlink into blobs/, named by ETag
                Assert.Equal(data, File.ReadAllBytes(Path.Combine(repoDir, "blobs", etag)));
            }
            // The optional tokenizer files this repository lacks are remembered as huggingface_hub remembers them.
            foreach (var absent in new[] { "vocab.json", "merges.txt", "vocab.txt", "tokenizer_config.json" })
                Assert.True(File.Exists(Path.Combine(repoDir, ".no_exist", commit, absent)), absent);
            Assert.Empty(Directory.GetFiles(Path.Combine(repoDir, "blobs"), "*.incomplete"));
            Assert.Contains(progress, p => p.File == "model.safetensors" && p.Done && p.Downloaded == files["model.safetensors"].Length);

            AssertIsTinyClip(folder);

            // Resolving again asks only which commit main is now (one HEAD), and downloads nothing.
            hub.Log.Clear();
            Assert.Equal(folder, ModelSource.Resolve("tiny/clip", "--model", Options(tmp.Path, hub.Url)));
            var again = hub.Log.ToArray();
            Assert.Single(again);
            Assert.Equal(("HEAD", "/tiny/clip/resolve/main/config.json"), (again[0].Method, again[0].Path));
        }

        // The hub is gone: the cache answers.
        Assert.Equal(folder, ModelSource.Resolve("tiny/clip", "--model", Options(tmp.Path, hub.Url)));
        AssertIsTinyClip(folder);
    }

    /// <summary>A cache as Python's huggingface_hub leaves it (written here by hand, byte for byte its layout) is read with no network.</summary>
    [Fact]
    public void ReadsACacheThatHuggingFaceHubWrote()
    {
        using var tmp = TestPaths.NewTempDir();
        const string commit = "2439f60ef33a0d46d85da5001d52aeda5b00ce9f";
        string repoDir = Path.Combine(tmp.Path, "models--openai--clip-tiny");
        Directory.CreateDirectory(Path.Combine(repoDir, "blobs"));
        Directory.CreateDirectory(Path.Combine(repoDir, "refs"));
        Directory.CreateDirectory(Path.Combine(repoDir, "snapshots", commit));
        File.WriteAllText(Path.Combine(repoDir, "refs", "main"), commit);
        foreach (var (name, data) in TinyClip())
        {
            string etag = FakeHub.IsLfs(name) ? FakeHub.Sha256Hex(data) : FakeHub.GitBlobSha1(data);
            File.WriteAllBytes(Path.Combine(repoDir, "blobs", etag), data);
            File.CreateSymbolicLink(Path.Combine(repoDir, "snapshots", commit, name), $"../../blobs/{etag}");
        }

        // Offline, and online with the hub unreachable (a closed loopback port): both find it.
        string offline = ModelSource.Resolve("openai/clip-tiny", "--model", Options(tmp.Path, "http://127.0.0.1:9") with { Offline = true });
        Assert.Equal(Path.Combine(repoDir, "snapshots", commit), offline);
        Assert.Equal(offline, ModelSource.Resolve("openai/clip-tiny", "--model", Options(tmp.Path, "http://127.0.0.1:9")));
        Assert.Equal(offline, ModelSource.Resolve($"openai/clip-tiny@{commit}", "--model", Options(tmp.Path, "http://127.0.0.1:9") with { Offline = true }));
        AssertIsTinyClip(offline);

        // A revision the cache never saw is not guessed.
        var e = Fails(() => ModelSource.Resolve("openai/clip-tiny@v2", "--model", Options(tmp.Path, "http://127.0.0.1:9") with { Offline = true }));
        Assert.Contains("openai/clip-tiny@v2 is not in the Hugging Face cache", e.Message);
    }

    [Fact]
    public async Task ADownloadThatBreaksOffResumesWithARangeRequestAndIsChecked()
    {
        using var tmp = TestPaths.NewTempDir();
        var (hub, _) = await StartWithTinyClip();
        await using var _hub = hub;
        byte[] weights = TinyClip()["model.safetensors"];
        string sha = FakeHub.Sha256Hex(weights);
        hub.DropOnce[sha] = 300_000; // the first GET sends 300,000 bytes, then the connection dies

        string folder = ModelSource.Resolve("tiny/clip", "--model", Options(tmp.Path, hub.Url));

        var gets = hub.Log.Where(r => r.Method == "GET" && r.Path == $"/cdn/{sha}").ToArray();
        Assert.Equal(2, gets.Length);
        Assert.Null(gets[0].Range);
        Assert.Equal("bytes=300000-", gets[1].Range);
        Assert.Equal(sha, FakeHub.Sha256Hex(File.ReadAllBytes(Path.Combine(folder, "model.safetensors"))));
        AssertIsTinyClip(folder);
    }

    /// <summary>A run killed mid-download leaves <c>blobs/{etag}.incomplete</c>; the next run asks only for the rest.</summary>
    [Fact]
    public async Task TheNextRunResumesAKilledRunsIncompleteFile()
    {
        using var tmp = TestPaths.NewTempDir();
        var (hub, _) = await StartWithTinyClip();
        await using var _hub = hub;
        byte[] weights = TinyClip()["model.safetensors"];
        string sha = FakeHub.Sha256Hex(weights);
        string blobs = Path.Combine(tmp.Path, "models--tiny--clip", "blobs");
        Directory.CreateDirectory(blobs);
        File.WriteAllBytes(Path.Combine(blobs, sha + ".incomplete"), weights[..123_456]);

        string folder = ModelSource.Resolve("tiny/clip", "--model", Options(tmp.Path, hub.Url));
        var get = Assert.Single(hub.Log, r => r.Method == "GET" && r.Path == $"/cdn/{sha}");
        Assert.Equal("bytes=123456-", get.Range);
        Assert.Equal(weights, File.ReadAllBytes(Path.Combine(folder, "model.safetensors")));
        Assert.False(File.Exists(Path.Combine(blobs, sha + ".incomplete")));
    }

    /// <summary>Kept bytes that are not the file's (a different file, a disk error) fail the sha256 check, are removed, and the next run succeeds.</summary>
    [Fact]
    public async Task ACorruptPartialDownloadFailsTheHashCheckAndIsRemoved()
    {
        using var tmp = TestPaths.NewTempDir();
        var (hub, _) = await StartWithTinyClip();
        await using var _hub = hub;
        byte[] weights = TinyClip()["model.safetensors"];
        string sha = FakeHub.Sha256Hex(weights);
        string blobs = Path.Combine(tmp.Path, "models--tiny--clip", "blobs");
        Directory.CreateDirectory(blobs);
        File.WriteAllBytes(Path.Combine(blobs, sha + ".incomplete"), new byte[1000]); // zeros: the right length to resume from, the wrong bytes

        var e = Fails(() => ModelSource.Resolve("tiny/clip", "--model", Options(tmp.Path, hub.Url)));
        Assert.Contains("model.safetensors is corrupt: its sha256 is", e.Message);
        Assert.False(File.Exists(Path.Combine(blobs, sha + ".incomplete")));
        Assert.False(File.Exists(Path.Combine(blobs, sha)));

        string folder = ModelSource.Resolve("tiny/clip", "--model", Options(tmp.Path, hub.Url));
        Assert.Equal(weights, File.ReadAllBytes(Path.Combine(folder, "model.safetensors")));
    }

    [Fact]
    public async Task OfflineWithNothingCachedFailsWithOneLineAndNoRequest()
    {
        using var tmp = TestPaths.NewTempDir();
        var (hub, _) = await StartWithTinyClip();
        await using var _hub = hub;
        var e = Fails(() => ModelSource.Resolve("tiny/clip", "--model", Options(tmp.Path, hub.Url) with { Offline = true }));
        Assert.Equal($"--model tiny/clip: no such folder, and from the Hugging Face hub: tiny/clip is not in the Hugging Face cache ({tmp.Path}) and HF_HUB_OFFLINE is set", e.Message);
        Assert.Empty(hub.Log);
    }

    [Fact]
    public async Task UnreachableAndNotCachedFailsWithOneLine()
    {
        using var tmp = TestPaths.NewTempDir();
        var (hub, _) = await StartWithTinyClip();
        string url = hub.Url;
        await hub.DisposeAsync();
        var e = Fails(() => ModelSource.Resolve("tiny/clip", "--model", Options(tmp.Path, url)));
        Assert.Contains("tiny/clip is not in the Hugging Face cache", e.Message);
        Assert.Contains("the hub cannot be reached (Connection refused", e.Message);
    }

    /// <summary>A hub that answers 5xx is treated as no network: the cache serves, and without one the error names the status.</summary>
    [Fact]
    public async Task AHubThatIsDownFallsBackToTheCache()
    {
        using var tmp = TestPaths.NewTempDir();
        var (hub, _) = await StartWithTinyClip();
        await using var _hub = hub;
        string folder = ModelSource.Resolve("tiny/clip", "--model", Options(tmp.Path, hub.Url));
        hub.Down = 503;
        Assert.Equal(folder, ModelSource.Resolve("tiny/clip", "--model", Options(tmp.Path, hub.Url)));
        var e = Fails(() => ModelSource.Resolve("tiny/clip", "--model", Options(Path.Combine(tmp.Path, "empty"), hub.Url)));
        Assert.Contains("the hub cannot be reached (http://127.0.0.1:", e.Message);
        Assert.Contains("answered 503 Service Unavailable)", e.Message);
    }

    [Fact]
    public async Task ACacheThatCannotBeWrittenIsOneLine()
    {
        using var tmp = TestPaths.NewTempDir();
        var (hub, _) = await StartWithTinyClip();
        await using var _hub = hub;
        string notAFolder = Path.Combine(tmp.Path, "file");
        File.WriteAllText(notAFolder, "x");
        var e = Fails(() => ModelSource.Resolve("tiny/clip", "--model", Options(Path.Combine(notAFolder, "cache"), hub.Url)));
        Assert.Contains($"cannot write the Hugging Face cache {Path.Combine(notAFolder, "cache")} for tiny/clip", e.Message);
    }

    [Fact]
    public async Task NotFoundPrivateGatedAndWrongRevisionEachSayWhich()
    {
        using var tmp = TestPaths.NewTempDir();
        var (hub, _) = await StartWithTinyClip();
        await using var _hub = hub;
        var gated = new FakeHub.Repo { Gated = true };
        gated.Add("main", TinyClip());
        hub.Repos["meta/gated"] = gated;
        var secret = new FakeHub.Repo { Token = "hf_secret" };
        secret.Add("main", TinyClip());
        hub.Repos["me/private"] = secret;
        var noConfig = new FakeHub.Repo();
        noConfig.Add("main", new() { ["model.safetensors"] = TinyClip()["model.safetensors"] });
        hub.Repos["tiny/noconfig"] = noConfig;
        var o = Options(tmp.Path, hub.Url);

        Assert.Contains("repository nobody/nothing not found at http://127.0.0.1:", Fails(() => ModelSource.Resolve("nobody/nothing", "--model", o)).Message);
        Assert.Contains("or it is private: check the name, or set HF_TOKEN", Fails(() => ModelSource.Resolve("me/private", "--model", o)).Message);
        Assert.Contains("the token in HF_TOKEN cannot read it", Fails(() => ModelSource.Resolve("me/private", "--model", o with { Token = "hf_wrong" })).Message);
        Assert.Contains("meta/gated is gated at", Fails(() => ModelSource.Resolve("meta/gated", "--model", o)).Message);
        Assert.Contains("revision 'v9' not found in tiny/clip", Fails(() => ModelSource.Resolve("tiny/clip@v9", "--model", o)).Message);
        Assert.Contains("tiny/noconfig has no config.json", Fails(() => ModelSource.Resolve("tiny/noconfig", "--model", o)).Message);

        // With the token it downloads; the token goes to the hub only, never to the CDN the weights redirect to.
        hub.Log.Clear();
        string priv = ModelSource.Resolve("me/private", "--model", o with { Token = "hf_secret" });
        AssertIsTinyClip(priv);
        Assert.All(hub.Log.Where(r => r.Path.Contains("/resolve/")), r => Assert.Equal("Bearer hf_secret", r.Authorization));
        Assert.All(hub.Log.Where(r => r.Path.StartsWith("/cdn/")), r => Assert.Null(r.Authorization));
        Assert.Contains(hub.Log, r => r.Path.StartsWith("/cdn/"));
    }

    [Fact]
    public async Task ARevisionResolvesItsOwnCommitAndSharesUnchangedBlobs()
    {
        using var tmp = TestPaths.NewTempDir();
        var (hub, mainCommit) = await StartWithTinyClip();
        await using var _hub = hub;
        var v1Files = TinyClip();
        v1Files["config.json"] = Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(v1Files["config.json"]).Replace("\"architectures\"", "\"_name_or_path\": \"v1\",\n  \"architectures\""));
        string v1Commit = hub.Repos["tiny/clip"].Add("v1", v1Files);
        Assert.NotEqual(mainCommit, v1Commit);
        var o = Options(tmp.Path, hub.Url);

        string main = ModelSource.Resolve("tiny/clip", "--model", o);
        string v1 = ModelSource.Resolve("tiny/clip@v1", "--model", o);
        Assert.EndsWith(mainCommit, main);
        Assert.EndsWith(v1Commit, v1);
        Assert.Equal(v1Commit, File.ReadAllText(Path.Combine(tmp.Path, "models--tiny--clip", "refs", "v1")));
        Assert.Contains("\"_name_or_path\": \"v1\"", File.ReadAllText(Path.Combine(v1, "config.json")));
        Assert.DoesNotContain("_name_or_path", File.ReadAllText(Path.Combine(main, "config.json")));
        // The weights are the same blob: downloaded once, linked from both snapshots.
        Assert.Single(hub.Log, r => r.Method == "GET" && r.Path.StartsWith("/cdn/"));
        Assert.Equal(new FileInfo(Path.Combine(main, "model.safetensors")).LinkTarget, new FileInfo(Path.Combine(v1, "model.safetensors")).LinkTarget);

        // A commit hash as the revision: nothing to ask once the snapshot is there.
        hub.Log.Clear();
        Assert.Equal(v1, ModelSource.Resolve($"tiny/clip@{v1Commit}", "--model", o));
        Assert.Empty(hub.Log);
        AssertIsTinyClip(v1);
    }

    /// <summary>A repository without safetensors: its pytorch_model.bin is fetched instead, and the snapshot folder is what resolves.</summary>
    [Fact]
    public async Task ARepositoryWithOnlyPytorchModelBinGetsThatFile()
    {
        using var tmp = TestPaths.NewTempDir();
        await using var hub = await FakeHub.StartAsync();
        var repo = new FakeHub.Repo();
        string commit = repo.Add("main", new()
        {
            ["config.json"] = File.ReadAllBytes(Golden("clip-tiny-bin", "config.json")),
            ["pytorch_model.bin"] = File.ReadAllBytes(Golden("clip-tiny-bin", "pytorch_model.bin")),
        });
        hub.Repos["tiny/clip-bin"] = repo;
        using var client = new HubClient(Options(tmp.Path, hub.Url));
        string folder = client.Snapshot(HubRepoId.TryParse("tiny/clip-bin", out var id) ? id! : throw new InvalidOperationException(), HubFiles.Model, TestContext.Current.CancellationToken);
        Assert.Equal(File.ReadAllBytes(Golden("clip-tiny-bin", "pytorch_model.bin")), File.ReadAllBytes(Path.Combine(folder, "pytorch_model.bin")));
        Assert.False(File.Exists(Path.Combine(folder, "model.safetensors")));
        Assert.True(File.Exists(Path.Combine(tmp.Path, "models--tiny--clip-bin", ".no_exist", commit, "model.safetensors")));
    }

    [Fact]
    public async Task ARenamedRepositorysRelativeRedirectIsFollowed()
    {
        using var tmp = TestPaths.NewTempDir();
        var (hub, commit) = await StartWithTinyClip();
        await using var _hub = hub;
        hub.Renamed["old-org/clip"] = "tiny/clip";
        string folder = ModelSource.Resolve("old-org/clip", "--model", Options(tmp.Path, hub.Url));
        Assert.Equal(Path.Combine(tmp.Path, "models--old-org--clip", "snapshots", commit), folder); // cached under the name asked for, as huggingface_hub does
        AssertIsTinyClip(folder);
    }

    [Theory]
    [InlineData("openai/clip-vit-base-patch32", "openai/clip-vit-base-patch32", "main")]
    [InlineData("openai/clip-vit-base-patch32@v1.0", "openai/clip-vit-base-patch32", "v1.0")]
    [InlineData("gpt2", "gpt2", "main")]
    [InlineData("org/name@refs/pr/1", "org/name", "refs/pr/1")]
    [InlineData("a/b", "a/b", "main")]
    public void HubIdsParse(string spec, string repo, string revision)
    {
        Assert.True(HubRepoId.TryParse(spec, out var id));
        Assert.Equal((repo, revision), (id!.RepoId, id.Revision));
    }

    [Theory]
    [InlineData("/abs/path")]
    [InlineData("./model")]
    [InlineData("../model")]
    [InlineData("a/b/c")]
    [InlineData("org--x/name")]
    [InlineData("org/na..me")]
    [InlineData("org/name@")]
    [InlineData("org/name@../../etc")]
    [InlineData("org/name@a\\b")]
    [InlineData("-org/name")]
    [InlineData("org/name.git")]
    [InlineData("")]
    public void PathsAndMalformedIdsAreNotHubIds(string spec) => Assert.False(HubRepoId.TryParse(spec, out _));

    [Fact]
    public void TheEnvironmentIsReadAsHuggingFaceHubReadsIt()
    {
        HubOptions From(Dictionary<string, string> env) => HubOptions.FromEnvironment(k => env.GetValueOrDefault(k));
        var home = new Dictionary<string, string> { ["HOME"] = "/home/u" };
        Assert.Equal("/home/u/.cache/huggingface/hub", From(home).CacheDir);
        Assert.Equal("/x/huggingface/hub", From(new(home) { ["XDG_CACHE_HOME"] = "/x" }).CacheDir);
        Assert.Equal("/hf/hub", From(new(home) { ["XDG_CACHE_HOME"] = "/x", ["HF_HOME"] = "/hf" }).CacheDir);
        Assert.Equal("/c", From(new(home) { ["HF_HOME"] = "/hf", ["HF_HUB_CACHE"] = "/c" }).CacheDir);
        Assert.Equal("/home/u/c", From(new(home) { ["HF_HUB_CACHE"] = "~/c" }).CacheDir);
        Assert.Equal("https://huggingface.co", From(home).Endpoint);
        Assert.Equal("http://127.0.0.1:5000", From(new(home) { ["HF_ENDPOINT"] = "http://127.0.0.1:5000/" }).Endpoint);
        Assert.False(From(home).Offline);
        foreach (var yes in new[] { "1", "true", "YES", "on" }) Assert.True(From(new(home) { ["HF_HUB_OFFLINE"] = yes }).Offline, yes);
        Assert.False(From(new(home) { ["HF_HUB_OFFLINE"] = "0" }).Offline);
        Assert.Equal("hf_abc", From(new(home) { ["HF_TOKEN"] = "hf_abc" }).Token);

        using var tmp = TestPaths.NewTempDir();
        File.WriteAllText(Path.Combine(tmp.Path, "token"), "hf_from_login\n"); // what `huggingface-cli login` writes
        Assert.Equal("hf_from_login", From(new(home) { ["HF_HOME"] = tmp.Path }).Token);
        Assert.Equal("hf_env", From(new(home) { ["HF_HOME"] = tmp.Path, ["HF_TOKEN"] = "hf_env" }).Token);
        Assert.Null(From(home).Token);
    }
}
