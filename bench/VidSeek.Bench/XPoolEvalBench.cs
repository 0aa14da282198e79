using System.Diagnostics;
using TorchSharp;
using VidSeek.Models.Clip;
using VidSeek.Models.DualEncoder;
using VidSeek.Retrieval;
using VidSeek.Data;
using static TorchSharp.torch;

namespace VidSeek.Bench;

/// <summary>
/// X-Pool's all-pairs evaluation at MSVD size (27,763 captions x 670 videos, 12 frames, D = 512, random
/// embeddings): time and peak RSS of the blocked similarity, against what materialising every pooled video
/// would need. Run at a quarter and at the full size to show that memory follows the block, not texts x videos.
/// </summary>
public static class XPoolEvalBench
{
    public static void Run(string[] args)
    {
        int texts = 27_763, videos = 670, frames = 12, dim = 512;
        torch.set_num_threads(Environment.ProcessorCount);
        Console.WriteLine($"X-Pool all-pairs evaluation, MSVD size: {texts} captions x {videos} videos, {frames} frames, D={dim}, random embeddings");
        Console.WriteLine($"materialising pooled videos [V, T, D] at once would need {(double)videos * texts * dim * 4 / (1L << 30):F1} GiB (X-Pool's reference builds [V, V, max_captions, D], larger still)");
        Console.WriteLine();
        Console.WriteLine("| captions | videos | text block x video block | time (s) | similarity matrix (MiB) | peak RSS before (MiB) | peak RSS after (MiB) |");
        Console.WriteLine("| ---: | ---: | :---: | ---: | ---: | ---: | ---: |");
        torch.manual_seed(0);
        var clip = ClipPresets.Tiny with { ProjectionDim = dim };
        using var model = new DualEncoderModel(new DualEncoderConfig { Pooling = VideoPooling.XPool, Clip = clip, NumFrames = frames });
        model.eval();
        foreach (var (t, v) in new[] { (texts / 4, videos / 4), (texts, videos) })
        {
            using var scope = torch.NewDisposeScope();
            var text = torch.randn(t, dim);
            var frameEmb = torch.randn(v, frames, dim);
            long before = PeakRssMiB();
            var clock = Stopwatch.StartNew();
            float[] sims = model.SimilarityMatrix(text, frameEmb, textChunk: 512, videoChunk: 32);
            double seconds = clock.Elapsed.TotalSeconds;
            var split = new RetrievalSplit("random", "msvd-size", Enumerable.Range(0, v).Select(i => new VideoEntry($"v{i}", "")).ToList(),
                Enumerable.Range(0, t).Select(i => new CaptionEntry("", i % v)).ToList());
            var result = Evaluator.Score(sims, split);
            seconds = clock.Elapsed.TotalSeconds;
            Console.WriteLine($"| {t} | {v} | 512 x 32 | {seconds:F1} | {(double)sims.Length * 4 / (1 << 20):F0} | {before} | {PeakRssMiB()} |");
            GC.KeepAlive(result);
        }
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
