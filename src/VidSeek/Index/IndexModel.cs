using TorchSharp;
using VidSeek.Models;
using VidSeek.Models.DualEncoder;
using VidSeek.Models.Vlt;
using VidSeek.Retrieval;
using VidSeek.Text;
using static TorchSharp.torch;

namespace VidSeek.Index;

/// <summary>What one video becomes in the index.</summary>
/// <param name="Frames">Row-major <c>[F, E]</c>: per-frame embeddings (dual encoder) or per-frame ITC vectors (VLT).</param>
/// <param name="Tokens">VLT only: <c>F_V</c>, row-major <c>[F, L, D]</c>, what the ITM re-ranking reads; null for a dual encoder.</param>
/// <param name="Coarse"><c>[E]</c>: the normalised mean of the frames, one vector per video for a first, approximate stage.</param>
public sealed record EncodedVideo(float[] Frames, float[]? Tokens, float[] Coarse);

/// <summary>The scores of every indexed video for one query.</summary>
/// <param name="Scores"><c>[V]</c> the ranking score: the dual encoder's similarity, or the VLT's re-ranked score (ITM + offset in the top k, ITC elsewhere).</param>
/// <param name="Itc">VLT: the ITC similarity <c>[V]</c>; null for a dual encoder.</param>
/// <param name="Itm">VLT: the ITM match score of the re-ranked videos (NaN elsewhere); null for a dual encoder.</param>
public sealed record QueryScores(float[] Scores, float[]? Itc, float[]? Itm);

/// <summary>
/// A retrieval model as the index sees it: either family, behind the two operations indexing and searching need.
/// Dual encoders (X-Pool, mean pooling, HF CLIP) store per-frame embeddings; VLT models store the per-frame ITC vectors
/// and the video tokens, and search in two stages exactly as <c>eval</c> does (<see cref="TwoStageRetrieval.Score"/>).
/// </summary>
public abstract class IndexModel : IDisposable
{
    public const string VltType = "vidseek-vlt", DualType = "vidseek-dual-encoder";

    /// <summary><see cref="VltType"/> or <see cref="DualType"/>.</summary>
    public abstract string ModelType { get; }
    public abstract int DefaultFrames { get; }
    public abstract int ImageSize { get; }
    /// <summary>E, the width of a frame vector.</summary>
    public abstract int FrameDim { get; }

    /// <summary>VLT: (L, D) of the video tokens the index stores per frame; (0, 0) for dual encoders.</summary>
    public virtual (int L, int D) TokenShape => (0, 0);

    /// <summary>The manifest of an index of <paramref name="root"/> built with this model from <paramref name="folder"/>.</summary>
    /// <param name="segmenting">How videos are cut into segments; null: one segment per video (<see cref="SegmentingOptions.WholeVideo"/>).</param>
    public IndexManifest Manifest(string folder, int? frames, string root, string? dataset = null, SegmentingOptions? segmenting = null)
    {
        string weights = Path.Combine(folder, "model.safetensors");
        if (!File.Exists(weights)) throw new VidSeekException($"model.safetensors not found in {folder}");
        return new IndexManifest
        {
            Model = Path.GetFullPath(folder), ModelSha256 = IndexBuilder.Sha256(weights), Frames = frames ?? DefaultFrames, EmbedDim = FrameDim,
            ModelType = ModelType, TokensPerFrame = TokenShape.L, TokenDim = TokenShape.D, Root = root, Dataset = dataset,
            Segmenting = segmenting ?? SegmentingOptions.WholeVideo,
        };
    }

    /// <summary>Pixels <c>[1, F, 3, S, S]</c> -> what the index stores.</summary>
    public EncodedVideo Encode(Tensor pixels) => EncodeBatch(pixels)[0];

    /// <summary>Pixels <c>[B, F, 3, S, S]</c> (B segments) -> what the index stores for each, in order.</summary>
    public abstract EncodedVideo[] EncodeBatch(Tensor pixels);

    /// <summary>Scores one query against all videos. <paramref name="frames"/> <c>[V, F, E]</c>; <paramref name="tokens"/> <c>[V, F, L, D]</c> (VLT).</summary>
    public QueryScores Score(string query, Tensor frames, Tensor? tokens)
    {
        using var q = EncodeQuery(query);
        return Score(q, frames, tokens);
    }

    /// <summary>The query encoded once (text tower), to score against many blocks of segments.</summary>
    public abstract EncodedQuery EncodeQuery(string query);

    /// <summary>The final scores of candidate segments: <paramref name="frames"/> <c>[V, F, E]</c>; <paramref name="tokens"/> <c>[V, F, L, D]</c> (VLT).</summary>
    public abstract QueryScores Score(EncodedQuery query, Tensor frames, Tensor? tokens);

    /// <summary>
    /// The score the exhaustive search ranks a block of segments <c>[V, F, E]</c> by before it keeps the best
    /// <see cref="Rescored"/>: a dual encoder's final similarity; a VLT's ITC similarity (ITM then re-scores the kept ones).
    /// </summary>
    public abstract float[] BlockScores(EncodedQuery query, Tensor frames);

    /// <summary>
    /// The scores of a search's candidates <c>[N, F, E]</c> for one query, the way that is quickest for one text: a dual
    /// encoder's exact similarity in its single-query form (X-Pool: <see cref="Models.XPool.XPoolSingleQuery"/>; mean pooling:
    /// the cosine with the mean frame), equal to <see cref="BlockScores"/> up to float rounding; a VLT's ITC similarity.
    /// </summary>
    public virtual float[] CandidateScores(EncodedQuery query, Tensor frames) => BlockScores(query, frames);

    /// <summary>How many of the best segments by <see cref="BlockScores"/> a top-<paramref name="k"/> search must score with <see cref="Score(EncodedQuery, Tensor, Tensor?)"/>.</summary>
    public virtual int Rescored(int k) => k;

    /// <summary>
    /// The first stage's vectors of segments <c>[V, F, E]</c> -> <c>[V, K, E']</c> (K = <see cref="AnnVectorsPerSegment"/>), such
    /// that the largest inner product of a segment's K vectors with <see cref="AnnQuery"/> is a fast stand-in for the score:
    /// mean pooling: the normalised mean of the frames (K = 1, its cosine exactly); X-Pool: 8 spherical k-means centroids of
    /// the unit pooled vectors at its pooling's vertices (attention one-hot on each frame), edge midpoints (attention 1/2 on
    /// two frames) and centre (<see cref="Models.XPool.TextConditionedPooling.VertexCentroids"/>; K = min(8, F + F(F-1)/2 + 1);
    /// measured in docs/PERFORMANCE.md to recall X-Pool's ranking with 3-4x fewer candidates than the F + 1 vertices, and far
    /// better than the mean), scored against the unit text embedding; VLT: the mean of the normalised ITC-projected frames
    /// (K = 1, its ITC similarity exactly). A segment's vectors depend on its frames alone, not on the batch they are computed in.
    /// </summary>
    public abstract Tensor AnnVectors(Tensor frames);

    /// <summary>K, the first-stage vectors per segment of <paramref name="frames"/> frames.</summary>
    public abstract int AnnVectorsPerSegment(int frames);

    /// <summary>What the first-stage vectors are (recorded in the ANN file: a file of another kind is rebuilt).</summary>
    public abstract string AnnKind { get; }

    /// <summary>The query's first-stage vector <c>[E']</c>, unit length.</summary>
    public abstract float[] AnnQuery(EncodedQuery query);

    /// <summary>Per-video detail for the top hits: X-Pool's attention over the frames <c>[k, F]</c> (null for other models) and each frame's cosine with the query <c>[k, F]</c>.</summary>
    public abstract (float[][]? Weights, float[][] FrameScores) Explain(EncodedQuery query, Tensor topFrames);

    /// <summary>Opens a VidSeek checkpoint (dual encoder or VLT) or a Hugging Face CLIP folder.</summary>
    public static IndexModel Open(string folder, int? frames = null, int rerankK = 128) =>
        PretrainedFolder.ModelType(folder) == VltType ? new Vlt(folder, rerankK) : new Dual(RetrievalCheckpoint.Open(folder, numFrames: frames ?? 12));

    public abstract void Dispose();

    /// <summary>An encoded query: the text embedding <c>[1, E]</c> (dual encoder) or the text's hidden states and mask (VLT).</summary>
    public sealed class EncodedQuery(Tensor text, Tensor? mask = null) : IDisposable
    {
        /// <summary><c>[1, E]</c> or VLT <c>F_T</c> <c>[1, N, D]</c>.</summary>
        public Tensor Text { get; } = text;
        /// <summary>VLT: the attention mask <c>[1, N]</c>.</summary>
        public Tensor? Mask { get; } = mask;
        public void Dispose() { Text.Dispose(); Mask?.Dispose(); }
    }

    private static float[][] Rows(Tensor t) => Enumerable.Range(0, (int)t.shape[0]).Select(i => t[i].to(ScalarType.Float32).data<float>().ToArray()).ToArray();

    private static float[] Coarse(Tensor frames) => nn.functional.normalize(frames.mean(new long[] { 0 }), dim: 0).data<float>().ToArray();

    /// <summary>X-Pool, mean pooling or zero-shot CLIP.</summary>
    public sealed class Dual(RetrievalCheckpoint checkpoint) : IndexModel
    {
        public DualEncoderModel Model => checkpoint.Model;
        public RetrievalCheckpoint Checkpoint => checkpoint;
        public override string ModelType => DualType;
        public override int DefaultFrames => Model.Config.NumFrames;
        public override int ImageSize => Model.Clip.ImageSize;
        public override int FrameDim => Model.Clip.Config.ProjectionDim;

        public override EncodedVideo[] EncodeBatch(Tensor pixels)
        {
            using var scope = torch.NewDisposeScope();
            using var _ = torch.no_grad();
            var emb = Model.EncodeVideo(pixels).to(ScalarType.Float32).contiguous();              // [B, F, E]
            return Enumerable.Range(0, (int)emb.shape[0]).Select(b => new EncodedVideo(emb[b].data<float>().ToArray(), null, Coarse(emb[b]))).ToArray();
        }

        public override EncodedQuery EncodeQuery(string query)
        {
            using var scope = torch.NewDisposeScope();
            using var _ = torch.no_grad();
            return new EncodedQuery(checkpoint.Texts.Embed([query]).MoveToOuterDisposeScope());   // [1, E]
        }

        public override QueryScores Score(EncodedQuery query, Tensor frames, Tensor? tokens) =>
            new(BlockScores(query, frames), null, null);

        public override float[] BlockScores(EncodedQuery query, Tensor frames)
        {
            using var _ = torch.no_grad();
            return Model.SimilarityMatrix(query.Text, frames);                                    // eval's own blocked similarity
        }

        private Models.XPool.XPoolSingleQuery? singleQuery;

        public override float[] CandidateScores(EncodedQuery query, Tensor frames)
        {
            using var scope = torch.NewDisposeScope();
            using var _ = torch.no_grad();
            if (Model.Pool is { } pool)
            {
                singleQuery ??= new Models.XPool.XPoolSingleQuery(pool);                                // weights folded once per process
                return singleQuery.Score(query.Text, frames).Sims.data<float>().ToArray();
            }
            // Mean pooling: eval's own similarity in one call (the cosine with the mean frame: nothing per video to prepare,
            // so the blocks of BlockScores only cost time here).
            return Model.Similarity(query.Text.reshape(1, -1).to(ScalarType.Float32), frames.to(ScalarType.Float32)).Sims.data<float>().ToArray();
        }

        public override Tensor AnnVectors(Tensor frames)
        {
            using var _ = torch.no_grad();
            if (Model.Pool is { } pool)
                return pool.VertexCentroids(frames, AnnVectorsPerSegment((int)frames.shape[1])); // [V, K, E], unit rows
            return nn.functional.normalize(frames.mean(new long[] { 1 }, keepdim: true), dim: -1); // [V, 1, E], as IndexedSegment.Coarse
        }

        /// <summary>X-Pool: the study's best k = 8 (docs/PERFORMANCE.md), or every point where a segment has fewer (F &lt;= 3).</summary>
        public const int XPoolCentroids = 8;

        public override int AnnVectorsPerSegment(int frames) => Model.Pool is null ? 1 : Math.Min(XPoolCentroids, frames + frames * (frames - 1) / 2 + 1);

        public override string AnnKind => Model.Pool is null ? "mean" : "xpool-centroids";

        public override float[] AnnQuery(EncodedQuery query)
        {
            using var scope = torch.NewDisposeScope();
            return nn.functional.normalize(query.Text[0], dim: 0).to(ScalarType.Float32).data<float>().ToArray();
        }

        public override (float[][]? Weights, float[][] FrameScores) Explain(EncodedQuery query, Tensor topFrames)
        {
            using var scope = torch.NewDisposeScope();
            using var _ = torch.no_grad();
            var text = query.Text;                                                                 // [1, E]
            Tensor? weights = null;
            if (Model.Pool is { } pool)
            {
                // The single-query form's attention (equal to the module's to 1e-5, XPoolSingleQueryTests), averaged over heads.
                singleQuery ??= new Models.XPool.XPoolSingleQuery(pool);
                weights = singleQuery.Score(text, topFrames).Weights.mean([1]);                    // [k, F]
            }
            var cos = torch.einsum("e,kfe->kf", nn.functional.normalize(text[0], dim: -1), nn.functional.normalize(topFrames, dim: -1));
            return (weights is null ? null : Rows(weights), Rows(cos));
        }

        public override void Dispose()
        {
            singleQuery?.Dispose();
            checkpoint.Dispose();
        }
    }

    /// <summary>A video-language transformer: ITC over everything, then ITM on each query's top <c>rerankK</c>.</summary>
    public sealed class Vlt : IndexModel
    {
        private readonly VltTextTokenizer tokenizer;
        private readonly int rerankK;
        public VideoLanguageModel Model { get; }

        public Vlt(string folder, int rerankK)
        {
            Model = VideoLanguageModel.Load(folder);
            Model.SetPrecision(Models.InferencePrecision.Current);              // --precision: the encoders in bf16, or fp32
            tokenizer = VltTextTokenizer.ForModel(folder, Model.Config); // CLIP BPE or WordPiece, as the checkpoint's config.json records
            this.rerankK = rerankK;
        }

        public override string ModelType => VltType;
        public override int DefaultFrames => Training.VltTrainer.DefaultEvalFrames;
        public override int ImageSize => Model.Config.Video.ImageSize;
        public override int FrameDim => Model.Config.Video.HiddenSize;
        public override (int L, int D) TokenShape => ((int)Math.Pow(Model.Config.Video.ImageSize / Model.Config.Video.PatchSize, 2) + 1, Model.Config.Video.HiddenSize);

        public override EncodedVideo[] EncodeBatch(Tensor pixels)
        {
            using var scope = torch.NewDisposeScope();
            using var _ = torch.no_grad();
            var output = Model.EncodeVideo(pixels);
            var frames = output.FrameVectors.to(ScalarType.Float32).contiguous();                 // [B, F, D]
            var tokens = output.Tokens.to(ScalarType.Float32).contiguous();                       // [B, F, L, D]
            return Enumerable.Range(0, (int)frames.shape[0])
                .Select(b => new EncodedVideo(frames[b].data<float>().ToArray(), tokens[b].data<float>().ToArray(), Coarse(frames[b]))).ToArray();
        }

        public override EncodedQuery EncodeQuery(string query)
        {
            using var scope = torch.NewDisposeScope();
            using var _ = torch.no_grad();
            var (ids, mask) = tokenizer.Tokenize([query]);
            var hidden = Model.EncodeText(ids, mask);                                                // [1, N, D]
            return new EncodedQuery(hidden.MoveToOuterDisposeScope(), mask.MoveToOuterDisposeScope());
        }

        public override int Rescored(int k) => Math.Max(k, rerankK);

        public override float[] BlockScores(EncodedQuery query, Tensor frames)
        {
            using var scope = torch.NewDisposeScope();
            using var _ = torch.no_grad();
            return Model.ItcSimilarity(query.Text.select(1, 0), frames)[0].data<float>().ToArray();  // [V]
        }

        public override Tensor AnnVectors(Tensor frames)
        {
            using var _ = torch.no_grad();
            // ITC is the mean over frames of <t, f_i> with unit vectors, i.e. <t, mean_i f_i>: exact with an inner product.
            var f = nn.functional.normalize(Model.ProjectFrames(frames), dim: -1);                // [V, F, E']
            return f.mean(new long[] { 1 }, keepdim: true);                                       // [V, 1, E']
        }

        public override int AnnVectorsPerSegment(int frames) => 1;

        public override string AnnKind => "itc-mean";

        public override float[] AnnQuery(EncodedQuery query)
        {
            using var scope = torch.NewDisposeScope();
            using var _ = torch.no_grad();
            return nn.functional.normalize(Model.ProjectText(query.Text.select(1, 0)), dim: -1)[0].to(ScalarType.Float32).data<float>().ToArray();
        }

        public override QueryScores Score(EncodedQuery query, Tensor frames, Tensor? tokens)
        {
            ArgumentNullException.ThrowIfNull(tokens);
            ArgumentNullException.ThrowIfNull(query.Mask);
            using var scope = torch.NewDisposeScope();
            using var _ = torch.no_grad();
            var s = TwoStageRetrieval.Score(Model, query.Text, query.Mask, tokens, frames, new TwoStageOptions { TopK = rerankK });
            var itm = Enumerable.Repeat(float.NaN, s.Videos).ToArray();
            foreach (long v in s.TopVideos) itm[v] = s.Reranked[v] - s.Offset;
            return new QueryScores(s.Reranked, s.Itc, itm);
        }

        public override (float[][]? Weights, float[][] FrameScores) Explain(EncodedQuery query, Tensor topFrames)
        {
            using var scope = torch.NewDisposeScope();
            using var _ = torch.no_grad();
            var cls = query.Text.select(1, 0);                                                        // [1, D], as BlockScores
            // Per-frame ITC cosine: the ITC similarity is their mean.
            var perFrame = Enumerable.Range(0, (int)topFrames.shape[1])
                .Select(f => Model.ItcSimilarity(cls, topFrames.narrow(1, f, 1))[0]).ToList();      // F x [k]
            return (null, Rows(torch.stack(perFrame, 1)));
        }

        public override void Dispose() => Model.Dispose();
    }
}
