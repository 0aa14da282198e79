using TorchSharp;
using static TorchSharp.torch;

namespace VidSeek.Index;

/// <summary>One search result: a segment (a moment) of a video.</summary>
/// <param name="Rank">1-based.</param>
/// <param name="Video">The file the moment is in.</param>
/// <param name="Segment">The moment: its time range, frame times and embeddings.</param>
/// <param name="Score">The ranking score: the dual encoder's text-video cosine (as in <c>eval</c>), or for a VLT model its ITC similarity.</param>
/// <param name="FrameWeights">X-Pool: the attention the query gave each sampled frame (mean over heads, sums to 1); null for other models.</param>
/// <param name="FrameScores">Cosine of the query with each frame (the VLT's per-frame ITC cosine).</param>
/// <param name="BestFrame">The frame with the most attention (X-Pool) or the highest cosine (others).</param>
/// <param name="IsGroundTruth">The query is one of this video's ground-truth captions (indexes built from a dataset).</param>
/// <param name="MatchScore">VLT: the ITM match score when this segment was among the re-ranked top k; null otherwise.</param>
public sealed record SearchHit(int Rank, IndexedVideo Video, IndexedSegment Segment, float Score, float[]? FrameWeights, float[] FrameScores, int BestFrame,
    bool IsGroundTruth, float? MatchScore = null)
{
    public double BestFrameTime => Segment.FrameTimes[BestFrame];

    /// <summary>How many standard deviations <see cref="Score"/> lies above the generic captions' scores on this segment
    /// (<see cref="ScoreCalibration.StandOut"/>); null when the search was not calibrated.</summary>
    public double? StandOut { get; init; }

    /// <summary>The percentage of generic captions whose top result stands out less than this one (<see cref="ScoreCalibration.Percentile"/>).</summary>
    public double? Percentile { get; init; }

    /// <summary>"good match" or "no good match" for a search's results (by the best percentile among them), or null when there are none or they are not calibrated.</summary>
    public static string? Verdict(IReadOnlyList<SearchHit> hits) =>
        BestPercentile(hits) is not double p ? null : ScoreCalibration.IsGoodMatch(p) ? "good match" : "no good match";

    /// <summary>The highest percentile among calibrated hits, or null.</summary>
    public static double? BestPercentile(IReadOnlyList<SearchHit> hits) =>
        hits.Where(h => h.Percentile is double p && !double.IsNaN(p)).Select(h => h.Percentile).Max();
}

/// <summary>X-Pool's first stage on an embedded index (other models and PostgreSQL have one first stage each).</summary>
public enum XPoolFirstStage
{
    /// <summary>X-Pool's own score of every segment on compressed frames (<see cref="XPoolScan"/>); the default.</summary>
    Scan,
    /// <summary>The nearest-neighbour graph over each segment's 8 centroids (<see cref="AnnIndex"/>): the first stage before the
    /// scan, kept for comparison (it needs many more candidates for the same recall; docs/PERFORMANCE.md).</summary>
    Graph,
}

/// <summary>
/// Text-to-video search over an <see cref="IIndexStore"/> with the model that built it, in two stages on large indexes:
/// a first stage proposes the top <see cref="Candidates"/> segments (X-Pool on an embedded index: <see cref="XPoolScan"/>, its own
/// score on compressed frames; otherwise an approximate nearest-neighbour index, <see cref="AnnIndex"/> or the server's), whose
/// per-frame data is then read from the store and scored exactly as <c>eval</c> scores
/// (X-Pool, mean pooling, or a VLT's ITC then ITM). The exhaustive search (<c>exact</c>, and any index with no more segments
/// than candidates) scores every segment, streamed from the store in blocks, so memory stays bounded; its ranking is eval's
/// ranking. Nothing per segment is held in memory beyond the first stage's index.
/// </summary>
public sealed class VideoSearcher : IDisposable
{
    /// <summary>
    /// Candidates a nearest-neighbour first stage (mean pooling, a VLT, PostgreSQL) proposes per query by default (recall@10
    /// against the exhaustive ranking per candidate count: docs/PERFORMANCE.md, <c>vidseek-bench search-query</c>).
    /// </summary>
    public const int DefaultCandidates = 1000;

    /// <summary>
    /// Candidates X-Pool's scan (<see cref="XPoolScan"/>) proposes per query by default: at 10^6 Shapes segments they hold
    /// 99.8% of the exact top 10, where 1,000 hold 96% (docs/PERFORMANCE.md); the extra thousand cost about 5 ms a query there.
    /// </summary>
    public const int XPoolScanCandidates = 2000;

    /// <summary>The default candidate count of a searcher over <paramref name="index"/> with <paramref name="model"/>:
    /// <see cref="XPoolScanCandidates"/> where X-Pool's first stage is the scan, else <see cref="DefaultCandidates"/>.</summary>
    public static int DefaultCandidatesFor(IndexModel model, IIndexStore index, XPoolFirstStage xpoolFirstStage = XPoolFirstStage.Scan) =>
        xpoolFirstStage == XPoolFirstStage.Scan && ScannedPool(model) is not null && index is SqliteIndexStore ? XPoolScanCandidates : DefaultCandidates;

    /// <summary>Segments per block of the exhaustive search (a multiple of the similarity's own block of 32 videos).</summary>
    public const int ExactBlock = 2048;

    private readonly IndexModel model;
    private Lazy<bool> hasCaptions;
    private Lazy<IReadOnlyList<IndexedVideo>> videos;
    private readonly Action<string>? warn;
    private readonly string? annHeader;
    private readonly object annGate = new();
    private AnnIndex? ann;
    private int segmentCount;
    private readonly object calibrationGate = new();
    private ScoreCalibration? calibration;

    public IIndexStore Index { get; }
    /// <summary>Every indexed video, in path order (read when first asked for, and again after the index changed).</summary>
    public IReadOnlyList<IndexedVideo> Videos { get { Refresh(); return videos.Value; } }
    public IndexModel Model => model;
    /// <summary>The index's <see cref="IIndexStore.Generation"/> when this searcher last looked.</summary>
    public long Generation { get; private set; }
    /// <summary>Segments the first stage proposes per query (unless a search asks for another count).</summary>
    public int Candidates { get; }
    /// <summary>The nearest-neighbour first stage, once a search needed it (null for an index no larger than <see cref="Candidates"/>,
    /// and where X-Pool's first stage is the scan).</summary>
    public AnnIndex? Ann => ann;
    /// <summary>X-Pool's scan first stage, once a search needed it (see <see cref="XPoolFirstStage"/>).</summary>
    public XPoolScan? Scan => scan;
    /// <summary>X-Pool's first stage on an embedded index, as asked for when opened.</summary>
    public XPoolFirstStage XPoolStage { get; }
    /// <summary>Whether the index came from an annotated dataset (ground truth is known).</summary>
    public bool HasCaptions { get { Refresh(); return hasCaptions.Value; } }
    /// <summary>"xpool", "meanp" or "vlt": what the per-frame numbers of a hit mean.</summary>
    public string Kind => model is IndexModel.Dual d ? (d.Model.Config.Pooling == Models.DualEncoder.VideoPooling.XPool ? "xpool" : "meanp") : "vlt";

    private VideoSearcher(IIndexStore index, IndexModel model, int? candidates, Action<string>? warn, string? annHeader = null, bool frameSidecar = true,
        XPoolFirstStage xpoolFirstStage = XPoolFirstStage.Scan)
    {
        if (candidates < 1) throw new VidSeekException($"the candidate count must be at least 1, got {candidates}");
        Index = index;
        UseFrameSidecar = frameSidecar;
        XPoolStage = xpoolFirstStage;
        this.model = model;
        this.warn = warn;
        this.annHeader = annHeader;
        Candidates = candidates ?? DefaultCandidatesFor(model, index, xpoolFirstStage);
        Generation = index.Generation;
        segmentCount = index.SegmentCount;
        (videos, hasCaptions) = ReadLazily();
        if (HasFirstStage(exact: false, Candidates))                                  // keep the first stage (and the frames) open from the start
        {
            OpenFrames();
            if (OpenScan() is null) OpenAnn();
        }
    }

    private (Lazy<IReadOnlyList<IndexedVideo>>, Lazy<bool>) ReadLazily()
    {
        var list = new Lazy<IReadOnlyList<IndexedVideo>>(() => Index.Videos());
        // A store query, not the video list (unless that is read already): a large index's list is not read for a yes/no.
        return (list, new Lazy<bool>(() => list.IsValueCreated ? list.Value.Any(v => v.Captions.Count > 0) : Index.HasCaptions()));
    }

    /// <summary>
    /// Catches up with an index that another process changed (a re-index while <c>serve</c> runs): the video list, the segment
    /// count and (on the next search that uses it) the first stage are read again. Ids are never reused, so an id read before
    /// the change finds its own video or nothing, never another.
    /// </summary>
    private void Refresh()
    {
        long generation = Index.Generation;
        if (generation == Generation) return;
        lock (annGate)
        {
            if (generation == Generation) return;
            (videos, hasCaptions) = ReadLazily();
            segmentCount = Index.SegmentCount;
            Generation = generation;
        }
    }

    /// <summary>Opens an index and the model it was built with (or <paramref name="modelOverride"/>, which must hold the same weights).</summary>
    /// <param name="rerankK">VLT: segments per query re-scored by ITM.</param>
    /// <param name="candidates">Segments the first stage proposes per query (default: <see cref="DefaultCandidatesFor"/>).</param>
    /// <param name="warn">Where warnings go (a damaged or mismatched ANN file being rebuilt); standard error by default.</param>
    /// <param name="frameSidecar">Read the candidates' frames from the frame sidecar (<see cref="UseFrameSidecar"/>).</param>
    /// <param name="xpoolFirstStage">X-Pool's first stage on an embedded index (<see cref="XPoolFirstStage"/>).</param>
    public static VideoSearcher Open(string location, string? modelOverride = null, int rerankK = 128, int? candidates = null, Action<string>? warn = null,
        bool frameSidecar = true, XPoolFirstStage xpoolFirstStage = XPoolFirstStage.Scan)
    {
        if (candidates < 1) throw new VidSeekException($"the candidate count must be at least 1, got {candidates}");
        var index = IndexStore.Open(location);
        try
        {
            if (index is SqliteIndexStore file) file.CheckSegmentBlobs();
            string folder = modelOverride is null ? index.Manifest.Model : Path.GetFullPath(modelOverride);
            string weights = Path.Combine(folder, "model.safetensors");
            if (!File.Exists(weights))
                throw new VidSeekException($"{index.Location} was built with the model in {folder}, which is not there any more (model.safetensors missing); give --model FOLDER with the same weights");
            string sha = IndexBuilder.Sha256(weights);
            if (sha != index.Manifest.ModelSha256)
                throw new VidSeekException($"{weights} is not the model {index.Location} was built with (sha256 {sha[..12]}, expected {index.Manifest.ModelSha256[..Math.Min(12, index.Manifest.ModelSha256.Length)]}); index again with this model");
            var model = IndexModel.Open(folder, index.Manifest.Frames, rerankK);
            try { return new VideoSearcher(index, model, candidates, warn ?? (w => Console.Error.WriteLine($"warning: {w}")), frameSidecar: frameSidecar, xpoolFirstStage: xpoolFirstStage); }
            catch { model.Dispose(); throw; }
        }
        catch
        {
            index.Dispose();
            throw;
        }
    }

    /// <summary>
    /// A searcher over an open store with a model the caller vouches for (its embeddings must be the ones the index holds, e.g.
    /// the same backbone with another pooling); it owns and disposes both.
    /// </summary>
    /// <param name="annHeader">Where its first stage lives (<see cref="AnnIndex.PathFor"/> of the store by default): a model
    /// with other first-stage vectors than the index's own (mean pooling over an X-Pool index) needs a file of its own.</param>
    public static VideoSearcher Create(IIndexStore index, IndexModel model, int? candidates = null, Action<string>? warn = null, string? annHeader = null,
        bool frameSidecar = true, XPoolFirstStage xpoolFirstStage = XPoolFirstStage.Scan)
    {
        return new VideoSearcher(index, model, candidates, warn ?? (w => Console.Error.WriteLine($"warning: {w}")), annHeader, frameSidecar, xpoolFirstStage);
    }

    /// <summary>Whether searches report each hit's stand-out and percentile against the generic captions (<see cref="ScoreCalibration"/>); on by default.</summary>
    public bool Calibrate { get; set; } = true;

    /// <summary>
    /// The index's score calibration: the stored one when it is current, else computed now (and stored where the index can be
    /// written). Recomputed when the index changed since.
    /// </summary>
    public ScoreCalibration Calibration
    {
        get
        {
            lock (calibrationGate)
            {
                if (calibration is not null && calibration.IsCurrentFor(Index)) return calibration;
                return calibration = ScoreCalibration.ForIndex(Index, model, warn);
            }
        }
    }

    /// <summary>The hits with their stand-out and percentile against what the generic captions score on the same segments.</summary>
    private List<SearchHit> Calibrated(IndexModel.EncodedQuery query, List<SearchHit> hits)
    {
        if (!Calibrate || hits.Count == 0) return hits;
        var c = Calibration;
        return hits.Select(h =>
        {
            double z = c.StandOut(h.Segment.Id, h.Score);
            return h with { StandOut = z, Percentile = c.Percentile(z) };
        }).ToList();
    }

    /// <summary>Where the last search spent its time, in milliseconds: the first stage (ANN), reading the candidates from the store, and scoring them.</summary>
    public (double FirstStage, double Read, double Score) LastTimings { get; private set; }

    /// <summary>A dual encoder's second stage in the last two-stage search (null before one): how many candidates, whether their
    /// frames came from the sidecar, and milliseconds spent reading and scoring them, then reading and scoring the shortlist.</summary>
    public sealed record SecondStageTimings(int Candidates, bool FromSidecar, double ReadCandidates, double ScoreCandidates, double ReadShortlist, double ScoreShortlist);

    /// <summary>See <see cref="SecondStageTimings"/>.</summary>
    public SecondStageTimings? LastStages { get; private set; }

    /// <summary>
    /// Candidates per block of the second stage's read and single-query score (<see cref="ScoreCandidates"/>): 4,096 keeps a
    /// block's tensors (<c>[4096, 8, 128]</c> floats, 16 MiB) under the allocator's mmap threshold (<see cref="CpuThreads"/>).
    /// </summary>
    public int CandidateBlock
    {
        get => candidateBlock;
        set => candidateBlock = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(CandidateBlock), value, "at least 1");
    }

    private int candidateBlock = 4096;

    /// <summary>
    /// Whether a dual encoder's second stage reads its candidates' frames from the frame sidecar beside an embedded index
    /// (<see cref="FrameSidecar"/>, made or caught up when first needed) rather than the index's rows; on by default.
    /// </summary>
    public bool UseFrameSidecar { get; }

    /// <summary>The frame sidecar, once a search used it (null for PostgreSQL, a VLT model, or where it could not be opened).</summary>
    public FrameSidecar? FrameSidecar => frames;

    private readonly object framesGate = new();
    private FrameSidecar? frames;
    private long framesFailedAt = -1; // the generation at which opening it failed (not tried again until the index changes)

    /// <summary>The frame sidecar of the store in step with it, or null where the second stage reads the store's rows.</summary>
    private FrameSidecar? OpenFrames()
    {
        if (!UseFrameSidecar || model is not IndexModel.Dual || Index is not SqliteIndexStore) return null;
        lock (framesGate)
        {
            long generation = Index.Generation;
            if (frames is not null && frames.Generation == generation) return frames;
            if (framesFailedAt == generation) return null;
            frames?.Dispose();
            frames = FrameSidecar.Open(Index, warn);
            if (frames is null) framesFailedAt = generation;
            return frames;
        }
    }

    /// <summary>The X-Pool head whose first stage on an embedded index is the scan (<see cref="XPoolScan"/>), or null for a model
    /// whose first stage is a nearest-neighbour graph (mean pooling, a VLT).</summary>
    public static Models.XPool.TextConditionedPooling? ScannedPool(IndexModel model) => model is IndexModel.Dual { Model.Pool: { } pool } ? pool : null;

    /// <summary>Below this share of the frames' variance in the scan's coordinates, opening it warns (Shapes keeps 97%).</summary>
    public const double LowVarianceKept = 0.9;

    private readonly object scanGate = new();
    private XPoolScan? scan;
    private long scanFailedAt = -1;

    /// <summary>
    /// X-Pool's scan (<see cref="XPoolScan"/>), built from the frame sidecar and again when the index changed; null for other
    /// models, PostgreSQL, <see cref="XPoolFirstStage.Graph"/>, or where the sidecar cannot be opened (the graph is used).
    /// </summary>
    private XPoolScan? OpenScan()
    {
        if (XPoolStage != XPoolFirstStage.Scan || ScannedPool(model) is not { } pool || Index is not SqliteIndexStore) return null;
        lock (scanGate)
        {
            long generation = Index.Generation;
            if (scan is not null && scan.Generation == generation) return scan;
            if (scanFailedAt == generation) return null;
            var sidecar = OpenFrames();
            if (sidecar is null || sidecar.Count == 0) { scanFailedAt = generation; return null; }
            var previous = scan;                                             // extended where the index only grew
            scan = null;
            try { scan = XPoolScan.Open(Index, sidecar, pool, warn, previous); }
            finally { previous?.Dispose(); }
            if (scan.VarianceKept < LowVarianceKept)
                warn?.Invoke($"X-Pool's first stage keeps only {100 * scan.VarianceKept:F0}% of the frames' variance in {scan.Rank} coordinates on {Index.Location}, so its candidates "
                    + "rank less like X-Pool's exact score: raise --candidates for recall, or search with --exact");
            return scan;
        }
    }

    private AnnIndex OpenAnn()
    {
        lock (annGate)
        {
            long generation = Index.Generation;
            if (ann is not null && ann.Generation == generation) return ann;
            // The store changed since (another process updated it): catch the first stage up, or open it the first time.
            ann?.Dispose();
            ann = null;
            ann = AnnIndex.Open(Index, model, warn, header: annHeader);
            Refresh();
            return ann;
        }
    }

    /// <summary>The video with this id, or null.</summary>
    public IndexedVideo? Video(long id) => Index.Video(id);

    /// <summary>
    /// The top <paramref name="k"/> segments for <paramref name="query"/>, best first (ties: index order, as eval's stable policy).
    /// </summary>
    /// <param name="perVideo">At most one hit per video: its best moment (the rest of the ranking moves up).</param>
    /// <param name="exact">Score every segment (streamed), whatever the index's size: the exhaustive ranking.</param>
    /// <param name="candidates">Segments the first stage proposes (default <see cref="Candidates"/>); an index with no more
    /// segments than this is searched exhaustively, so its ranking is exact.</param>
    public List<SearchHit> Search(string query, int k = 5, bool perVideo = false, bool exact = false, int? candidates = null)
    {
        if (string.IsNullOrWhiteSpace(query)) throw new VidSeekException("the query is empty");
        if (k < 1) throw new VidSeekException($"k must be at least 1, got {k}");
        int n = candidates ?? Candidates;
        if (n < 1) throw new VidSeekException($"the candidate count must be at least 1, got {n}");
        Refresh();
        if (segmentCount == 0) return [];
        using var encoded = model.EncodeQuery(query);
        var ranked = HasFirstStage(exact, n) ? FirstStage(encoded, k, n, perVideo) : Exhaustive(encoded, k, perVideo);
        return Calibrated(encoded, Hits(query, encoded, ranked));
    }

    /// <summary>
    /// Whether a search with <paramref name="n"/> candidates runs in two stages. The one place that chooses the first stage
    /// by store: the ANN file beside an embedded index, or the server's own HNSW index (PostgreSQL).
    /// </summary>
    private bool HasFirstStage(bool exact, int n) => !exact && n < segmentCount && Index is SqliteIndexStore or PostgresIndexStore;

    /// <summary>The first stage's candidate segment ids for a query, best first (see <see cref="HasFirstStage"/>).</summary>
    private IReadOnlyCollection<long> FirstStageIds(IndexModel.EncodedQuery query, int n) => Index is PostgresIndexStore pg
        ? pg.NearestCoarse(model.AnnQuery(query), n) // pgvector's HNSW over the per-segment coarse vectors, on the server
        : OpenScan() is { } xpoolScan ? xpoolScan.Search(query.Text, n) : OpenAnn().Search(model.AnnQuery(query), n);

    /// <summary>One segment (e.g. a neighbour of a hit) scored and explained for <paramref name="query"/>, or null for an unknown id; its rank is 0.</summary>
    public SearchHit? Moment(string query, long segmentId)
    {
        if (string.IsNullOrWhiteSpace(query)) throw new VidSeekException("the query is empty");
        using var encoded = model.EncodeQuery(query);
        var ranked = Rescore(encoded, [segmentId], 1, perVideo: false);
        return ranked.Count == 0 ? null : Calibrated(encoded, Hits(query, encoded, ranked))[0] with { Rank = 0 };
    }

    /// <summary>The segments just before and after <paramref name="segmentId"/> in the same video (null at its ends, or for an unknown id).</summary>
    public (IndexedSegment? Previous, IndexedSegment? Next) Neighbours(long segmentId)
    {
        if (Index.Segments([segmentId], withTokens: false) is not [var segment]) return (null, null);
        var all = Index.SegmentsOf(segment.VideoId, withTokens: false);
        int at = all.ToList().FindIndex(s => s.Id == segmentId);
        return (at > 0 ? Strip(all[at - 1]) : null, at >= 0 && at + 1 < all.Count ? Strip(all[at + 1]) : null);

        static IndexedSegment Strip(IndexedSegment s) => s with { FrameEmbeddings = [], Tokens = null };
    }

    /// <summary>One ranked segment: its record (with frames), the ranking score, and the VLT's ITC and ITM scores.</summary>
    private readonly record struct Ranked(IndexedSegment Segment, float Score, float? Itc, float? Itm);

    /// <summary>Two stages: the ANN index's top <paramref name="n"/> segments, then the exact score on those only.</summary>
    private List<Ranked> FirstStage(IndexModel.EncodedQuery query, int k, int n, bool perVideo)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var ids = FirstStageIds(query, Math.Max(n, model.Rescored(k)));
        double ann = clock.Elapsed.TotalMilliseconds;
        var ranked = model is IndexModel.Dual && ids.Count > Shortlist(k) ? ScoreCandidates(query, ids, k, perVideo) : Rescore(query, ids, k, perVideo);
        LastTimings = LastTimings with { FirstStage = ann };
        return ranked;
    }

    /// <summary>
    /// How many of the candidates the quick single-query score keeps for the final scoring (<see cref="ScoreCandidates"/>): a
    /// margin over k, so that float rounding (and float16 frames from the sidecar) cannot drop one of the exact top k.
    /// </summary>
    public static int Shortlist(int k) => Math.Max(2 * k, k + 32);

    /// <summary>
    /// A dual encoder's second stage: every candidate's frames (from the frame sidecar, <see cref="FrameSidecar"/>, where the
    /// store has one, else from the store's rows) scored by the model's single-query form (<see cref="IndexModel.CandidateScores"/>,
    /// no per-video preparation), then the best <see cref="Shortlist"/> read from the store and ranked by the same exact
    /// score as the exhaustive search (<see cref="Rescore"/>), so both paths give the same scores and tie-break.
    /// </summary>
    private List<Ranked> ScoreCandidates(IndexModel.EncodedQuery query, IReadOnlyCollection<long> ids, int k, bool perVideo)
    {
        var m = Index.Manifest;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var idList = new List<long>(ids.Count);
        var videoIds = new List<long>(ids.Count);
        var scoreList = new List<float>(ids.Count);
        double read = 0, scored = 0;
        var sidecar = OpenFrames();
        bool fromSidecar = sidecar is not null;
        var missing = new List<long>();
        // Blocks of CandidateBlock: each block's tensors stay below the allocator's mmap threshold (CpuThreads), so they are
        // reused from the heap rather than page-faulted in afresh (16,000 candidates at once were [16000, 8, 128] floats).
        void Score(long[] blockIds, long[] blockVideos, Tensor frames, double readStart)
        {
            double scoreStart = clock.Elapsed.TotalMilliseconds;
            read += scoreStart - readStart;
            if (blockIds.Length > 0) scoreList.AddRange(model.CandidateScores(query, frames));
            idList.AddRange(blockIds);
            videoIds.AddRange(blockVideos);
            scored += clock.Elapsed.TotalMilliseconds - scoreStart;
        }
        foreach (var block in sidecar is null ? [] : ids.Chunk(CandidateBlock))
        {
            using var scope = torch.NewDisposeScope();
            double start = clock.Elapsed.TotalMilliseconds;
            var (blockIds, blockVideos, frames) = sidecar!.Read(block, missing);                  // frames [n, F, E]
            Score(blockIds, blockVideos, frames, start);
        }
        // Rows the sidecar does not hold (it is not there, or the index changed under it): the store's own.
        foreach (var block in (fromSidecar ? missing : ids).Chunk(CandidateBlock))
        {
            using var scope = torch.NewDisposeScope();
            double start = clock.Elapsed.TotalMilliseconds;
            var segments = Index.Segments(block, withTokens: false);
            Score(segments.Select(s => s.Id).ToArray(), segments.Select(s => s.VideoId).ToArray(), Stack(segments, s => s.FrameEmbeddings, [m.Frames, m.EmbedDim]), start);
        }
        var scores = scoreList.ToArray();
        var order = Enumerable.Range(0, idList.Count).OrderByDescending(i => scores[i]).ThenBy(i => idList[i]);
        var shortlist = (perVideo ? order.DistinctBy(i => videoIds[i]) : order).Take(Shortlist(k)).Select(i => idList[i]).ToList();
        var ranked = Rescore(query, shortlist, k, perVideo);
        LastTimings = (0, read + LastTimings.Read, scored + LastTimings.Score);
        LastStages = new SecondStageTimings(ids.Count, fromSidecar, read, scored, LastTimings.Read - read, LastTimings.Score - scored);
        return ranked;
    }

    /// <summary>
    /// Every segment, streamed from the store in blocks of <see cref="ExactBlock"/>: each block is scored (dual encoders: the final
    /// similarity; VLT: ITC) and only the best <see cref="IndexModel.Rescored"/> so far are kept, with their place in index order
    /// for the tie-break; a VLT's kept segments are then re-scored as in eval (ITM on the top rerank-k).
    /// </summary>
    /// <remarks>With <paramref name="perVideo"/>, only each video's best segment is kept (a dual encoder's ranking is final, so that is
    /// exact; a VLT's ITM re-ranking then runs on each video's best ITC segment).</remarks>
    private List<Ranked> Exhaustive(IndexModel.EncodedQuery query, int k, bool perVideo)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        int keep = model.Rescored(k);
        var best = new List<(float Score, long Position, IndexedSegment Segment)>();
        long position = 0;
        var m = Index.Manifest;
        foreach (var block in Index.Segments(withTokens: false).Chunk(ExactBlock))
        {
            float[] scores;
            using (var scope = torch.NewDisposeScope())
                scores = model.BlockScores(query, Stack(block, s => s.FrameEmbeddings, [m.Frames, m.EmbedDim]));
            for (int i = 0; i < block.Length; i++) best.Add((scores[i], position + i, block[i] with { FrameEmbeddings = [] })); // memory stays bounded
            position += block.Length;
            if (best.Count > 2 * keep + ExactBlock) best = Top(best, keep, perVideo);
        }
        best = Top(best, keep, perVideo);
        LastTimings = (0, 0, clock.Elapsed.TotalMilliseconds);
        if (model is IndexModel.Dual)
            return best.Select(b => new Ranked(b.Segment, b.Score, null, null)).Take(k).ToList();
        var ranked = Rescore(query, best.Select(b => b.Segment.Id).ToList(), k, perVideo);
        LastTimings = (0, 0, clock.Elapsed.TotalMilliseconds);
        return ranked;
    }

    private static List<(float Score, long Position, IndexedSegment Segment)> Top(List<(float Score, long Position, IndexedSegment Segment)> all, int keep, bool perVideo)
    {
        var ordered = all.OrderByDescending(b => b.Score).ThenBy(b => b.Position);
        return (perVideo ? ordered.DistinctBy(b => b.Segment.VideoId) : ordered).Take(keep).ToList();
    }

    /// <summary>Reads the candidates' frames (and VLT tokens) from the store and ranks them by the model's exact score; ties: index order.</summary>
    private List<Ranked> Rescore(IndexModel.EncodedQuery query, IReadOnlyCollection<long> ids, int k, bool perVideo)
    {
        var m = Index.Manifest;
        bool vlt = m.ModelType == IndexModel.VltType;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var segments = Index.Segments(ids, withTokens: vlt);                                        // index order
        double read = clock.Elapsed.TotalMilliseconds;
        if (segments.Count == 0) return [];
        QueryScores scores;
        using (var scope = torch.NewDisposeScope())
        {
            var frames = Stack(segments, s => s.FrameEmbeddings, [m.Frames, m.EmbedDim]);           // [N, F, E]
            var tokens = vlt ? Stack(segments, s => s.Tokens, [m.Frames, m.TokensPerFrame, m.TokenDim]) : null; // [N, F, L, D]
            scores = model.Score(query, frames, tokens);
        }
        LastTimings = (0, read, clock.Elapsed.TotalMilliseconds - read);
        var order = Enumerable.Range(0, segments.Count).OrderByDescending(i => scores.Scores[i]).ThenBy(i => i);
        return (perVideo ? order.DistinctBy(i => segments[i].VideoId) : order).Take(k)
            .Select(i => new Ranked(segments[i], scores.Scores[i], scores.Itc?[i], scores.Itm is { } itm && float.IsFinite(itm[i]) ? itm[i] : null))
            .ToList();
    }

    /// <summary>The hits, with the per-frame detail (X-Pool's attention, per-frame cosines) of each.</summary>
    private List<SearchHit> Hits(string query, IndexModel.EncodedQuery encoded, List<Ranked> ranked)
    {
        if (ranked.Count == 0) return [];
        var m = Index.Manifest;
        // The exhaustive search drops the frames of segments it streams past; read the winners' back.
        if (ranked.Any(r => r.Segment.FrameEmbeddings.Length == 0))
        {
            var byId = Index.Segments(ranked.Select(r => r.Segment.Id).ToList(), withTokens: false).ToDictionary(s => s.Id);
            ranked = ranked.Select(r => r with { Segment = byId[r.Segment.Id] }).ToList();
        }
        string normalized = Normalize(query);
        float[][]? weights;
        float[][] frameScores;
        using (var scope = torch.NewDisposeScope())
        {
            var topFrames = Stack(ranked.Select(r => r.Segment).ToList(), s => s.FrameEmbeddings, [m.Frames, m.EmbedDim]); // [k, F, E]
            (weights, frameScores) = model.Explain(encoded, topFrames);
        }
        var videoById = new Dictionary<long, IndexedVideo>();
        var hits = new List<SearchHit>();
        for (int r = 0; r < ranked.Count; r++)
        {
            var segment = ranked[r].Segment with { FrameEmbeddings = [], Tokens = null }; // a hit shows times and scores, not embeddings
            if (!videoById.TryGetValue(segment.VideoId, out var video))
                videoById[segment.VideoId] = video = Index.Video(segment.VideoId)
                    ?? throw new VidSeekException($"{Index.Location} changed during the search (video {segment.VideoId} is gone); search again");
            var best = weights?[r] ?? frameScores[r];
            hits.Add(new SearchHit(r + 1, video, segment, ranked[r].Itc ?? ranked[r].Score, weights?[r], frameScores[r],
                Array.IndexOf(best, best.Max()), video.Captions.Any(c => Normalize(c) == normalized), ranked[r].Itm));
        }
        return hits;
    }

    /// <summary>One <c>[S, ...shape]</c> tensor of a per-segment array, each checked against the shape.</summary>
    private Tensor Stack(IReadOnlyList<IndexedSegment> segments, Func<IndexedSegment, float[]?> field, long[] shape)
    {
        long per = shape.Aggregate(1L, (a, b) => a * b);
        var flat = new float[segments.Count * per];
        for (int i = 0; i < segments.Count; i++)
        {
            var values = field(segments[i]);
            if (values is null || values.Length != per)
                throw new VidSeekException($"{Index.Location}: segment {segments[i].Id} holds {values?.Length ?? 0} values where [{string.Join(", ", shape)}] = {per} were expected; build the index again");
            values.CopyTo(flat, i * per);
        }
        return torch.tensor(flat, [segments.Count, .. shape]);
    }

    /// <summary>Some captions of the indexed dataset, for example queries (empty for a plain folder).</summary>
    public IReadOnlyList<string> ExampleCaptions(int count) =>
        Videos.SelectMany(v => v.Captions).Distinct().Take(count).ToList();

    /// <summary>
    /// Up to <paramref name="count"/> of the index's ground-truth captions whose top result is their own video, by the model's own
    /// ranking: of the first <paramref name="tried"/> distinct captions in index order (full-video and segment captions alike),
    /// shortest first among those found, so they read as chips. Empty for a plain folder.
    /// </summary>
    public IReadOnlyList<string> WellFoundCaptions(int count, int tried)
    {
        var found = new List<string>();
        foreach (var caption in Videos.SelectMany(v => v.Captions).Distinct().Take(tried))
            if (Search(caption, 1) is [{ IsGroundTruth: true }]) found.Add(caption);
        return found.OrderBy(c => c.Length).ThenBy(c => c, StringComparer.Ordinal).Take(count).ToList();
    }

    private static string Normalize(string s) => string.Join(' ', s.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)).ToLowerInvariant();

    public void Dispose()
    {
        ann?.Dispose();
        scan?.Dispose();
        frames?.Dispose();
        model.Dispose();
        Index.Dispose();
    }
}
