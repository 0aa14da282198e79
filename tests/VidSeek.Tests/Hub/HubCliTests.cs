using System.Text.Json;
using VidSeek.Models.Clip;

namespace VidSeek.Tests.Hub;

/// <summary>
/// <c>vidseek ... --model org/name</c> as a user types it, with <c>HF_ENDPOINT</c> pointing at a loopback hub and
/// <c>HF_HUB_CACHE</c> at a temp folder. These set process environment variables (restored afterwards), so they run in
/// the collection that has the process to itself.
/// </summary>
[Collection(ProcessStateCollection.Name)]
public class HubCliTests
{
    private static readonly string[] Variables = ["HF_ENDPOINT", "HF_HUB_CACHE", "HF_HOME", "HF_HUB_OFFLINE", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HUGGINGFACE_HUB_CACHE", "HF_TOKEN_PATH"];

    private static void WithEnvironment(Dictionary<string, string?> values, Action action)
    {
        var saved = Variables.ToDictionary(v => v, Environment.GetEnvironmentVariable);
        try
        {
            foreach (var v in Variables) Environment.SetEnvironmentVariable(v, values.GetValueOrDefault(v));
            action();
        }
        finally
        {
            foreach (var (v, value) in saved) Environment.SetEnvironmentVariable(v, value);
        }
    }

    private static void AssertOneLineError(int code, string err, string expected)
    {
        Assert.Equal(1, code);
        Assert.StartsWith("error: ", err);
        Assert.Contains(expected, err);
        Assert.Single(err.Trim().Split('\n'));
    }

    private static float[] Embedding(string json, int item = 0)
    {
        using var doc = JsonDocument.Parse(json);
        return doc.RootElement.GetProperty("items")[item].GetProperty("embedding").EnumerateArray().Select(e => e.GetSingle()).ToArray();
    }

    [Fact]
    public async Task EmbedTextIndexAndSearchWithAHubIdThenWithTheHubGone()
    {
        using var tmp = TestPaths.NewTempDir();
        // A small CLIP with the real 49,408-token vocabulary and its tokenizer files, as a hub repository serves them.
        string local = Path.Combine(tmp.Path, "local-model");
        var config = ClipConfig.Load(Path.Combine(TestPaths.Golden, "clip-tiny", "config.json"));
        config = config with { TextConfig = config.TextConfig with { VocabSize = 49408, MaxPositionEmbeddings = 16, EosTokenId = 49407 } };
        using (var fresh = new ClipModel(config)) fresh.SavePretrained(local);
        foreach (var f in new[] { "vocab.json", "merges.txt" }) File.Copy(Path.Combine(TestPaths.Golden, "clip-tokenizer", f), Path.Combine(local, f));

        var hub = await FakeHub.StartAsync();
        var repo = new FakeHub.Repo();
        repo.Add("main", Directory.GetFiles(local).ToDictionary(f => Path.GetFileName(f), f => File.ReadAllBytes(f)));
        hub.Repos["tiny/clip-bpe"] = repo;
        string cache = Path.Combine(tmp.Path, "hf-cache");
        var env = new Dictionary<string, string?> { ["HF_ENDPOINT"] = hub.Url, ["HF_HUB_CACHE"] = cache, ["HF_HOME"] = Path.Combine(tmp.Path, "hf-home") };
        string videos = Path.Combine(tmp.Path, "videos");
        Directory.CreateDirectory(videos);
        foreach (var v in new[] { "bars_h264.mp4", "moving_vp8.webm" }) File.Copy(Path.Combine(TestPaths.Videos, v), Path.Combine(videos, v));
        string index = Path.Combine(tmp.Path, "x.vsi");

        var (_, expected, localErr) = CliRunner.Run("embed-text", "--model", local, "a red circle moves left");
        Assert.True(localErr.Length == 0, localErr);
        WithEnvironment(env, () =>
        {
            var (code, stdout, err) = CliRunner.Run("embed-text", "--model", "tiny/clip-bpe", "a red circle moves left");
            Assert.True(code == 0, err);
            Assert.Equal(Embedding(expected), Embedding(stdout));
            Assert.StartsWith(Path.Combine(cache, "models--tiny--clip-bpe", "snapshots"), JsonDocument.Parse(stdout).RootElement.GetProperty("model").GetString());

            var (icode, _, ierr) = CliRunner.Run("index", videos, "--model", "tiny/clip-bpe", "--out", index);
            Assert.True(icode == 0, ierr);
            var (scode, sout, serr) = CliRunner.Run("search", index, "colour bars", "-k", "2", "--json");
            Assert.True(scode == 0, serr);
            Assert.Contains("bars_h264.mp4", sout);

            var (ncode, _, nerr) = CliRunner.Run("embed-text", "--model", "nobody/nothing", "x");
            AssertOneLineError(ncode, nerr, "error: --model nobody/nothing: no such folder, and from the Hugging Face hub: repository nobody/nothing not found at http://127.0.0.1:");
        });

        await hub.DisposeAsync();
        WithEnvironment(env, () =>
        {
            // No hub: the cache serves the model that is there, and says so plainly about the one that is not.
            var (code, stdout, err) = CliRunner.Run("embed-text", "--model", "tiny/clip-bpe", "a red circle moves left");
            Assert.True(code == 0, err);
            Assert.Equal(Embedding(expected), Embedding(stdout));
            var (ucode, _, uerr) = CliRunner.Run("embed-text", "--model", "tiny/other", "x");
            AssertOneLineError(ucode, uerr, "tiny/other is not in the Hugging Face cache");
            Assert.Contains("the hub cannot be reached", uerr);
        });
        WithEnvironment(new(env) { ["HF_HUB_OFFLINE"] = "1" }, () =>
        {
            var (code, stdout, err) = CliRunner.Run("embed-text", "--model", "tiny/clip-bpe", "a red circle moves left");
            Assert.True(code == 0, err);
            Assert.Equal(Embedding(expected), Embedding(stdout));
        });
        WithEnvironment(new(env) { ["HF_HUB_OFFLINE"] = "1", ["HF_HUB_CACHE"] = Path.Combine(tmp.Path, "empty-cache") }, () =>
        {
            var (code, _, err) = CliRunner.Run("embed-text", "--model", "tiny/clip-bpe", "a red circle");
            AssertOneLineError(code, err, $"error: --model tiny/clip-bpe: no such folder, and from the Hugging Face hub: tiny/clip-bpe is not in the Hugging Face cache ({Path.Combine(tmp.Path, "empty-cache")}) and HF_HUB_OFFLINE is set");
        });
    }
}
