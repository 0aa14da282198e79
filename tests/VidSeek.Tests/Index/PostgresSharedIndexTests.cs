using System.Diagnostics;
using VidSeek.Data.Shapes;
using VidSeek.Index;
using VidSeek.Models.DualEncoder;
using VidSeek.Tests.Training;

namespace VidSeek.Tests.Index;

/// <summary>What only a server store does: several indexers on one index, and the server's HNSW as search's first stage.</summary>
public partial class PostgresIndexTests
{
    /// <summary>
    /// Three <c>vidseek index</c> processes on one PostgreSQL index over 100 Shapes videos, one SIGKILLed while it holds claimed
    /// jobs and started again: every video is written exactly once (the generation counts writes), its embeddings are those of a
    /// one-process build, and the dead worker's jobs were taken over when their (3 s) lease ran out, none left behind.
    /// </summary>
    [Fact]
    public void ThreeWorkersOneKilledWriteEveryVideoExactlyOnce()
    {
        string url = server.NewIndexUrl();
        string schema = url[(url.LastIndexOf("schema=", StringComparison.Ordinal) + 7)..];
        string corpus = Path.Combine(Fixture.Tmp, "shapes-" + Guid.NewGuid().ToString("N")[..8]);
        ShapesGenerator.Generate(new ShapesOptions { OutputDir = corpus, Seed = 12, Videos = 100, Size = 32, Workers = 1 }, ct: TestContext.Current.CancellationToken);
        string videos = Path.Combine(corpus, "videos");
        int total = Directory.GetFiles(videos, "*.mp4", SearchOption.AllDirectories).Length;
        Assert.Equal(100, total);

        // The reference: one process alone (the embedded store, so this also says the two stores hold the same numbers).
        string reference = Path.Combine(corpus, "reference.vsi");
        // One libtorch thread per process: four processes share the machine's cores (spinning OpenMP threads of several
        // processes on few cores slow every one of them down many times), and the reference runs as the workers do.
        var oneThread = ("OMP_NUM_THREADS", "1");
        var alone = RunChild(["index", videos, "--model", Fixture.Model, "--out", reference], oneThread);
        Assert.True(alone.Code == 0, alone.Err);
        var expected = Load(reference);
        Assert.Equal(total, expected.Count);

        string[] args = ["index", videos, "--model", Fixture.Model, "--out", url, "--lease", "3"];
        var logs = new List<System.Text.StringBuilder>();
        Process Start()
        {
            var p = Process.Start(ChildStart(args, oneThread))!;
            var log = new System.Text.StringBuilder();
            lock (logs) logs.Add(log);
            p.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.AppendLine(e.Data); };
            p.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.AppendLine(e.Data); };
            p.BeginOutputReadLine();
            p.BeginErrorReadLine();
            return p;
        }
        var workers = Enumerable.Range(0, 3).Select(_ => Start()).ToList();
        long Count(string sql) => Convert.ToInt64(server.Scalar(url, sql));
        bool Exists() => Count($"SELECT COUNT(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = '{schema}' AND c.relname = 'jobs'") > 0;
        string victim = $"/{workers[0].Id}/";

        // Kill worker 0 (SIGKILL: nothing unwinds, nothing is released) once a tenth of the videos are in and it holds a claim.
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(180) && !workers[0].HasExited)
        {
            if (Exists() && Count($"SELECT COUNT(*) FROM {schema}.videos") >= total / 10
                && Count($"SELECT COUNT(*) FROM {schema}.jobs WHERE worker LIKE '%{victim}%'") > 0) break;
            Thread.Sleep(50);
        }
        Assert.False(workers[0].HasExited, "worker 0 finished before it could be killed:\n" + string.Join("\n", logs));
        workers[0].Kill();
        workers[0].WaitForExit();
        long orphaned = Count($"SELECT COUNT(*) FROM {schema}.jobs WHERE worker LIKE '%{victim}%'");
        long before = Count($"SELECT COUNT(*) FROM {schema}.videos");
        Assert.True(orphaned > 0, "the killed worker held no job when it died, so nothing tests the lease");
        Assert.True(before < total, "the index was complete before the kill");

        var restarted = Start();
        foreach (var w in workers.Skip(1).Append(restarted))
        {
            Assert.True(w.WaitForExit(240_000), "a worker did not finish:\n" + string.Join("\n", logs));
            w.WaitForExit();
            Assert.True(w.ExitCode == 0, string.Join("\n", logs));
        }

        Assert.Equal(0L, Count($"SELECT COUNT(*) FROM {schema}.jobs"));                            // no job left, claimed or not
        Assert.Equal((long)total, Count($"SELECT COUNT(DISTINCT path) FROM {schema}.videos"));
        Assert.Equal((long)total, Count($"SELECT COUNT(*) FROM {schema}.videos"));
        // Every write bumps the generation once: exactly one write per video means no video was written twice.
        Assert.Equal((long)total, Count($"SELECT value::bigint FROM {schema}.meta WHERE key = 'generation'"));
        var all = Load(url);
        Assert.Equal(expected.Keys.Order(), all.Keys.Order());
        foreach (var (path, entry) in all)
        {
            Assert.Equal(expected[path].Segment.FrameEmbeddings, entry.Segment.FrameEmbeddings);
            Assert.Equal(expected[path].Segment.Coarse, entry.Segment.Coarse);
            Assert.Equal(expected[path].Video.Sha256, entry.Video.Sha256);
        }
        foreach (var w in workers.Append(restarted)) w.Dispose();
        Directory.Delete(corpus, recursive: true);
    }

    /// <summary>
    /// Search through the server's HNSW index (fewer candidates than segments) ranks as the exhaustive search. With mean
    /// pooling the coarse vector's cosine is the exact score, and on a handful of segments HNSW at ef_search 40 visits them all,
    /// so the first stage's candidates hold the exact top k and the two rankings must be equal, score for score.
    /// </summary>
    [Fact]
    public void SearchThroughTheServersHnswEqualsExactSearch()
    {
        string model = Path.Combine(Fixture.Tmp, "meanp-" + Guid.NewGuid().ToString("N")[..8]);
        using (var m = TinySetup.NewModel(VideoPooling.MeanP, seed: 4, frames: 4)) m.Save(model);
        foreach (var f in Directory.GetFiles(TinySetup.TokenizerDir)) File.Copy(f, Path.Combine(model, Path.GetFileName(f)));
        string videos = Fixture.NewVideoFolder(IndexFixture.GoodVideos);
        string url = server.NewIndexUrl();
        var built = CliRunner.Run("index", videos, "--model", model, "--out", url);
        Assert.True(built.Code == 0, built.Err);

        using var searcher = VideoSearcher.Open(url, candidates: 3);
        int segments = searcher.Index.SegmentCount;
        Assert.True(segments > 3, $"{segments} segments: the first stage would not be used");
        foreach (var query in new[] { "colour bars", "a counter", "something moving", "a red circle" })
            foreach (bool perVideo in new[] { false, true })
            {
                var exact = searcher.Search(query, 3, perVideo, exact: true);
                Assert.Equal(0, searcher.LastTimings.FirstStage);
                var twoStage = searcher.Search(query, 3, perVideo);
                Assert.True(searcher.LastTimings.FirstStage > 0, "the HNSW first stage did not run");
                Assert.Equal(exact.Select(h => h.Segment.Id), twoStage.Select(h => h.Segment.Id));
                // The same exact score, computed over 3 candidates instead of every segment (another batch: last bits may differ).
                Assert.All(exact.Zip(twoStage), p => Assert.Equal(p.First.Score, p.Second.Score, 1e-6f));
            }
    }
}
