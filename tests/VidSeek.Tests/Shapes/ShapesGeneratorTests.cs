using System.Text.Json;
using VidSeek.Data.Shapes;
using VidSeek.Video;

namespace VidSeek.Tests.Shapes;

/// <summary>The generated corpus: files, determinism, splits and held-out pairs, decodable videos.</summary>
public class ShapesGeneratorTests(ShapesCorpusFixture fixture) : IClassFixture<ShapesCorpusFixture>
{
    private static readonly string[] AnnotationFiles = ["MSRVTT_data.json", "MSRVTT_train.9k.csv", "MSRVTT_JSFUSION_test.csv", "shapes.json"];

    [Fact]
    public void SameSeedGivesByteIdenticalAnnotationsWhateverTheWorkerCount()
    {
        var again = fixture.Options with { OutputDir = fixture.NewDir("same-seed"), Workers = 2 };
        ShapesGenerator.Generate(again, ct: TestContext.Current.CancellationToken);
        foreach (var name in AnnotationFiles)
            Assert.True(File.ReadAllBytes(Path.Combine(fixture.Dir, name)).SequenceEqual(File.ReadAllBytes(Path.Combine(again.OutputDir, name))), name);
    }

    [Fact]
    public void DifferentSeedGivesADifferentCorpus()
    {
        var other = fixture.Options with { OutputDir = fixture.NewDir("other-seed"), Seed = ShapesCorpusFixture.Seed + 1 };
        ShapesGenerator.Generate(other, ct: TestContext.Current.CancellationToken);
        foreach (var name in new[] { "MSRVTT_data.json", "shapes.json" })
            Assert.False(File.ReadAllBytes(Path.Combine(fixture.Dir, name)).SequenceEqual(File.ReadAllBytes(Path.Combine(other.OutputDir, name))), name);
    }

    /// <summary>
    /// Pins what seed 42 means, so that a change to the sampler, the PRNG or the templates (or a .NET upgrade
    /// that changed them) is noticed; such a change must bump <see cref="ShapesOptions.GeneratorVersion"/>.
    /// </summary>
    private const string Seed42HeldOut = "red diamond, green star, purple circle, orange triangle, cyan square";
    private const string Seed42Splits =
        "train train train train train test-novel val test train train train test val train train train train train test-novel train";
    private static readonly string[] Seed42Captions =
    [
        "a big yellow triangle moves to the left, then there is a big blue circle that moves to the right; a small orange cross grows",
        "there is a big blue square; it moves to the right",
        "there is a big purple triangle that moves up; a small cyan star moves to the left, then there is a small blue circle; it moves up, then a big yellow star that spins",
    ];

    [Fact]
    public void Seed42StillNamesTheSameCorpus()
    {
        var corpus = ShapesGenerator.Plan(new ShapesOptions { Seed = 42, Videos = 20 });
        Assert.Equal(1, ShapesOptions.GeneratorVersion);
        Assert.Equal(Seed42HeldOut, string.Join(", ", corpus.HeldOutPairs));
        Assert.Equal(Seed42Splits, string.Join(" ", corpus.Videos.Select(v => v.Split)));
        Assert.Equal(Seed42Captions, corpus.Videos.Take(3).Select(v => ShapesCaptioner.Captions(v)[0].Text).ToArray());
    }

    [Fact]
    public void WritesTheMsrVttLayout()
    {
        var corpus = fixture.Corpus;
        foreach (var name in AnnotationFiles) Assert.True(File.Exists(Path.Combine(fixture.Dir, name)), name);
        Assert.Equal(Enumerable.Range(0, ShapesCorpusFixture.Videos).Select(i => $"video{i}.mp4").Order(),
            Directory.GetFiles(Path.Combine(fixture.Dir, "videos")).Select(Path.GetFileName).Order());

        using var data = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(fixture.Dir, "MSRVTT_data.json")));
        var videos = data.RootElement.GetProperty("videos").EnumerateArray().ToList();
        Assert.Equal(corpus.Videos.Select(v => (v.VideoId, v.Split, v.Segments.Count)),
            videos.Select(v => (v.GetProperty("video_id").GetString()!, v.GetProperty("split").GetString()!, v.GetProperty("segments").GetInt32())));
        var sentences = data.RootElement.GetProperty("sentences").EnumerateArray().ToList();
        Assert.Equal(Enumerable.Range(0, sentences.Count), sentences.Select(s => s.GetProperty("sen_id").GetInt32()));
        foreach (var v in corpus.Videos)
        {
            var mine = sentences.Where(s => s.GetProperty("video_id").GetString() == v.VideoId).ToList();
            Assert.Equal(ShapesCaptioner.Captions(v).Select(c => (c.Text, c.Type)),
                mine.Select(s => (s.GetProperty("caption").GetString()!, s.GetProperty("type").GetString()!)));
            // One full caption per video; segment captions only when there is more than one segment.
            Assert.Single(mine, s => s.GetProperty("type").GetString() == "full");
            Assert.Equal(v.Segments.Count == 1 ? 0 : v.Segments.Count, mine.Count(s => s.GetProperty("type").GetString() == "segment"));
        }

        var train = File.ReadAllText(Path.Combine(fixture.Dir, "MSRVTT_train.9k.csv"));
        Assert.Equal("video_id\n" + string.Concat(corpus.InSplit(ShapesSplit.Train).Select(v => v.VideoId + "\n")), train);
        var test = File.ReadAllLines(Path.Combine(fixture.Dir, "MSRVTT_JSFUSION_test.csv"));
        Assert.Equal("key,vid_key,video_id,sentence", test[0]);
        Assert.Equal(corpus.InSplit(ShapesSplit.Test).Count(), test.Length - 1);
        foreach (var (line, v) in test.Skip(1).Zip(corpus.InSplit(ShapesSplit.Test)))
        {
            string full = ShapesCaptioner.Captions(v)[0].Text;
            Assert.EndsWith(full.Contains(',') ? $",\"{full}\"" : $",{full}", line);
            Assert.StartsWith($"ret", line);
            Assert.Contains($",msr{v.Index},{v.VideoId},", line);
        }

        using var settings = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(fixture.Dir, "shapes.json")));
        Assert.Equal(ShapesCorpusFixture.Seed, settings.RootElement.GetProperty("seed").GetInt64());
        Assert.Equal(corpus.HeldOutPairs.Select(p => p.ToString()),
            settings.RootElement.GetProperty("held_out_pairs").EnumerateArray().Select(e => e.GetString()));
        Assert.False(File.ReadAllText(Path.Combine(fixture.Dir, "shapes.json")).Contains('\r'));
    }

    [Fact]
    public void EveryVideoDecodesTo32FramesOfTheRenderedScene()
    {
        foreach (var video in fixture.Corpus.Videos)
        {
            string path = Path.Combine(fixture.Dir, "videos", video.VideoId + ".mp4");
            var decoded = VideoReader.Read(path, 32, SamplingMode.Uniform);
            Assert.Equal(32, decoded.FrameCount);
            Assert.Equal((32, 32), (decoded.Width, decoded.Height));
            Assert.Equal(8, decoded.Fps, 3);
            for (int f = 0; f < 32; f += 5)
            {
                // The encoder is lossy (and subsamples colour), but a frame must still look like its render,
                // channels in the right order: mean absolute difference well below that of a wrong frame.
                var bgr = ShapesRenderer.RenderFrameBgr(video, f, 32);
                var rgb = decoded.Frames[f];
                double diff = 0;
                for (int p = 0; p < bgr.Length; p += 3)
                    diff += Math.Abs(bgr[p + 2] - rgb[p]) + Math.Abs(bgr[p + 1] - rgb[p + 1]) + Math.Abs(bgr[p] - rgb[p + 2]);
                diff /= bgr.Length;
                Assert.True(diff < 12, $"{video.VideoId} frame {f}: mean abs diff {diff:0.0} from its render");
            }
        }
    }

    [Fact]
    public void HeldOutPairsAppearOnlyInTestNovelAndEveryTestNovelVideoHasOne()
    {
        var corpus = ShapesGenerator.Plan(new ShapesOptions { Seed = 3, Videos = 600 });
        Assert.Equal(5, corpus.HeldOutPairs.Count);
        // Pairwise different colours and shapes: every colour and shape is still seen in training.
        Assert.Equal(5, corpus.HeldOutPairs.Select(p => p.Color).Distinct().Count());
        Assert.Equal(5, corpus.HeldOutPairs.Select(p => p.Shape).Distinct().Count());
        var held = corpus.HeldOutPairs.ToHashSet();
        foreach (var v in corpus.Videos)
        {
            bool hasHeldOut = v.Pairs.Any(held.Contains);
            Assert.True(hasHeldOut == (v.Split == ShapesSplit.TestNovel), $"{v.VideoId} ({v.Split}): held-out pair {(hasHeldOut ? "present" : "absent")}");
        }
        var counts = corpus.SplitCounts;
        Assert.Equal((420, 60, 60, 60), (counts["train"], counts["val"], counts["test"], counts["test-novel"]));
        var trainPairs = corpus.InSplit(ShapesSplit.Train).SelectMany(v => v.Pairs).ToHashSet();
        Assert.Equal(48 - 5, trainPairs.Count); // every other pair is trained on
        // The generated corpus agrees with its files.
        using var data = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(fixture.Dir, "MSRVTT_data.json")));
        foreach (var v in data.RootElement.GetProperty("videos").EnumerateArray().Where(v => v.GetProperty("split").GetString() == "test-novel"))
            Assert.NotEmpty(v.GetProperty("novel_pairs").EnumerateArray());
    }

    [Fact]
    public void ScenesFollowTheRules()
    {
        var corpus = ShapesGenerator.Plan(new ShapesOptions { Seed = 11, Videos = 400, Frames = 32 });
        foreach (var v in corpus.Videos)
        {
            Assert.InRange(v.Segments.Count, 1, 3);
            Assert.Equal(0, v.Segments[0].StartFrame);
            Assert.Equal(32, v.Segments[^1].EndFrame);
            for (int s = 1; s < v.Segments.Count; s++)
            {
                Assert.Equal(v.Segments[s - 1].EndFrame, v.Segments[s].StartFrame);
                Assert.NotEqual(v.Segments[s - 1].Background, v.Segments[s].Background);
            }
            foreach (var seg in v.Segments)
            {
                Assert.InRange(seg.Length, 32 / v.Segments.Count, 32 / v.Segments.Count + 1);
                Assert.InRange(seg.Objects.Count, 1, 2);
                Assert.Equal(seg.Objects.Count, seg.Objects.Select(o => o.Color).Distinct().Count());
                foreach (var o in seg.Objects)
                {
                    Assert.False(o.Shape == ObjectShape.Circle && o.Motion == ObjectMotion.Spins, $"{v.VideoId}: a spinning circle");
                    foreach (double t in new[] { 0, 0.5, 1 })
                    {
                        var pose = o.PoseAt(t); // inside the frame all the time
                        Assert.InRange(pose.X - pose.Radius, 0, 1);
                        Assert.InRange(pose.X + pose.Radius, 0, 1);
                        Assert.InRange(pose.Y - pose.Radius, 0, 1);
                        Assert.InRange(pose.Y + pose.Radius, 0, 1);
                    }
                }
            }
        }
        // Every colour, shape, size, motion and template is used.
        var objects = corpus.Videos.SelectMany(v => v.Segments).SelectMany(s => s.Objects).ToList();
        Assert.Equal(8, objects.Select(o => o.Color).Distinct().Count());
        Assert.Equal(6, objects.Select(o => o.Shape).Distinct().Count());
        Assert.Equal(8, objects.Select(o => o.Motion).Distinct().Count());
        Assert.Equal(3, corpus.Videos.Select(v => v.Segments.Count).Distinct().Count());
    }

    [Fact]
    public void RefusesANonEmptyFolderWithoutForce()
    {
        string dir = fixture.NewDir("non-empty");
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "notes.txt"), "mine");
        var options = fixture.Options with { OutputDir = dir, Videos = 2 };
        var e = Assert.Throws<VidSeekException>(() => ShapesGenerator.Generate(options, ct: TestContext.Current.CancellationToken));
        Assert.Contains(dir, e.Message);
        Assert.Contains("--force", e.Message);
        Assert.Single(Directory.GetFileSystemEntries(dir));

        // --force writes the corpus and leaves the other file alone; a smaller corpus then removes the stale videos.
        ShapesGenerator.Generate(options with { Videos = 4, Force = true }, ct: TestContext.Current.CancellationToken);
        Assert.Equal(4, Directory.GetFiles(Path.Combine(dir, "videos")).Length);
        ShapesGenerator.Generate(options with { Force = true }, ct: TestContext.Current.CancellationToken);
        Assert.Equal(["video0.mp4", "video1.mp4"], Directory.GetFiles(Path.Combine(dir, "videos")).Select(Path.GetFileName).Order());
        Assert.Equal("mine", File.ReadAllText(Path.Combine(dir, "notes.txt")));
        Assert.Empty(Directory.GetFiles(dir, "*.tmp"));
    }

    [Theory]
    [InlineData(nameof(ShapesOptions.Size), 33, "--size")]
    [InlineData(nameof(ShapesOptions.Videos), 0, "--videos")]
    [InlineData(nameof(ShapesOptions.Frames), 5, "--frames")]
    [InlineData(nameof(ShapesOptions.HeldOutPairs), 7, "--held-out-pairs")]
    public void BadSettingsNameTheOption(string property, int value, string option)
    {
        var options = new ShapesOptions();
        typeof(ShapesOptions).GetProperty(property)!.SetValue(options, value);
        var e = Assert.Throws<VidSeekException>(() => ShapesGenerator.Plan(options));
        Assert.Contains(option, e.Message);
        var fractions = Assert.Throws<VidSeekException>(() => ShapesGenerator.Plan(new ShapesOptions { ValFraction = 0.5, TestFraction = 0.5 }));
        Assert.Contains("--test-fraction", fractions.Message);
    }
}
