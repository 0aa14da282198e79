using System.Text;
using System.Text.Json.Nodes;
using VidSeek.Data;
using VidSeek.Data.Loaders;
using VidSeek.Tests.Data;

namespace VidSeek.Tests.Reliability;

/// <summary>
/// Damaged annotation files of every supported format (copies of the test fixtures): each load ends in a split or one
/// <see cref="VidSeekException"/>, within the time limit; a split that loads names only video files under its videos folder,
/// and no caption longer than <see cref="AnnotationLimits.MaxCaptionChars"/>.
/// </summary>
public sealed class AnnotationFuzzTests
{
    public static TheoryData<string> Formats => new(DatasetLoaders.Names);

    /// <summary>Values inserted into files: path escapes, control characters, JSON and CSV syntax, a huge word, deep nesting.</summary>
    private static readonly string[] Nasty =
    [
        "../../../../etc/passwd", "/etc/passwd", "..", "a\u0000b", "\"", ",", "\n", "\r\n", "{", "[", "}", "]", ":", "\\", "\"\"",
        "-1", "1e999", "NaN", "null", "true", "\u00e9", "\ud800", new string('w', 100_000), new string('[', 5000), "00:00:00.000-99:99:99.999",
    ];

    private static string Mutate(Random r, string text, string extension)
    {
        if (extension == ".json" && r.Next(3) == 0)
        {
            try
            {
                var root = JsonNode.Parse(text)!;
                var nodes = new List<JsonNode>();
                void Walk(JsonNode? n) { if (n is null) return; nodes.Add(n); if (n is JsonObject o) foreach (var kv in o) Walk(kv.Value); else if (n is JsonArray a) foreach (var x in a) Walk(x); }
                Walk(root);
                var target = nodes[r.Next(1, Math.Max(2, nodes.Count))];
                JsonNode? replacement = r.Next(6) switch
                {
                    0 => JsonValue.Create(Nasty[r.Next(Nasty.Length)]),
                    1 => JsonValue.Create(r.Next(-5, 5)),
                    2 => null,
                    3 => new JsonArray(),
                    4 => new JsonObject(),
                    _ => JsonValue.Create(1e300),
                };
                if (target.Parent is JsonObject parent) parent[target.GetPropertyName()] = replacement;
                else if (target.Parent is JsonArray array) array[target.GetElementIndex()] = replacement;
                return root.ToJsonString();
            }
            catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException or IndexOutOfRangeException) { }
        }
        var sb = new StringBuilder(text);
        for (int k = r.Next(1, 4); k > 0; k--)
        {
            int at = r.Next(sb.Length + 1);
            switch (r.Next(5))
            {
                case 0: sb.Insert(at, Nasty[r.Next(Nasty.Length)]); break;
                case 1: if (at < sb.Length) sb.Remove(at, Math.Min(r.Next(1, 40), sb.Length - at)); break;
                case 2: if (at < sb.Length) sb[at] = (char)r.Next(0, 128); break;
                case 3: sb.Length = at; break;
                default: if (at < sb.Length) sb.Insert(at, sb.ToString(at, Math.Min(r.Next(1, 200), sb.Length - at))); break;
            }
        }
        return sb.ToString();
    }

    [Theory]
    [MemberData(nameof(Formats))]
    public void FuzzedAnnotationFilesLoadOrFailCleanly(string format)
    {
        using var tmp = TestPaths.NewTempDir();
        string root = DatasetFixtures.Copy(format, tmp);
        var loader = DatasetLoaders.Get(format);
        // The splits the intact fixture has, and its annotation files (everything that is not a video).
        // DiDeMo and ActivityNet keep their videos apart from the json files: the fixtures have them in videos/.
        string? videosDir = format is "didemo" or "activitynet" ? Path.Combine(root, "videos") : null;
        var splits = loader.Splits.Where(s => FuzzHarness.CleanError(() => loader.Load(root, s, new LoadOptions { VideosDir = videosDir })) is null).ToList();
        Assert.NotEmpty(splits);
        var files = Directory.GetFiles(root, "*", SearchOption.AllDirectories)
            .Where(f => Path.GetExtension(f) is ".json" or ".csv" or ".txt").Order(StringComparer.Ordinal).ToList();
        var originals = files.ToDictionary(f => f, File.ReadAllText);

        var outcome = FuzzHarness.Run($"annotations-{format}", FuzzHarness.Iterations(40), (r, _) =>
        {
            string file = files[r.Next(files.Count)], split = splits[r.Next(splits.Count)];
            var mutated = Encoding.UTF8.GetBytes(Mutate(r, originals[file], Path.GetExtension(file)));
            if (r.Next(8) == 0 && mutated.Length > 0) mutated[r.Next(mutated.Length)] = (byte)(0x80 + r.Next(128)); // invalid UTF-8
            bool skip = r.Next(2) == 0;
            return ($"{Path.GetFileName(file)} changed, split {split}, skip missing {skip}", () =>
            {
                foreach (var (f, text) in originals) File.WriteAllText(f, text);
                File.WriteAllBytes(file, mutated);
                var (loaded, _) = loader.Load(root, split, new LoadOptions { SkipMissing = skip, VideosDir = videosDir });
                foreach (var v in loaded.Videos)
                    Assert.True(v.Path.StartsWith(root + Path.DirectorySeparatorChar, StringComparison.Ordinal) && File.Exists(v.Path), $"video {v.Id} -> {v.Path}");
                Assert.All(loaded.Captions, c => Assert.InRange(c.Text.Length, 0, AnnotationLimits.MaxCaptionChars));
            });
        }, TimeSpan.FromSeconds(20));
        Assert.True(outcome.CleanErrors > 0, outcome.ToString());
    }

    [Theory]
    [InlineData("../../../../etc/passwd")]
    [InlineData("/etc/passwd")]
    [InlineData("videos/../../outside.mp4")]
    public void AVideoIdOutsideTheVideosFolderIsRefused(string id)
    {
        using var tmp = TestPaths.NewTempDir();
        string root = DatasetFixtures.Copy("json", tmp);
        File.WriteAllText(Path.Combine(tmp.Path, "outside.mp4"), "not a video, but a file outside the dataset");
        File.WriteAllText(Path.Combine(root, "train.json"), $$"""[{"video": "{{id}}", "caption": "a file outside"}]""");
        var e = Assert.Throws<VidSeekException>(() => DatasetLoaders.Load("json", root, "train", new LoadOptions { SkipMissing = true }));
        Assert.Contains($"video id '{id}'", e.Message);
        Assert.Contains("train.json", e.Message);
    }

    [Fact]
    public void AnMsrVttIdThatClimbsOutIsRefused()
    {
        using var tmp = TestPaths.NewTempDir();
        string root = DatasetFixtures.Copy("msrvtt", tmp);
        string data = Path.Combine(root, MsrVttLoader.DataFile);
        var json = JsonNode.Parse(File.ReadAllText(data))!;
        string id = json["videos"]![0]!["video_id"]!.GetValue<string>();
        string escaped = "../../" + id;
        json["videos"]![0]!["video_id"] = escaped;
        foreach (var s in json["sentences"]!.AsArray()) if (s!["video_id"]!.GetValue<string>() == id) s["video_id"] = escaped;
        File.WriteAllText(data, json.ToJsonString());
        string split = json["videos"]![0]!["split"]!.GetValue<string>();
        var e = Assert.Throws<VidSeekException>(() => DatasetLoaders.Load("msrvtt", root, split));
        Assert.Contains("leads outside the videos folder", e.Message);
    }

    [Fact]
    public void AHugeCaptionIsCutAtAWordBoundary()
    {
        string caption = string.Join(" ", Enumerable.Repeat("word", 10_000));
        string kept = AnnotationLimits.Bound(caption);
        Assert.True(kept.Length <= AnnotationLimits.MaxCaptionChars);
        Assert.StartsWith(kept, caption);
        Assert.EndsWith("word", kept);
        Assert.Equal(AnnotationLimits.MaxCaptionChars, AnnotationLimits.Bound(new string('x', 100_000)).Length);
        Assert.Equal("short", AnnotationLimits.Bound("short"));
    }
}
