using VidSeek.Cli.Commands;
using VidSeek.Index;
using VidSeek.Models.DualEncoder;
using VidSeek.Tests.Training;
using TorchSharp;

namespace VidSeek.Tests.Index;

/// <summary>
/// The first stage of search (<see cref="AnnIndex"/>): it agrees with exact search, follows the SQLite index incrementally,
/// refuses files that do not belong to the index, and survives a process killed while it is being saved.
/// </summary>
[Collection(ProcessStateCollection.Name)] // seeds libtorch's global RNG for the models
public class AnnIndexTests(IndexFixture fixture) : IClassFixture<IndexFixture>
{
    private const int Frames = 4, Dim = 32; // the fixture models' frame count and embedding width
    private const int Centroids = 8;        // X-Pool's first-stage vectors a segment: min(8, 4 + 6 + 1 points)

    private static readonly string[] Queries =
        ["a red circle moves left", "video number 3 with colour bars", "a clip zoom", "two squares bounce", "numbers count up", "green"];

    /// <summary>
    /// An index of <paramref name="videos"/> synthetic one-segment videos (no files: embeddings only), made of 12 clusters so
    /// that rankings have structure: frame f of video v = centre[v % 12] + noise, with a per-frame drift.
    /// </summary>
    /// <param name="lowRank">Frames near a 6-dimensional subspace (<see cref="LowRankVideos"/>) instead.</param>
    private string SyntheticIndex(string model, int videos, int seed, string? file = null, int firstVideo = 0, bool lowRank = false)
    {
        file ??= Path.Combine(fixture.Tmp, Guid.NewGuid().ToString("N"), "index.vsi");
        using var m = IndexModel.Open(model, Frames);
        using var store = SqliteIndexStore.OpenOrCreate(file, m.Manifest(model, Frames, root: Path.GetDirectoryName(file)!));
        store.PutMany(lowRank ? LowRankVideos(videos, seed, firstVideo) : SyntheticVideos(videos, seed, firstVideo));
        return file;
    }

    internal static IEnumerable<(IndexedVideo, IReadOnlyList<SegmentToStore>)> SyntheticVideos(int videos, int seed, int firstVideo = 0)
    {
        var rng = new Random(seed);
        var centres = Enumerable.Range(0, 12).Select(_ => Enumerable.Range(0, Dim).Select(_ => Gauss(rng)).ToArray()).ToArray();
        for (int v = firstVideo; v < firstVideo + videos; v++)
        {
            var frames = new float[Frames * Dim];
            var drift = Enumerable.Range(0, Dim).Select(_ => 0.5f * Gauss(rng)).ToArray();
            for (int f = 0; f < Frames; f++)
                for (int d = 0; d < Dim; d++)
                    frames[f * Dim + d] = centres[v % 12][d] + 0.7f * Gauss(rng) + f * drift[d];
            yield return OneSegmentVideo(v, frames);
        }
    }

    /// <summary>Like <see cref="SyntheticVideos"/>, but every frame varies within a 6-dimensional subspace (plus 1% noise).</summary>
    /// <param name="subspaceSeed">Draws the subspace and the 12 centres (default: <paramref name="seed"/>, which draws the rest):
    /// videos of one collection share it.</param>
    internal static IEnumerable<(IndexedVideo, IReadOnlyList<SegmentToStore>)> LowRankVideos(int videos, int seed, int firstVideo = 0, int? subspaceSeed = null)
    {
        var shape = new Random(subspaceSeed ?? seed);
        var directions = Enumerable.Range(0, 6).Select(_ => Enumerable.Range(0, Dim).Select(_ => Gauss(shape)).ToArray()).ToArray();
        var centres = Enumerable.Range(0, 12).Select(_ => Enumerable.Range(0, 6).Select(_ => 2 * Gauss(shape)).ToArray()).ToArray();
        var rng = subspaceSeed is null ? shape : new Random(seed);
        for (int v = firstVideo; v < firstVideo + videos; v++)
        {
            var frames = new float[Frames * Dim];
            for (int f = 0; f < Frames; f++)
            {
                var weights = centres[v % 12].Select(c => c + 0.7f * Gauss(rng)).ToArray();
                for (int d = 0; d < Dim; d++)
                    frames[f * Dim + d] = weights.Select((w, i) => w * directions[i][d]).Sum() + 0.01f * Gauss(rng);
            }
            yield return OneSegmentVideo(v, frames);
        }
    }

    /// <summary>Video v as one 2-second segment with these frames <c>[Frames, Dim]</c> and their normalised mean as its coarse vector.</summary>
    private static (IndexedVideo, IReadOnlyList<SegmentToStore>) OneSegmentVideo(int v, float[] frames)
    {
        var coarse = new float[Dim];
        for (int f = 0; f < Frames; f++) for (int d = 0; d < Dim; d++) coarse[d] += frames[f * Dim + d];
        float norm = MathF.Sqrt(coarse.Sum(x => x * x));
        for (int d = 0; d < Dim; d++) coarse[d] /= norm;
        var video = new IndexedVideo($"v{v:D5}.mp4", 1000 + v, v, $"sha{v}", 2.0, 25, 50, 64, 48, []);
        var segment = new IndexedSegment(0, 0, 2.0, Enumerable.Range(0, Frames).Select(f => 0.25 + 0.5 * f).ToArray(), frames, coarse);
        return (video, [new SegmentToStore(segment, [])]);
    }

    private static float Gauss(Random rng) => (float)(Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble()));

    private static List<long> Ids(IEnumerable<SearchHit> hits) => hits.Select(h => h.Segment.Id).ToList();

    private string MeanPModel()
    {
        string folder = Path.Combine(fixture.Tmp, "meanp-" + Guid.NewGuid().ToString("N"));
        using (var model = TinySetup.NewModel(VideoPooling.MeanP, seed: 5, frames: Frames)) model.Save(folder);
        foreach (var f in Directory.GetFiles(TinySetup.TokenizerDir)) File.Copy(f, Path.Combine(folder, Path.GetFileName(f)));
        return folder;
    }

    [Fact]
    public void SearchWithTheAnnEqualsExactSearchOnASmallIndex()
    {
        string index = SyntheticIndex(fixture.Model, 300, seed: 1);
        var warnings = new List<string>();
        // Candidates below the segment count: the two-stage path, through the ANN index (X-Pool's graph first stage).
        using var searcher = VideoSearcher.Open(index, candidates: 150, warn: warnings.Add, xpoolFirstStage: XPoolFirstStage.Graph);
        Assert.NotNull(searcher.Ann);
        Assert.Equal(300, searcher.Ann!.Count);
        Assert.Equal(Centroids, searcher.Ann.PerSegment);                                        // X-Pool: centroids of its pooling's points
        Assert.True(File.Exists(AnnIndex.PathFor(index)));
        foreach (var q in Queries)
        {
            var exact = searcher.Search(q, 10, exact: true);
            var ann = searcher.Search(q, 10);
            Assert.Equal(Ids(exact), Ids(ann));
            Assert.Equal(exact.Select(h => h.Score), ann.Select(h => h.Score));                   // the same exact X-Pool score
            Assert.All(ann, h => Assert.Equal(1.0, h.FrameWeights!.Sum(), 4));
        }
        // Candidates at least the segment count: exhaustive, the same ranking as exact, ties and all.
        foreach (var q in Queries)
            Assert.Equal(Ids(searcher.Search(q, 300, exact: true)), Ids(searcher.Search(q, 300, candidates: 300)));
        Assert.Empty(warnings);
    }

    [Fact]
    public void SearchWithTheXPoolScanEqualsExactSearchAndFollowsTheIndex()
    {
        // X-Pool's default first stage on an embedded index: its own score on compressed frames (XPoolScan), built from the frame
        // sidecar; no ANN file is made. With half the segments as candidates the two-stage ranking is the exact one.
        // Frames near a low-dimensional subspace, as a trained model's are (Shapes: 16 of 128 directions hold 97% of the
        // variance); the isotropic SyntheticVideos would need all 32.
        string index = SyntheticIndex(fixture.Model, 300, seed: 21, lowRank: true);
        var warnings = new List<string>();
        using var searcher = VideoSearcher.Open(index, candidates: 150, warn: warnings.Add);
        Assert.Null(searcher.Ann);
        Assert.NotNull(searcher.Scan);
        Assert.Equal(300, searcher.Scan!.Count);
        Assert.False(File.Exists(AnnIndex.PathFor(index)));
        foreach (var q in Queries)
        {
            var exact = searcher.Search(q, 10, exact: true);
            var twoStage = searcher.Search(q, 10);
            Assert.Equal(Ids(exact), Ids(twoStage));
            Assert.Equal(exact.Select(h => h.Score), twoStage.Select(h => h.Score));
            // A quarter of the segments as candidates holds the exact top 5 (16 of these 32 dimensions kept): the scan ranks like
            // X-Pool, not at random.
            Assert.Equal(Ids(exact.Take(5)), Ids(searcher.Search(q, 5, candidates: 75)));
        }
        // The index changes under the searcher (another process adds videos): the next search scans the new segments too.
        long before = searcher.Scan.Generation;
        using (var store = SqliteIndexStore.Open(index, writable: true)) store.PutMany(LowRankVideos(40, seed: 22, firstVideo: 300));
        foreach (var q in Queries) Assert.Equal(Ids(searcher.Search(q, 10, exact: true)), Ids(searcher.Search(q, 10)));
        Assert.Equal(340, searcher.Scan!.Count);
        Assert.NotEqual(before, searcher.Scan.Generation);
        // The default candidate count follows the first stage: the scan's own (2,000), the graph's 1,000.
        using (var byDefault = VideoSearcher.Open(index, warn: warnings.Add)) Assert.Equal(VideoSearcher.XPoolScanCandidates, byDefault.Candidates);
        using (var graph = VideoSearcher.Open(index, warn: warnings.Add, xpoolFirstStage: XPoolFirstStage.Graph)) Assert.Equal(VideoSearcher.DefaultCandidates, graph.Candidates);
        Assert.Empty(warnings);
    }

    [Fact]
    public void TheXPoolScanIsSavedLoadedAndRebuiltWhenDamagedOrStale()
    {
        string index = SyntheticIndex(fixture.Model, 200, seed: 31, lowRank: true);
        string file = XPoolScan.PathFor(index);
        float[] ScoresOf(VideoSearcher s)
        {
            using var q = s.Model.EncodeQuery(Queries[0]);
            return s.Scan!.ScoreAll(q.Text);
        }
        var warnings = new List<string>();
        float[] built;
        using (var first = VideoSearcher.Open(index, candidates: 50, warn: warnings.Add))
        {
            Assert.Equal("built", first.Scan!.OpenedAs);
            built = ScoresOf(first);
        }
        Assert.True(File.Exists(file));
        Assert.False(File.Exists(file + ".tmp"));
        // The next open loads it: the same codes, so the same scores bit for bit, and the same search.
        using (var second = VideoSearcher.Open(index, candidates: 50, warn: warnings.Add))
        {
            Assert.Equal("loaded", second.Scan!.OpenedAs);
            Assert.Equal(built, ScoresOf(second));
            foreach (var q in Queries) Assert.Equal(Ids(second.Search(q, 5, exact: true)), Ids(second.Search(q, 5, candidates: 100)));
        }
        Assert.Empty(warnings);
        // Damaged (one flipped byte among the codes, or cut short): rebuilt after one warning naming the file.
        foreach (var damage in new Action[]
                 {
                     () => { var b = File.ReadAllBytes(file); b[b.Length - 100] ^= 0x10; File.WriteAllBytes(file, b); },
                     () => { var b = File.ReadAllBytes(file); File.WriteAllBytes(file, b[..(b.Length / 2)]); },
                     () => File.WriteAllText(file, "not a scan"),
                 })
        {
            damage();
            warnings.Clear();
            using var again = VideoSearcher.Open(index, candidates: 50, warn: warnings.Add);
            Assert.Equal("built", again.Scan!.OpenedAs);
            TensorAssert.Close(torch.tensor(built), torch.tensor(ScoresOf(again)), 1e-5, "rebuilt");
            Assert.Contains(warnings, w => w.Contains(file) && w.Contains("damaged"));
        }
        // Stale because the index grew with more of the same: the saved scan extended by the new segments, without a warning. The
        // old segments keep their codes (the first 12 groups' scores bit for bit; the 13th group, 8 old segments, is encoded
        // again with the new ones), the new ones are coded on the same directions, and search through it equals the exhaustive
        // search.
        using (var store = SqliteIndexStore.Open(index, writable: true)) store.PutMany(LowRankVideos(20, seed: 32, firstVideo: 200, subspaceSeed: 31));
        warnings.Clear();
        float[] extended;
        using (var grown = VideoSearcher.Open(index, candidates: 50, warn: warnings.Add))
        {
            Assert.Equal("extended", grown.Scan!.OpenedAs);
            Assert.Equal(220, grown.Scan.Count);
            Assert.Equal(200, grown.Scan.FittedCount);
            extended = ScoresOf(grown);
            Assert.Equal(built.Take(192), extended.Take(192));
            TensorAssert.Close(torch.tensor(built), torch.tensor(extended[..200]), 1e-5, "extended");
            foreach (var q in Queries) Assert.Equal(Ids(grown.Search(q, 5, exact: true)), Ids(grown.Search(q, 5, candidates: 100)));
        }
        Assert.Empty(warnings);
        using (var fresh = VideoSearcher.Open(index, candidates: 50, warn: warnings.Add))
        {
            Assert.Equal("loaded", fresh.Scan!.OpenedAs);
            Assert.Equal(extended, ScoresOf(fresh));
        }
        // Fitted afresh, without a warning: after videos of other content (another subspace: the old directions hold less of
        // them), after growing past 1.25 times the segments it was fitted on, and after segments were removed.
        using (var store = SqliteIndexStore.Open(index, writable: true)) store.PutMany(LowRankVideos(10, seed: 34, firstVideo: 220));
        using (var other = VideoSearcher.Open(index, candidates: 50, warn: warnings.Add))
        {
            Assert.Equal("built", other.Scan!.OpenedAs);
            Assert.Equal(230, other.Scan.FittedCount);
            foreach (var q in Queries) Assert.Equal(Ids(other.Search(q, 5, exact: true)), Ids(other.Search(q, 5, candidates: 100)));
        }
        using (var store = SqliteIndexStore.Open(index, writable: true)) store.PutMany(LowRankVideos(60, seed: 35, firstVideo: 230, subspaceSeed: 31));
        using (var refit = VideoSearcher.Open(index, candidates: 50, warn: warnings.Add))
        {
            Assert.Equal("built", refit.Scan!.OpenedAs);
            Assert.Equal(290, refit.Scan.FittedCount);
        }
        using (var store = SqliteIndexStore.Open(index, writable: true)) store.Remove(store.Videos()[3].Id);
        using (var removed = VideoSearcher.Open(index, candidates: 50, warn: warnings.Add))
        {
            Assert.Equal("built", removed.Scan!.OpenedAs);
            Assert.Equal(289, removed.Scan.Count);
        }
        Assert.Empty(warnings);
    }

    [Fact]
    public void ForMeanPoolingTheFirstStageIsTheExactRanking()
    {
        // Mean pooling's score is the cosine with the normalised mean of the frames, which is what the ANN index holds:
        // its own top 10 must be the exact top 10 (catches a wrong axis, a missing normalisation, a transposed vector).
        string model = MeanPModel();
        string index = SyntheticIndex(model, 400, seed: 2);
        using var searcher = VideoSearcher.Open(index, candidates: 10);
        foreach (var q in Queries)
        {
            var exact = searcher.Search(q, 400, exact: true);
            var score = exact.ToDictionary(h => h.Segment.Id, h => h.Score);
            using var encoded = searcher.Model.EncodeQuery(q);
            var first = searcher.Ann!.Search(searcher.Model.AnnQuery(encoded), 10);
            Assert.Equal(10, first.Length);
            // Allowing only for float16 storage: every proposed segment is among the exact top 10 up to 2e-3.
            Assert.All(first, id => Assert.True(score[id] >= exact[9].Score - 2e-3, $"segment {id}: {score[id]} < {exact[9].Score}"));
            Assert.Equal(Ids(exact.Take(10)), Ids(searcher.Search(q, 10, candidates: 50)));
        }
    }

    [Fact]
    public void TheXPoolFirstStageRanksSegmentsByTheirBestCentroid()
    {
        // X-Pool's first stage holds 8 vectors a segment (k-means centroids of the pooling's vertices, edge midpoints and centre,
        // TextConditionedPooling.VertexCentroids) and ranks a segment by the best of them: the brute-force top 10 of that score
        // must be among its 20 candidates (HNSW is approximate, float16), and its candidates must score near the top (a wrong
        // vector would propose far lower ones). With USearch's default beam of 64 vectors (a search for 20 segments asked for 40)
        // this missed the brute-force best segment of some queries: AnnIndex asks for at least 256.
        string index = SyntheticIndex(fixture.Model, 250, seed: 12);
        using var store = IndexStore.Open(index);
        using var model = (IndexModel.Dual)IndexModel.Open(fixture.Model, Frames);
        using var ann = AnnIndex.Open(store, model);
        Assert.Equal(Centroids, ann.PerSegment);
        Assert.Equal("xpool-centroids", ann.Kind);
        var segments = store.Segments(withTokens: false).ToList();
        using var scope = torch.NewDisposeScope();
        var frames = torch.tensor(segments.SelectMany(s => s.FrameEmbeddings).ToArray(), [segments.Count, Frames, Dim]);
        // Computed here in one batch of all segments, the index's in blocks (its own): the same vectors (XPoolVertexCentroidsTests).
        var centroids = model.Model.Pool!.VertexCentroids(frames, Centroids);                  // [S, 8, D]
        foreach (var q in Queries)
        {
            using var encoded = model.EncodeQuery(q);
            var query = torch.tensor(model.AnnQuery(encoded));
            var best = torch.einsum("d,skd->sk", query, centroids).amax([1]).data<float>().ToArray();
            var score = segments.Select((s, i) => (s.Id, best[i])).ToDictionary(x => x.Id, x => x.Item2);
            var first = ann.Search(model.AnnQuery(encoded), 20);
            Assert.Equal(20, first.Distinct().Count());
            var top10 = segments.Select(s => s.Id).OrderByDescending(id => score[id]).Take(10);
            Assert.All(top10, id => Assert.Contains(id, first));
            float fortieth = best.OrderDescending().ElementAt(39);
            Assert.All(first, id => Assert.True(score[id] >= fortieth, $"segment {id}: {score[id]} < {fortieth}"));
        }
    }

    /// <summary>An X-Pool model's backbone with mean pooling (as the search bench compares them): its own copy of the weights, which it disposes.</summary>
    private static IndexModel.Dual MeanPoolingOf(string folder)
    {
        var xpool = (IndexModel.Dual)IndexModel.Open(folder, Frames); // its head is left to the GC; the backbone goes to the new model
        return new IndexModel.Dual(new RetrievalCheckpoint(
            new DualEncoderModel(xpool.Model.Config with { Pooling = VideoPooling.MeanP }, xpool.Model.Clip), xpool.Checkpoint.Texts, folder));
    }

    [Fact]
    public void AnAnnFileOfTheOldFormatOrOfOtherVectorsIsRebuilt()
    {
        string index = SyntheticIndex(fixture.Model, 100, seed: 13);
        string header = AnnIndex.PathFor(index);
        using (var store = IndexStore.Open(index))
        using (var model = IndexModel.Open(fixture.Model, Frames))
            AnnIndex.Open(store, model).Dispose();

        // Format 1 (one mean vector a segment, key = segment id), checksum intact: refused by its version, rebuilt.
        string data = Assert.Single(Directory.GetFiles(Path.GetDirectoryName(index)!, "index.vsi.ann-*.usearch"));
        using (var store = IndexStore.Open(index))
        {
            using var body = new MemoryStream();
            using (var w = new BinaryWriter(body, System.Text.Encoding.UTF8, leaveOpen: true))
            {
                w.Write("VIDSEEK-ANN"); w.Write(1); w.Write(Dim); w.Write(store.Generation); w.Write(store.Manifest.ModelSha256);
                w.Write(Path.GetFileName(data)); w.Write(new FileInfo(data).Length); w.Write(0UL);
                var ids = store.SegmentIds();
                w.Write(ids.Length);
                foreach (long id in ids) w.Write(id);
            }
            var bytes = body.ToArray();
            File.WriteAllBytes(header, [.. bytes, .. BitConverter.GetBytes(System.IO.Hashing.XxHash3.HashToUInt64(bytes))]);
        }
        var warnings = new List<string>();
        using (var store = IndexStore.Open(index))
        using (var model = IndexModel.Open(fixture.Model, Frames))
        using (var ann = AnnIndex.Open(store, model, warnings.Add))
        {
            Assert.Equal("built", ann.OpenedAs);
            Assert.Equal(Centroids, ann.PerSegment);
        }
        Assert.Contains(warnings, w => w.Contains("another version") && w.Contains("format version 1"));

        // Format 2 with X-Pool's previous first stage (the F + 1 vertices, kind "xpool-vertices"), as an index built before
        // the switch to centroids has: refused by its kind, rebuilt with one warning, then fresh.
        warnings.Clear();
        using (var store = IndexStore.Open(index))
        {
            string dataFile = Path.GetFileName(Assert.Single(Directory.GetFiles(Path.GetDirectoryName(index)!, "index.vsi.ann-*.usearch")));
            using var body = new MemoryStream();
            using (var w = new BinaryWriter(body, System.Text.Encoding.UTF8, leaveOpen: true))
            {
                w.Write("VIDSEEK-ANN"); w.Write(2); w.Write(Dim); w.Write(store.Generation); w.Write(store.Manifest.ModelSha256);
                w.Write("xpool-vertices"); w.Write(Frames + 1);
                w.Write(dataFile); w.Write(new FileInfo(Path.Combine(Path.GetDirectoryName(index)!, dataFile)).Length); w.Write(0UL);
                var ids = store.SegmentIds();
                w.Write(ids.Length);
                foreach (long id in ids) w.Write(id);
            }
            var bytes = body.ToArray();
            File.WriteAllBytes(header, [.. bytes, .. BitConverter.GetBytes(System.IO.Hashing.XxHash3.HashToUInt64(bytes))]);
        }
        using (var store = IndexStore.Open(index))
        using (var model = IndexModel.Open(fixture.Model, Frames))
        {
            using (var ann = AnnIndex.Open(store, model, warnings.Add))
            {
                Assert.Equal("built", ann.OpenedAs);
                Assert.Equal((Centroids, "xpool-centroids"), (ann.PerSegment, ann.Kind));
            }
            Assert.Contains($"holds other first-stage vectors (xpool-vertices, {Frames + 1} a segment; this model searches with xpool-centroids, {Centroids}); rebuilding",
                Assert.Single(warnings));
            warnings.Clear();
            using (var ann = AnnIndex.Open(store, model, warnings.Add)) Assert.Equal("fresh", ann.OpenedAs);
            Assert.Empty(warnings);
        }

        // Mean pooling over the same frames (same weights, so the same model hash) writes one mean vector a segment; found at
        // X-Pool's file, it is refused by its kind and rebuilt, and X-Pool's is then fresh.
        warnings.Clear();
        using (var store = IndexStore.Open(index))
        using (var xpool = (IndexModel.Dual)IndexModel.Open(fixture.Model, Frames))
        using (var meanp = MeanPoolingOf(fixture.Model))
        {
            using (var ann = AnnIndex.Open(store, meanp, warnings.Add))
            {
                Assert.Equal("built", ann.OpenedAs);                                             // X-Pool's vectors refused
                Assert.Equal(1, ann.PerSegment);
            }
            Assert.Contains(warnings, w => w.Contains("other first-stage vectors"));
            warnings.Clear();
            using (var ann = AnnIndex.Open(store, xpool, warnings.Add)) Assert.Equal("built", ann.OpenedAs);
            Assert.Contains(warnings, w => w.Contains("other first-stage vectors (mean, 1 a segment"));
            // Each keeps its own file where told to: both are then fresh.
            string meanpHeader = index + ".meanp.ann";
            AnnIndex.Open(store, meanp, header: meanpHeader).Dispose();
            warnings.Clear();
            using (var ann = AnnIndex.Open(store, xpool, warnings.Add)) Assert.Equal("fresh", ann.OpenedAs);
            using (var ann = AnnIndex.Open(store, meanp, warnings.Add, header: meanpHeader)) Assert.Equal("fresh", ann.OpenedAs);
            Assert.Empty(warnings);
        }
    }

    [Fact]
    public void AStaleAnnFileIsCaughtUpIncrementally()
    {
        string index = SyntheticIndex(fixture.Model, 200, seed: 3);
        using (var store = IndexStore.Open(index))
        using (var model = IndexModel.Open(fixture.Model, Frames))
        using (var ann = AnnIndex.Open(store, model))
            Assert.Equal("built", ann.OpenedAs);

        // Another process adds 40 videos and removes 10; the ANN file is now of an older generation.
        using (var store = SqliteIndexStore.Open(index, writable: true))
        {
            store.PutMany(SyntheticVideos(40, seed: 4, firstVideo: 200));
            foreach (var (_, f) in store.Files().Where(f => f.Key.CompareTo("v00010") < 0)) store.Remove(f.Id);
        }
        var warnings = new List<string>();
        using (var store = IndexStore.Open(index))
        using (var model = IndexModel.Open(fixture.Model, Frames))
        using (var ann = AnnIndex.Open(store, model, warnings.Add))
        {
            Assert.Equal("updated (40 added, 10 removed)", ann.OpenedAs);
            Assert.Equal(store.Generation, ann.Generation);
            Assert.Equal(230, ann.Count);
            using var q = model.EncodeQuery(Queries[0]);
            Assert.Equal(store.SegmentIds().Order(), ann.Search(model.AnnQuery(q), 1000).Order()); // exactly the store's segments
        }
        Assert.Empty(warnings);
        // Saved: the next open finds it fresh, and only one data file is left.
        using (var store = IndexStore.Open(index))
        using (var model = IndexModel.Open(fixture.Model, Frames))
        using (var ann = AnnIndex.Open(store, model))
            Assert.Equal("fresh", ann.OpenedAs);
        Assert.Single(Directory.GetFiles(Path.GetDirectoryName(index)!, "index.vsi.ann-*.usearch"));

        using var searcher = VideoSearcher.Open(index, candidates: 100, xpoolFirstStage: XPoolFirstStage.Graph); // the caught-up graph
        Assert.Equal("fresh", searcher.Ann!.OpenedAs);
        foreach (var q in Queries) Assert.Equal(Ids(searcher.Search(q, 5, exact: true)), Ids(searcher.Search(q, 5)));
    }

    [Fact]
    public void PrefaultMakesAMappedFileResidentAndLeavesAnIndexInMemoryAlone()
    {
        string index = SyntheticIndex(fixture.Model, 200, seed: 5);
        using (var store = IndexStore.Open(index))
        using (var model = IndexModel.Open(fixture.Model, Frames))
        using (var ann = AnnIndex.Open(store, model))
        {
            Assert.Equal("built", ann.OpenedAs);
            Assert.Equal(0, ann.Prefault());                                        // built in memory: no mapping to fault in
        }
        using (var store = IndexStore.Open(index))
        using (var model = IndexModel.Open(fixture.Model, Frames))
        using (var ann = AnnIndex.Open(store, model))
        {
            Assert.Equal("fresh", ann.OpenedAs);                                    // a memory-mapped view of the saved file
            string data = Directory.GetFiles(Path.GetDirectoryName(index)!, "index.vsi.ann-*.usearch").Single();
            long resident = ann.Prefault();
            Assert.True(resident >= new FileInfo(data).Length, $"{resident} bytes made resident of a {new FileInfo(data).Length}-byte file");
            // The kernel's own account: every page of the file's mappings is now resident in this process.
            var (size, rss) = MappedKiB(Path.GetFullPath(data));
            Assert.True(size > 0 && rss == size, $"mapped {size} KiB, resident {rss} KiB");
            using var q = model.EncodeQuery(Queries[1]);
            Assert.Equal(store.SegmentIds().Order(), ann.Search(model.AnnQuery(q), 1000).Order());
        }
        // Caught up after a change, the index is loaded into memory to be changed: nothing to fault in.
        using (var store = SqliteIndexStore.Open(index, writable: true)) store.PutMany(SyntheticVideos(5, seed: 6, firstVideo: 200));
        using (var store = IndexStore.Open(index))
        using (var model = IndexModel.Open(fixture.Model, Frames))
        using (var ann = AnnIndex.Open(store, model, save: false))
        {
            Assert.StartsWith("updated", ann.OpenedAs);
            Assert.Equal(0, ann.Prefault());
        }
    }

    /// <summary>The Size and Rss (KiB) of this process's mappings of <paramref name="path"/>, from /proc/self/smaps.</summary>
    private static (long Size, long Rss) MappedKiB(string path)
    {
        long size = 0, rss = 0;
        bool inside = false;
        foreach (var line in File.ReadLines("/proc/self/smaps"))
        {
            if (char.IsAsciiHexDigit(line[0]) && line.Contains('-') && line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length >= 5) { inside = line.EndsWith(path, StringComparison.Ordinal); continue; }
            if (!inside) continue;
            if (line.StartsWith("Size:", StringComparison.Ordinal)) size += long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]);
            if (line.StartsWith("Rss:", StringComparison.Ordinal)) rss += long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]);
        }
        return (size, rss);
    }

    [Fact]
    public void AnAnnFileOfAnotherIndexIsRefusedAndRebuilt()
    {
        // Two indexes with the same model, generation and segment ids but other content: only the vectors tell them apart.
        string a = SyntheticIndex(fixture.Model, 120, seed: 5);
        string b = SyntheticIndex(fixture.Model, 120, seed: 6);
        using (var store = IndexStore.Open(a))
        using (var model = IndexModel.Open(fixture.Model, Frames))
            AnnIndex.Open(store, model).Dispose();
        foreach (var f in Directory.GetFiles(Path.GetDirectoryName(a)!, "index.vsi.ann*"))
            File.Copy(f, Path.Combine(Path.GetDirectoryName(b)!, Path.GetFileName(f)));

        var warnings = new List<string>();
        using (var store = IndexStore.Open(b))
        using (var model = IndexModel.Open(fixture.Model, Frames))
        using (var ann = AnnIndex.Open(store, model, warnings.Add))
            Assert.Equal("built", ann.OpenedAs);
        Assert.Contains(warnings, w => w.Contains("does not match") && w.Contains(b));

        // A file built for another model is refused too.
        string model2 = MeanPModel();
        string c = SyntheticIndex(model2, 120, seed: 5);
        foreach (var f in Directory.GetFiles(Path.GetDirectoryName(a)!, "index.vsi.ann*"))
            File.Copy(f, Path.Combine(Path.GetDirectoryName(c)!, Path.GetFileName(f)));
        warnings.Clear();
        using (var store = IndexStore.Open(c))
        using (var model = IndexModel.Open(model2, Frames))
        using (var ann = AnnIndex.Open(store, model, warnings.Add))
            Assert.Equal("built", ann.OpenedAs);
        Assert.Contains(warnings, w => w.Contains("another model"));
    }

    [Fact]
    public void ADamagedAnnFileIsRebuiltWithAWarning()
    {
        string index = SyntheticIndex(fixture.Model, 150, seed: 7);
        using var model = IndexModel.Open(fixture.Model, Frames);
        string header = AnnIndex.PathFor(index);
        string Data() => Assert.Single(Directory.GetFiles(Path.GetDirectoryName(index)!, "index.vsi.ann-*.usearch"));
        using (var store = IndexStore.Open(index)) AnnIndex.Open(store, model).Dispose();

        void ExpectRebuilt(string what)
        {
            var warnings = new List<string>();
            using (var store = IndexStore.Open(index))
            using (var ann = AnnIndex.Open(store, model, warnings.Add))
            {
                Assert.Equal("built", ann.OpenedAs);
                Assert.Equal(150, ann.Count);
            }
            Assert.True(warnings.Count == 1, what);
            Assert.Contains("rebuilding", warnings[0]);
            using (var store = IndexStore.Open(index))
            using (var ann = AnnIndex.Open(store, model))
                Assert.Equal("fresh", ann.OpenedAs);
        }

        // A data file cut short (a write that never finished).
        var bytes = File.ReadAllBytes(Data());
        File.WriteAllBytes(Data(), bytes[..(bytes.Length / 2)]);
        ExpectRebuilt("truncated data");
        // One flipped byte in the data file.
        bytes = File.ReadAllBytes(Data());
        bytes[bytes.Length / 3] ^= 0x40;
        File.WriteAllBytes(Data(), bytes);
        ExpectRebuilt("flipped byte");
        // A header that is not one.
        File.WriteAllText(header, "not an ANN header");
        ExpectRebuilt("garbage header");
        // The data file gone.
        File.Delete(Data());
        ExpectRebuilt("missing data");
    }

    [Theory]
    [InlineData("data-written")]
    [InlineData("header-written")]
    public void AProcessKilledWhileSavingTheAnnIndexLeavesOneTheNextOpenRepairs(string point)
    {
        string videos = fixture.NewVideoFolder("bars_h264.mp4", "numbered_h264.mp4", "counter_mpeg4.mp4");
        string index = Path.Combine(videos, "index.vsi");
        Assert.Equal(0, CliRunner.Run("index", videos, "--model", fixture.Model, "--out", index).Code);
        using (var store = IndexStore.Open(index))
        using (var model = IndexModel.Open(fixture.Model, Frames))
            AnnIndex.Open(store, model).Dispose();                                  // an .ann now exists: index keeps it in step
        string oldData = Assert.Single(Directory.GetFiles(videos, "index.vsi.ann-*.usearch"));

        File.Copy(Path.Combine(TestPaths.Videos, "zoom_h264.mkv"), Path.Combine(videos, "zoom_h264.mkv"));
        var crashed = IndexTests.RunChild(["index", videos, "--model", fixture.Model, "--out", index], (IndexCommand.AnnAbortAtVariable, point));
        Assert.True(crashed.Code == 87, crashed.Err);
        Assert.Equal(2, Directory.GetFiles(videos, "index.vsi.ann-*.usearch").Length); // the new data file was written, the header not renamed
        Assert.True(File.Exists(oldData));

        var (code, stdout, stderr) = CliRunner.Run("index", videos, "--model", fixture.Model, "--out", index);
        Assert.True(code == 0, stderr);
        Assert.Contains("4 segments, updated (1 added, 0 removed)", stdout);         // the old header still named the old data
        Assert.DoesNotContain("warning", stderr);
        Assert.False(File.Exists(AnnIndex.PathFor(index) + ".tmp"));
        string newData = Assert.Single(Directory.GetFiles(videos, "index.vsi.ann-*.usearch")); // leftovers cleaned up
        Assert.NotEqual(oldData, newData);
        using var searcher = VideoSearcher.Open(index, candidates: 2, xpoolFirstStage: XPoolFirstStage.Graph);
        Assert.Equal("fresh", searcher.Ann!.OpenedAs);
        Assert.Equal(4, searcher.Ann.Count);
        Assert.Equal(2, searcher.Search("colour bars", 2).Count);
    }

    [Theory]
    [InlineData("body-written")]
    [InlineData("written")]
    public void AProcessKilledWhileSavingTheXPoolScanLeavesNothingTheNextSearchTrusts(string point)
    {
        // search builds X-Pool's scan on its first open of a large enough index and saves it beside the index. A process killed
        // while saving (before the checksum, or with the file whole but not yet renamed) leaves only PATH.tmp: the next search
        // builds the scan again without a warning and saves it; an older scan file is left as it was.
        string index = SyntheticIndex(fixture.Model, 200, seed: 41, lowRank: true);
        string file = XPoolScan.PathFor(index);
        string[] search = ["search", index, Queries[0], "--candidates", "20"];
        var crashed = IndexTests.RunChild(search, (SearchCommand.ScanAbortAtVariable, point));
        Assert.True(crashed.Code == 87, crashed.Err);
        Assert.False(File.Exists(file));
        Assert.True(File.Exists(file + ".tmp"));

        var (code, _, stderr) = CliRunner.Run(search);
        Assert.True(code == 0, stderr);
        Assert.DoesNotContain("warning", stderr);
        Assert.True(File.Exists(file));
        Assert.False(File.Exists(file + ".tmp"));
        byte[] saved = File.ReadAllBytes(file);

        // The index grows, so the saved scan is stale; a process killed while saving its successor leaves the old file whole.
        using (var store = SqliteIndexStore.Open(index, writable: true)) store.PutMany(LowRankVideos(30, seed: 42, firstVideo: 200));
        crashed = IndexTests.RunChild(search, (SearchCommand.ScanAbortAtVariable, point));
        Assert.True(crashed.Code == 87, crashed.Err);
        Assert.Equal(saved, File.ReadAllBytes(file));
        (code, _, stderr) = CliRunner.Run(search);
        Assert.True(code == 0, stderr);
        Assert.DoesNotContain("warning", stderr);
        Assert.False(File.Exists(file + ".tmp"));

        using var searcher = VideoSearcher.Open(index, candidates: 20);
        Assert.Equal("loaded", searcher.Scan!.OpenedAs);
        Assert.Equal(230, searcher.Scan.Count);
        Assert.Equal(Ids(searcher.Search(Queries[0], 5, exact: true)), Ids(searcher.Search(Queries[0], 5)));
    }

    [Theory]
    [InlineData("body-written")]
    [InlineData("written")]
    public void AScanThatCannotBeSavedIsUsedFromMemoryAfterAWarning(string point)
    {
        // A full disk while saving X-Pool's scan: one warning naming the file, the search answers from the scan in memory, and
        // neither the file nor its temporary is left behind.
        string index = SyntheticIndex(fixture.Model, 200, seed: 43, lowRank: true);
        string file = XPoolScan.PathFor(index);
        var full = IndexTests.RunChild(["search", index, Queries[0], "--candidates", "20", "--json"], (SearchCommand.ScanDiskFullAtVariable, point));
        Assert.True(full.Code == 0, full.Err);
        var warning = Assert.Single(full.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => l.StartsWith("warning:"));
        Assert.Contains(file, warning);
        Assert.Contains("No space left on device", warning);
        Assert.Contains("\"results\"", full.Out);
        Assert.False(File.Exists(file));
        Assert.False(File.Exists(file + ".tmp"));
    }

    [Fact]
    public void TheCliTakesExactAndCandidates()
    {
        string index = SyntheticIndex(fixture.Model, 60, seed: 8);
        var exact = CliRunner.Run("search", index, "two squares", "-k", "3", "--exact", "--json");
        Assert.True(exact.Code == 0, exact.Err);
        var ann = CliRunner.Run("search", index, "two squares", "-k", "3", "--candidates", "30", "--json");
        Assert.True(ann.Code == 0, ann.Err);
        Assert.True(File.Exists(FrameSidecar.PathFor(index)));                         // X-Pool's scan reads it; no graph is built
        Assert.False(File.Exists(AnnIndex.PathFor(index)));
        var bad = CliRunner.Run("search", index, "two squares", "--candidates", "0");
        Assert.Equal(2, bad.Code); // a usage error
        Assert.Contains("--candidates", bad.Err);
    }
}
