using TorchSharp;
using VidSeek.Models.Clip;
using VidSeek.Models.DualEncoder;
using VidSeek.Models.XPool;
using static TorchSharp.torch;

namespace VidSeek.Bench;

/// <summary>
/// X-Pool all-pairs similarity (what <c>eval</c> computes) at MSR-VTT 1k-A size (1,000 x 1,000) and MSVD size
/// (27,763 captions x 670 videos), 12 frames, D = 512, 1 head, random weights and embeddings (time does not depend on
/// the values). For each size, in one process: the factored form over all pairs (per-video preparation included),
/// its FLOPs by <see cref="XPoolFactored.Flops"/> and their fraction of the fp32 GEMM peak measured in the same run,
/// the peak RSS of that run, and the direct form (X-Pool's own order) timed on a subset of pairs and extrapolated
/// linearly per pair to the full size; both forms are also compared on that subset.
/// </summary>
public static class XPoolEvalBench
{
    private sealed record Size(string Name, int Texts, int Videos);

    public static int Run(Options o)
    {
        var all = new Dictionary<string, Size> { ["1ka"] = new("1k-A", 1_000, 1_000), ["msvd"] = new("MSVD", 27_763, 670) };
        var names = (o.String("sizes") ?? "1ka,msvd").Split(',', StringSplitOptions.RemoveEmptyEntries);
        int frames = o.Int("frames", 12), dim = o.Int("dim", 512), heads = o.Int("heads", 1);
        int reps = o.Int("reps", 3), warmup = o.Int("warmup", 1);
        int directTexts = o.Int("direct-texts", 512), directVideos = o.Int("direct-videos", 64);
        int threads = o.Int("threads", Environment.ProcessorCount);
        int textChunk = o.Int("text-chunk", DualEncoderModel.FactoredTextChunk), videoChunk = o.Int("video-chunk", DualEncoderModel.FactoredVideoChunk);
        Timing.MaxOthers = o.Int("max-others", 100) / 100.0;
        Timing.QuietWaitSeconds = o.Int("quiet-wait", 30);
        o.CheckAllRead();
        var sizes = names.Select(n => all.TryGetValue(n, out var s) ? s : throw new ArgumentException($"unknown size '{n}' (1ka, msvd)")).ToList();

        torch.set_num_threads(threads);
        using var mode = torch.inference_mode();
        Console.WriteLine($"X-Pool all-pairs similarity: {frames} frames, D = {dim}, {heads} head(s), random weights and embeddings; {threads} torch threads.");
        var m = Machine.Describe();
        Console.WriteLine($"Machine: {m.Cores} cores, {m.Cpu}; libtorch {m.Torch}; load average {m.LoadAverage} at start (the machine is shared with other agents).");
        int gemmN = o.Int("gemm-n", 2048);
        Console.WriteLine($"Each repetition runs, interleaved: torch.mm of two {gemmN} x {gemmN} matrices (the GEMM peak, under the same load), the factored");
        Console.WriteLine("form over all pairs (per-video preparation included: the cache is dropped first), its per-video preparation alone, and the direct");
        Console.WriteLine("form on the first texts x videos of the subset; ratios use the medians of the same repetitions. Also, for the second table, the");
        Console.WriteLine($"factored form's stages alone: per-text preparation, and the two GEMMs of every {textChunk} x {videoChunk} block without the pair kernel.");
        Console.WriteLine();
        Console.WriteLine("| size | texts x videos | factored (s) | of which per-video prep (s) | GFLOP (formula) | GFLOP/s | GEMM peak (GFLOP/s) | of peak | FLOP bound (s) | time / bound | peak RSS (MiB) | direct subset | direct (s, extrapolated) | speed-up | max abs diff (subset) | others |");
        Console.WriteLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");

        var stageRows = new List<string>();
        foreach (var size in sizes)
        {
            torch.manual_seed(0);
            using var model = new DualEncoderModel(new DualEncoderConfig
            {
                Pooling = VideoPooling.XPool, Clip = ClipPresets.Tiny with { ProjectionDim = dim }, NumFrames = frames, XPoolHeads = heads,
            });
            foreach (var p in model.HeadParameters()) p.add_(0.05 * torch.randn(p.shape));     // away from the identity init
            model.eval();
            using var text = torch.randn(size.Texts, dim);
            using var frameEmb = torch.randn(size.Videos, 1, dim) + 0.5 * torch.randn(size.Videos, frames, dim);
            int dt = Math.Min(directTexts, size.Texts), dv = Math.Min(directVideos, size.Videos);
            using var subText = text.narrow(0, 0, dt);
            using var subFrames = frameEmb.narrow(0, 0, dv);

            // Peak RSS of one factored all-pairs run on its own (the first run, before anything else at this size).
            GC.Collect();
            long rssBefore = ResetPeakRss();
            model.XPoolForm = XPoolSimilarity.Factored;
            float[] sims = model.SimilarityMatrix(text, frameEmb, textChunk, videoChunk);
            model.DropCache();
            long rssPeak = PeakRssMiB();

            using var ga = torch.randn(gemmN, gemmN);
            using var gb = torch.randn(gemmN, gemmN);
            float[]? direct = null;
            using var stages = new XPoolFactored(model.Pool!);
            using var stageVideos = stages.PrepareVideos(frameEmb);
            using var stageTexts = stages.PrepareTexts(text);
            var samples = Timing.Measure([
                () => torch.mm(ga, gb),
                () => { model.XPoolForm = XPoolSimilarity.Factored; model.DropCache(); sims = model.SimilarityMatrix(text, frameEmb, textChunk, videoChunk); model.DropCache(); },
                () => { using var f = new XPoolFactored(model.Pool!); using var v = f.PrepareVideos(frameEmb); },
                () => { model.XPoolForm = XPoolSimilarity.Direct; direct = model.SimilarityMatrix(subText, subFrames); },
                () => { using var t = stages.PrepareTexts(text); },
                () => BlockGemms(stages, stageTexts, stageVideos, textChunk, videoChunk),
            ], warmup, reps);
            var (gemm, fact, prep, dir, textPrep, gemms) = (samples[0], samples[1], samples[2], samples[3], samples[4], samples[5]);
            stageRows.Add($"| {size.Name} | {fact.Median:F3} | {prep.Median:F3} ({prep.Median / fact.Median:P0}) | {textPrep.Median:F3} ({textPrep.Median / fact.Median:P0}) | " +
                $"{gemms.Median:F3} ({gemms.Median / fact.Median:P0}) | {fact.Median - prep.Median - textPrep.Median - gemms.Median:F3} ({(fact.Median - prep.Median - textPrep.Median - gemms.Median) / fact.Median:P0}) |");
            double peak = 2.0 * gemmN * gemmN * gemmN / gemm.Median / 1e9;
            double flops = XPoolFactored.Flops(size.Texts, size.Videos, frames, dim, heads);
            double bound = flops / 1e9 / peak;
            double directFull = dir.Median * ((double)size.Texts * size.Videos / ((double)dt * dv));
            double maxDiff = 0;
            for (int i = 0; i < dt; i++)
                for (int j = 0; j < dv; j++)
                    maxDiff = Math.Max(maxDiff, Math.Abs(direct![i * dv + j] - sims[(long)i * size.Videos + j]));
            double gflops = flops / fact.Median / 1e9;
            Console.WriteLine($"| {size.Name} | {size.Texts:N0} x {size.Videos:N0} | {fact.Median:F3} | {prep.Median:F3} | {flops / 1e9:F1} | {gflops:F1} | {peak:F1} | {gflops / peak:P0} | {bound:F3} | {fact.Median / bound:F2} | " +
                $"{rssPeak:N0} (start {rssBefore:N0}) | {dt} x {dv}: {dir.Median:F2} s | {directFull:F1} | {directFull / fact.Median:F0}x | {maxDiff:E1} | {fact.Others:P0} |");
        }
        Console.WriteLine();
        Console.WriteLine("Where the factored time goes (medians of the same repetitions; the pair kernel = total minus the other stages):");
        Console.WriteLine();
        Console.WriteLine("| size | factored (s) | per-video prep (s) | per-text prep (s) | block GEMMs (s) | fused pair kernel and the rest (s) |");
        Console.WriteLine("| --- | ---: | ---: | ---: | ---: | ---: |");
        foreach (var row in stageRows) Console.WriteLine(row);
        Console.WriteLine();
        Console.WriteLine($"Medians of {reps} interleaved repetitions after {warmup} warm-up round(s). Direct (s, extrapolated) = the subset's time x (texts x videos) / (subset pairs): the direct form's cost is the same for every pair. Others = CPU share other processes used during the factored runs; load average at end {Machine.LoadAverageNow()}.");
        return 0;
    }

    /// <summary>The two GEMMs that <see cref="XPoolFactored"/> runs per block (logits and text against B), without the pair kernel.</summary>
    private static void BlockGemms(XPoolFactored model, XPoolFactored.Texts texts, XPoolFactored.Videos videos, int textChunk, int videoChunk)
    {
        using var _ = torch.no_grad();
        foreach (var (t0, tn, v0, vn) in DualEncoderModel.Blocks(texts.Count, videos.Count, textChunk, videoChunk))
        {
            foreach (var (p0, pn) in videos.Pieces(v0, vn))
            {
                using var scope = torch.NewDisposeScope();
                model.BlockGemms(texts, videos, t0, tn, p0, pn);
            }
        }
    }

    /// <summary>Resets VmHWM to the current resident set (<c>echo 5 &gt; /proc/self/clear_refs</c>) and returns it, in MiB.</summary>
    private static long ResetPeakRss()
    {
        try { File.WriteAllText("/proc/self/clear_refs", "5"); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        return PeakRssMiB();
    }

    /// <summary>VmHWM from /proc/self/status: the process's peak resident set, in MiB.</summary>
    public static long PeakRssMiB()
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) / 1024;
        return -1;
    }
}
