using System.Diagnostics;
using VidSeek.Cli.Commands;
using VidSeek.Index;
using TorchSharp;
using VidSeek.Models.DualEncoder;
using VidSeek.Models.Vlt;
using VidSeek.Text;
using VidSeek.Retrieval;
using VidSeek.Tests.Training;
using VidSeek.Training;

namespace VidSeek.Tests.Index;

/// <summary>A tiny X-Pool model saved as a checkpoint folder, and a folder of fixture videos (two of them in a subfolder).</summary>
public sealed class IndexFixture : IDisposable
{
    private readonly TestPaths.TempDir tmp = TestPaths.NewTempDir();
    public string Model { get; }
    public string Tmp => tmp.Path;

    /// <summary>The decodable fixture videos (mp4 H.264 and MPEG-4, mkv, webm VP8 and VP9, MJPEG avi, one-frame mov).</summary>
    public static readonly string[] GoodVideos =
        ["bars_h264.mp4", "numbered_h264.mp4", "counter_mpeg4.mp4", "zoom_h264.mkv", "moving_vp8.webm", "cellauto_mjpeg.avi", "rgb_vp9.webm", "oneframe_h264.mov"];

    public IndexFixture()
    {
        Model = Path.Combine(tmp.Path, "model");
        using var model = TinySetup.NewModel(VideoPooling.XPool, seed: 3, frames: 4);
        model.Save(Model);
        foreach (var f in Directory.GetFiles(TinySetup.TokenizerDir)) File.Copy(f, Path.Combine(Model, Path.GetFileName(f)));
    }

    /// <summary>A new folder with copies of <paramref name="names"/> (writable; the last two go into <c>sub/</c>).</summary>
    public string NewVideoFolder(params string[] names)
    {
        string dir = Directory.CreateTempSubdirectory("videos-").FullName;
        for (int i = 0; i < names.Length; i++)
        {
            string target = i >= names.Length - 2 && names.Length > 2 ? Path.Combine(dir, "sub", names[i]) : Path.Combine(dir, names[i]);
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.WriteAllBytes(target, File.ReadAllBytes(Path.Combine(TestPaths.Videos, names[i])));
        }
        return dir;
    }

    public void Dispose() => tmp.Dispose();
}

/// <summary>
/// What <c>vidseek index</c> and <c>search</c> do, whatever store holds the index: each test runs on the SQLite file
/// (<see cref="IndexTests"/>) and on PostgreSQL (<see cref="PostgresIndexTests"/>).
/// </summary>
public abstract class IndexBehaviour(IndexFixture fixture)
{
    protected IndexFixture Fixture => fixture;

    /// <summary>A location for a new index; <paramref name="dir"/> is a folder it may go in.</summary>
    protected abstract string IndexFile(string dir);

    /// <summary>The store's own consistency check, after a crash.</summary>
    protected virtual void CheckSound(string index) { }

    protected (int Code, string Out, string Err) Index(string videos, string index) =>
        CliRunner.Run("index", videos, "--model", fixture.Model, "--out", index);

    [Fact]
    public void IndexesAFolderRecursivelyAndSearchPrintsTheTopK()
    {
        string videos = fixture.NewVideoFolder(IndexFixture.GoodVideos);
        string index = IndexFile(videos);
        var (code, stdout, stderr) = Index(videos, index);
        Assert.True(code == 0, stderr);
        Assert.Contains($"{IndexFixture.GoodVideos.Length} videos in", stdout);
        Assert.Contains($"{IndexFixture.GoodVideos.Length} added", stdout);

        CheckSound(index);
        using (var store = IndexStore.Open(index))
        {
            var all = store.Videos();
            Assert.Contains(all, v => v.Path == "sub/oneframe_h264.mov"); // the subfolder, '/'-separated
            var segments = store.Segments().ToList();
            Assert.Equal(all.Count, segments.Count);                   // short clips: one segment each
            Assert.All(segments, s => Assert.Equal(4 * 32, s.FrameEmbeddings.Length));
            Assert.All(segments, s => Assert.Equal(4, s.FrameTimes.Length));
            Assert.All(segments, s => Assert.NotNull(store.Thumbnail(s.Id, 3)));
            Assert.All(segments, s => Assert.Equal(all.Single(v => v.Id == s.VideoId).Duration, s.End, 6));
        }

        var (scode, sout, serr) = CliRunner.Run("search", index, "colour bars", "-k", "3");
        Assert.True(scode == 0, serr);
        Assert.Contains("attention per frame", sout);
        Assert.Equal(3, sout.Split('\n').Count(l => l.Contains(".mp4") || l.Contains(".mkv") || l.Contains(".webm") || l.Contains(".avi") || l.Contains(".mov")));
    }

    [Fact]
    public void RerunEncodesOnlyNewAndChangedFilesAndDropsDeletedOnes()
    {
        string videos = fixture.NewVideoFolder("bars_h264.mp4", "numbered_h264.mp4", "counter_mpeg4.mp4", "zoom_h264.mkv", "moving_vp8.webm");
        string index = IndexFile(fixture.Tmp + "/" + Guid.NewGuid().ToString("N"));
        Assert.Equal(0, Index(videos, index).Code);
        var before = Load(index);

        var again = Index(videos, index);
        Assert.Contains("0 added, 0 updated, 5 unchanged, 0 removed", again.Out);

        File.Delete(Path.Combine(videos, "bars_h264.mp4"));                                            // deleted
        File.WriteAllBytes(Path.Combine(videos, "numbered_h264.mp4"), File.ReadAllBytes(Path.Combine(TestPaths.Videos, "rgb_vp9.webm"))); // changed
        File.SetLastWriteTimeUtc(Path.Combine(videos, "counter_mpeg4.mp4"), DateTime.UtcNow.AddMinutes(5)); // touched, same bytes
        File.WriteAllBytes(Path.Combine(videos, "new.avi"), File.ReadAllBytes(Path.Combine(TestPaths.Videos, "cellauto_mjpeg.avi"))); // new
        var third = Index(videos, index);
        Assert.True(third.Code == 0, third.Err);
        Assert.Contains("5 videos in", third.Out);
        Assert.Contains("1 added, 1 updated, 3 unchanged, 1 removed, 0 failed", third.Out);

        var after = Load(index);
        Assert.DoesNotContain("bars_h264.mp4", after.Keys);
        Assert.Equal(before["sub/moving_vp8.webm"].Segment.FrameEmbeddings, after["sub/moving_vp8.webm"].Segment.FrameEmbeddings); // untouched: kept as it was
        Assert.Equal(before["counter_mpeg4.mp4"].Video.Id, after["counter_mpeg4.mp4"].Video.Id);                             // touched: not re-encoded
        Assert.NotEqual(before["numbered_h264.mp4"].Video.Sha256, after["numbered_h264.mp4"].Video.Sha256);                   // changed: encoded again
        Assert.NotEqual(before["numbered_h264.mp4"].Segment.FrameEmbeddings, after["numbered_h264.mp4"].Segment.FrameEmbeddings);
        // A replaced video gets a new id, and no id is ever reused: a stale id finds nothing rather than another video.
        Assert.NotEqual(before["numbered_h264.mp4"].Video.Id, after["numbered_h264.mp4"].Video.Id);
        var oldIds = before.Values.Select(e => e.Video.Id).ToHashSet();
        Assert.Single(after.Values, e => !oldIds.Contains(e.Video.Id) && e.Video.Path == "new.avi");
    }

    [Fact]
    public void FilesThatFailToDecodeAreReportedCountedAndSkipped()
    {
        string videos = fixture.NewVideoFolder("bars_h264.mp4", "not_a_video.mp4", "zero_bytes.mp4", "corrupt_truncated.mp4");
        string index = IndexFile(videos);
        var (code, stdout, stderr) = Index(videos, index);
        Assert.True(code == 0, stderr);
        Assert.Contains("failed to decode", stdout);
        Assert.Contains("not_a_video.mp4", stderr);
        Assert.Contains("zero_bytes.mp4", stderr);
        var stored = Load(index);
        Assert.Contains("bars_h264.mp4", stored.Keys);
        Assert.DoesNotContain("sub/zero_bytes.mp4", stored.Keys);
        Assert.DoesNotContain("not_a_video.mp4", stored.Keys);
        int failed = int.Parse(System.Text.RegularExpressions.Regex.Match(stdout, @"(\d+) failed to decode").Groups[1].Value);
        Assert.Equal(4 - stored.Count, failed);
    }

    [Fact]
    public void SigkillAtAnyMomentLeavesAValidIndex()
    {
        string videos = fixture.NewVideoFolder(IndexFixture.GoodVideos);
        string index = IndexFile(videos);
        var psi = ChildStart(["index", videos, "--model", fixture.Model, "--out", index]);
        using var child = Process.Start(psi)!;
        // Kill as soon as some videos are in (or whenever it gets that far); the index must be sound either way.
        var clock = Stopwatch.StartNew();
        while (!child.HasExited && clock.Elapsed < TimeSpan.FromSeconds(60))
        {
            if (CountOrZero(index) >= 2) break;
            Thread.Sleep(20);
        }
        if (!child.HasExited) child.Kill();
        child.WaitForExit();
        CheckSound(index);
        var rerun = Index(videos, index);
        Assert.True(rerun.Code == 0, rerun.Err);
        Assert.Contains($"{IndexFixture.GoodVideos.Length} videos in", rerun.Out);
    }

    [Fact]
    public void SearchRanksVideosExactlyAsEvalDoes()
    {
        var split = TinySetup.Split();
        string index = IndexFile(fixture.Tmp + "/" + Guid.NewGuid().ToString("N"));
        BuildIndex(fixture.Model, split, index, frames: 4);

        float[] sims;
        using (var ckpt = RetrievalCheckpoint.Open(fixture.Model))
        {
            var frames = new VideoFrameSource(split.Videos, 4, ckpt.Model.Clip.ImageSize, cacheBudgetBytes: 0);
            sims = Evaluator.SimilarityMatrix(ckpt.Model, split, frames, ckpt.Texts, new EvalOptions());
        }
        using var searcher = VideoSearcher.Open(index);
        int nv = split.Videos.Count;
        for (int t = 0; t < split.Captions.Count; t++)
        {
            var hits = searcher.Search(split.Captions[t].Text, nv);
            var evalOrder = Enumerable.Range(0, nv).OrderByDescending(v => sims[t * nv + v]).ThenBy(v => v).Select(v => Path.GetFileName(split.Videos[v].Path));
            Assert.Equal(evalOrder, hits.Select(h => Path.GetFileName(h.Video.Path)));
            for (int r = 0; r < nv; r++)
            {
                int v = split.Videos.ToList().FindIndex(e => Path.GetFileName(e.Path) == Path.GetFileName(hits[r].Video.Path));
                Assert.Equal(sims[t * nv + v], hits[r].Score, 5);
            }
            var truth = Assert.Single(hits, h => h.IsGroundTruth);
            Assert.Equal(Path.GetFileName(split.Videos[split.Captions[t].VideoIndex].Path), Path.GetFileName(truth.Video.Path));
            Assert.All(hits, h => Assert.Equal(1.0, h.FrameWeights!.Sum(), 4)); // X-Pool's attention over the frames
        }
    }

    [Fact]
    public void AnIndexBuiltWithAnotherModelIsRefusedByName()
    {
        string videos = fixture.NewVideoFolder("bars_h264.mp4");
        string index = IndexFile(videos);
        Assert.Equal(0, Index(videos, index).Code);
        string other = Path.Combine(fixture.Tmp, "other-model-" + Guid.NewGuid().ToString("N"));
        using (var model = TinySetup.NewModel(VideoPooling.MeanP, seed: 9, frames: 4)) model.Save(other);
        foreach (var f in Directory.GetFiles(TinySetup.TokenizerDir)) File.Copy(f, Path.Combine(other, Path.GetFileName(f)));
        var (code, _, err) = CliRunner.Run("index", videos, "--model", other, "--out", index);
        Assert.Equal(1, code);
        Assert.Contains(index, err);
        Assert.Contains("was built with the model", err);
        var (scode, _, serr) = CliRunner.Run("search", index, "bars", "--model", other);
        Assert.Equal(1, scode);
        Assert.Contains("is not the model", serr);
        var (ncode, _, nerr) = CliRunner.Run("search", IndexFile(Path.Combine(videos, "missing")), "bars");
        Assert.Equal(1, ncode);
        Assert.Contains("index not found", nerr);
    }

    [Fact]
    public void VltSearchRanksAsTwoStageEvalAndReportsItcAndItm()
    {
        // A tiny VLT with the CLIP BPE vocabulary, saved as vidseek train would.
        string folder = Path.Combine(fixture.Tmp, "vlt-" + Guid.NewGuid().ToString("N"));
        var config = Vlt.VltTrainingTests.Tiny() with { Text = Vlt.VltTrainingTests.Tiny().Text with { VocabSize = 49408 } };
        torch.manual_seed(11);
        using (var vlt = new VideoLanguageModel(config)) vlt.Save(folder);
        foreach (var f in Directory.GetFiles(TinySetup.TokenizerDir)) File.Copy(f, Path.Combine(folder, Path.GetFileName(f)));

        var split = TinySetup.Split();
        string index = IndexFile(Path.Combine(fixture.Tmp, Guid.NewGuid().ToString("N")));
        BuildIndex(folder, split, index, frames: 2);

        float[] reranked, itc;
        using (var vlt = VideoLanguageModel.Load(folder))
        {
            var tok = new VltTextTokenizer(ClipTokenizer.FromFolder(folder), config.Text.MaxPositionEmbeddings);
            var frames = new VideoFrameSource(split.Videos, 2, config.Video.ImageSize, cacheBudgetBytes: 0);
            var (_, _, scores) = TwoStageRetrieval.Evaluate(vlt, split, frames, tok.Tokenize, new TwoStageOptions { TopK = 3 });
            (reranked, itc) = (scores.Reranked, scores.Itc);
        }
        using var searcher = VideoSearcher.Open(index, rerankK: 3);
        Assert.Equal("vlt", searcher.Kind);
        int nv = split.Videos.Count;
        for (int t = 0; t < split.Captions.Count; t++)
        {
            var hits = searcher.Search(split.Captions[t].Text, nv);
            var evalOrder = Enumerable.Range(0, nv).OrderByDescending(v => reranked[t * nv + v]).ThenBy(v => v).Select(v => Path.GetFileName(split.Videos[v].Path));
            Assert.Equal(evalOrder, hits.Select(h => Path.GetFileName(h.Video.Path)));
            Assert.Equal(3, hits.Count(h => h.MatchScore is not null));                      // exactly the top 3 re-scored
            Assert.All(hits.Take(3), h => Assert.NotNull(h.MatchScore));                     // and they rank first
            foreach (var h in hits)
            {
                int v = split.Videos.ToList().FindIndex(e => Path.GetFileName(e.Path) == Path.GetFileName(h.Video.Path));
                Assert.Equal(itc[t * nv + v], h.Score, 5);                                    // Score is the ITC similarity
                Assert.Equal(itc[t * nv + v], h.FrameScores.Average(), 4);                    // the mean of the per-frame cosines
            }
        }
        var (code, stdout, err) = CliRunner.Run("search", index, split.Captions[0].Text, "-k", "4", "--rerank-k", "2");
        Assert.True(code == 0, err);
        Assert.Contains("ITM score", stdout);
    }

    /// <summary>Indexes a split with the model in <paramref name="folder"/> through the library (as vidseek index --data does).</summary>
    protected static void BuildIndex(string folder, VidSeek.Data.RetrievalSplit split, string index, int frames)
    {
        using var model = IndexModel.Open(folder, frames);
        var (videos, root) = IndexBuilder.FromSplit(split);
        using var store = IndexStore.OpenOrCreate(index, model.Manifest(folder, frames, root));
        var report = IndexBuilder.Update(store, model, videos);
        Assert.Equal(split.Videos.Count, report.Added);
    }

    /// <summary>Each video of the index with its one segment (these fixtures are short clips), by path.</summary>
    protected static Dictionary<string, (IndexedVideo Video, IndexedSegment Segment)> Load(string index)
    {
        using var store = IndexStore.Open(index);
        var segments = store.Segments().ToDictionary(s => s.VideoId);
        return store.Videos().ToDictionary(v => v.Path, v => (v, segments[v.Id]));
    }

    private static int CountOrZero(string index)
    {
        try { using var store = IndexStore.Open(index); return store.VideoCount; }
        catch (Exception) { return 0; }
    }

    internal static ProcessStartInfo ChildStart(string[] args, params (string Name, string Value)[] env)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "vidseek.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var (name, value) in env) psi.Environment[name] = value;
        return psi;
    }

    internal static (int Code, string Out, string Err) RunChild(string[] args, params (string Name, string Value)[] env)
    {
        using var p = Process.Start(ChildStart(args, env))!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(120_000)) { p.Kill(); throw new TimeoutException("vidseek index did not finish"); }
        return (p.ExitCode, stdout.Result, stderr.Result);
    }
}

/// <summary>The behaviours on the embedded SQLite file, and what only a file store has (its journal, its integrity check).</summary>
[Collection(ProcessStateCollection.Name)]
public class IndexTests(IndexFixture fixture) : IndexBehaviour(fixture), IClassFixture<IndexFixture>
{
    protected override string IndexFile(string dir) => Path.Combine(dir, "index.vsi");

    protected override void CheckSound(string index)
    {
        if (File.Exists(index))
            using (var store = SqliteIndexStore.Open(index, writable: true)) Assert.Equal("ok", store.IntegrityCheck());
    }

    [Fact]
    public void AProcessKilledInsideAWriteLeavesAValidIndexThatTheNextRunCompletes()
    {
        string videos = Fixture.NewVideoFolder("bars_h264.mp4", "numbered_h264.mp4", "counter_mpeg4.mp4", "zoom_h264.mkv", "moving_vp8.webm");
        string index = IndexFile(videos);
        // The child exits hard (no unwinding, no dispose) inside the transaction of the 3rd video, after its rows are written.
        var crashed = RunChild(["index", videos, "--model", Fixture.Model, "--out", index], (IndexCommand.AbortAfterVariable, "3"));
        Assert.Equal(86, crashed.Code);
        Assert.True(File.Exists(index + "-journal"), "the rollback journal of the open transaction should be left behind");

        var rerun = Index(videos, index);
        Assert.True(rerun.Code == 0, rerun.Err);
        Assert.Contains("5 videos in", rerun.Out);
        Assert.Contains("3 added", rerun.Out); // 2 survived the crash, the 3rd was rolled back
        using var store = SqliteIndexStore.Open(index);
        Assert.Equal("ok", store.IntegrityCheck());
        var all = Load(index).Values.ToList();
        Assert.Equal(all.Count, all.Select(v => v.Video.Path).Distinct().Count());

        // Same content as an index built in one go.
        string fresh = IndexFile(Fixture.Tmp + "/" + Guid.NewGuid().ToString("N"));
        Assert.Equal(0, Index(videos, fresh).Code);
        var expected = Load(fresh);
        Assert.Equal(expected.Keys.Order(), all.Select(v => v.Video.Path).Order());
        foreach (var v in all) Assert.Equal(expected[v.Video.Path].Segment.FrameEmbeddings, v.Segment.FrameEmbeddings);
    }
}
