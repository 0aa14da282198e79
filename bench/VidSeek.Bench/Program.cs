using VidSeek;
using VidSeek.Bench;

// VidSeek benchmarks and analyses, one subcommand each (dotnet run -c Release --project bench/VidSeek.Bench -- NAME).
const string Usage = """
    usage: vidseek-bench <benchmark> [--name value ...]
      clip              CLIP ViT-B/32 (random weights): GEMM peak, image and text towers, micro-batch sweep
                        --out FILE (.json or .md)  --reps 5  --warmup 2  --threads N  --image-batch 32  --text-batch 64
                        --micro-batches 1,4,8,16,32  --gemm-sizes 1024,2048,3072  --config PATH  --max-others 5 (%)  --quiet-wait 120
      clip-bf16         CLIP ViT-B/32 bf16 vs fp32: image and text tower speed, cosine of the embeddings on real frames and captions
                        --reps 3  --warmup 1  --image-batch 16  --text-batch 16  --frames 4  --threads N  --videos DIR  --demo-model DIR
      vlt-bf16          VLT encoders bf16 vs fp32: video, text and joint encoder speed, cosine of their outputs (real frames)
                        --config base|shapes-small  --fusion T2V2T  --reps 3  --warmup 1  --clips 1  --frames 4  --texts 16  --tokens 32
                        --pairs 2  --cosine-clips 4  --threads N  --videos DIR
      clip-layer        one ViT-B/32 encoder layer, op by op  --out FILE (.md)  --reps 7  --batches 1,8,16,32
      xpool-eval        X-Pool all-pairs similarity at 1k-A and MSVD size: factored form (time, FLOPs, fraction of GEMM peak,
                        peak RSS) against the direct form (timed on a subset, extrapolated)
                        --sizes 1ka,msvd  --reps 3  --warmup 1  --direct-texts 512  --direct-videos 64  --frames 12  --dim 512
                        --heads 1  --threads N  --gemm-n 2048  --max-others 100 (%)  --quiet-wait 30  --text-chunk 1024  --video-chunk 64
      shapes-attention  where X-Pool's attention falls for Shapes segment captions
                        --checkpoint DIR --data SHAPES_DIR [--split test]
      bypass-attention  how much Bypass CA's video tokens attend their own frame vs the words, per caption type
                        --checkpoint T2V2T_DIR --data SHAPES_DIR [--split test] [--frames 8]
      vlt-probe         diagnostic: VLT loss parts and gradient norms per module for a few steps on Shapes
                        --data DIR --lr 1e-3 --itm-weight 1 --steps 60 --frames 4 --fusion T2V2T
      frame-seek        12 frames of a 10- and a 60-minute 720p H.264 file: VidSeek's seek path vs ffmpeg -ss vs the sequential path
                        --minutes 10,60  --frames 12  --reps 3  --seq-reps 1  --dir /tmp/vidseek-bench-videos  --out FILE (.md)
      vlt-cost          joint encoder cost per (text, video) pair, the four fusions: FLOPs, time, fraction of GEMM peak
                        --out FILE (.md)  --frames 4,8,16  --tokens 17,50,197  --text-tokens 32  --pairs 4  --reps 3  --warmup 1
                        --config base|shapes-small  --gemm-sizes 1024,2048,3072  --threads N  --max-others 5 (%)  --quiet-wait 120
      index-throughput  indexing a generated H.264 collection (Debian's ffmpeg; bench/index-throughput.sh): s of video/s,
                        decode vs encode, peak RSS   --collection small|full  --work DIR (/tmp/vidseek-index-bench/COLLECTION)
                        --models clip,clip-bf16,demo  --segment 30s  --access auto[,sequential]  --generate-only true  --out FILE (.md)
                        (override the collection: --durations 10,60  --heights 720,1080  --long 300  --long-height 720)
      shots-pass        shots mode after the detection pass: a second sequential decode vs seeking vs the one-pass lower bound
                        --files A.mp4,B.mp4 (default: the small index-throughput collection's 5-minute file)  --frames 12  --size 224  --out FILE (.md)
      search-source     the source of the search benchmark: Shapes corpus (seed 1, 800 videos), train split indexed with the demo model
                        --work DIR (/tmp/vidseek-search-bench)  --model DIR (assets/demo-model)  --corpus-videos 800 (all splits)
                        --max-videos 300 (the first train videos indexed: the sources search-build mixes)
      search-build      an index of N segments mixed from the source's, and its ANN indexes (X-Pool's, mean pooling's): build time, size
                        --source DIR  --n 10000  --out DIR  --seed 7  --poolings xpool,meanp  --store-only false  --reuse-store false
                        --connectivity 16  --expansion-add 128  --frames true (false: keep the frame sidecar)
                        (order: SQLite store, frame sidecar, then each pooling's ANN; --reuse-store true keeps the store)
      search-query      two-stage search: RSS, p50/p99 latency, recall@10 vs exhaustive exact per candidate count
                        --index DIR/index.vsi  --queries DIR/queries.txt  --pooling xpool|meanp  --latency-queries 200
                        --recall-queries 50  --e2e-queries 10  --candidates 100,200,500,1000  --latency-candidates 1000  --threads N  --out FILE.json
                        (prints build time and disk size from search-build, peak RSS of the query process, p50/p99; the exhaustive
                        reference is computed once in a streamed pass and cached as DIR/truth-POOLING-R.json; --truth-only true
                        computes only that cache, from the SQLite index alone, so a later run measures only the queries;
                        --compare-rows false skips the same queries read from SQLite rows, --exact-check false the one-query
                        --exact check: each is a long read of the SQLite index at 10^6; --prefault true makes the first stage's
                        graph resident first, as serve does; the recall table also prints the score gap of the end-to-end results)
      search-read       reading N random candidates' rows from the frame sidecar (pread): same ids each time vs fresh ids, minor page faults
                        --index DIR/index.vsi  --candidates 8000  --rounds 20  --threads N (libtorch's)
      search-study      which first-stage vectors recall X-Pool's exact top 10 (brute force), and the N each needs for recall 0.99 / 1:
                        mean, frames, vertices, uniform, edge midpoints (all, adjacent, chosen), per-segment k-means; second filters
                        --index DIR/index.vsi  --queries DIR/queries.txt  --model DIR (the index's model, if moved)  --recall-queries 40
                        --candidates 10,20,50,100,200,500,1000,2000  --prefilter 5000,10000,20000  --filters f16,int8,attention,top2|none
                        --kmeans 2,3,4  --kmeans-adjacent 4,6,8  --kmeans-all 4,6,8,12  --work /tmp/search-study (exact-score cache)  --out FILE.json
      first-stage-study whether an inverted file (k-means clusters of the mean frames, ranked per query by the exact X-Pool score of
                        representatives) recalls X-Pool's exact top 10 with fewer candidates; how flat the exact ranking's top is:
                        --index DIR/index.vsi --queries FILE --model DIR  --clusters 1000,4000  --recall-queries 40  --work /tmp/fss
                        --centroids true (also the shipped centroid stand-in scored by brute force, no graph; with --centroid-steps S
                        --centroid-k K the same points summarised otherwise)  --show 5 (queries whose score spread is printed)
                        --augmented 0,0.003 (the 37 simplex points plus tau x the attention logit)  --fitted J (a per-segment
                        linear fit on J probes: --probes train --data DIR (the corpus's training captions) | segments; --ridge 0.01)
                        --expand "N1,s,M[,rounds[,mode]];..." (graph candidates, then the mean-frame neighbours (mode 0) or a
                        second graph search with the seeds' pooled vectors (mode 1) of the s best)
      calibration       score calibration: how many ground-truth captions vs unrelated queries each "no good match" rule flags
                        --index FILE (an index of a dataset split, e.g. vidseek-demo/demo.vsi)  --captions 400
      oversubscription  vidseek index alone vs N processes at once, per OpenMP wait policy and --threads: the slowdown ratio
                        --videos 200  --processes 3  --configs passive,active,passive-threads1  --work DIR  --cli vidseek.dll  --model DIR
      pg-scale          the PostgreSQL store at N videos on the PGlite server of tests/pglite (or --url): insert throughput (one
                        transaction a video, and bulk), search latency (HNSW first stage + exact X-Pool), exhaustive exact, recall@10
                        --source DIR (search-source's)  --n 100000  --put 2000  --batch 1000  --queries 30  --exact-queries 3
                        --candidates 1000  --model assets/demo-model  --work /tmp/vidseek-pg-scale  --url postgres://...
    """;
if (args.Length == 0 || args[0] is "-h" or "--help")
{
    Console.WriteLine(Usage);
    return args.Length == 0 ? 2 : 0;
}
switch (args[0])
{
    case "clip": return ClipBench.Run(Options.Parse(args[1..]));
    case "clip-bf16": return ClipBf16Bench.Run(Options.Parse(args[1..]));
    case "vlt-bf16": return VltBf16Bench.Run(Options.Parse(args[1..]));
    case "clip-layer": return LayerBench.Run(Options.Parse(args[1..]));
    case "xpool-eval": CpuThreads.KeepLargeBuffersInTheHeap(); return XPoolEvalBench.Run(Options.Parse(args[1..])); // vidseek eval's heap thresholds; libgomp's own wait policy, as recorded
    case "shapes-attention": ShapesAttention.Run(args[1..]); return 0;
    case "vlt-probe": VltProbe.Run(args[1..]); return 0;
    case "bypass-attention": BypassAttention.Run(args[1..]); return 0;
    case "frame-seek": return FrameSeekBench.Run(Options.Parse(args[1..]));
    case "vlt-cost": return VltCostBench.Run(Options.Parse(args[1..]));
    case "index-throughput": return IndexThroughput.Run(Options.Parse(args[1..]));
    case "index-throughput-child": return IndexThroughput.ChildRun(args[1..]);
    case "shots-pass": return ShotsPassBench.Run(Options.Parse(args[1..]));
    case "search-source": return SearchBench.Source(args[1..]);
    case "search-build": return SearchBench.Build(args[1..]);
    // The search benchmarks configure the process as vidseek search/serve do (ConfigureProcess: heap thresholds and OpenMP's
    // PASSIVE wait policy), and their runtimeconfig, like vidseek's, keeps the thread pool's workers from spinning (the csproj).
    case "search-query": CpuThreads.ConfigureProcess(); return SearchBench.Query(args[1..]);
    case "search-read": CpuThreads.ConfigureProcess(); return SearchBench.Read(args[1..]);
    case "search-study": return SearchStudy.Run(args[1..]);
    case "first-stage-study": CpuThreads.ConfigureProcess(); return FirstStageStudy.Run(args[1..]);
    case "oversubscription": return OversubscriptionBench.Run(Options.Parse(args[1..]));
    case "calibration": return CalibrationBench.Run(Options.Parse(args[1..]));
    case "pg-scale": return PgScaleBench.Run(args[1..]);
    default: Console.Error.WriteLine($"unknown benchmark '{args[0]}'\n{Usage}"); return 2;
}
