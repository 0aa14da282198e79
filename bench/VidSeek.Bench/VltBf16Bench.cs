using TorchSharp;
using VidSeek.Models;
using VidSeek.Models.Vlt;
using VidSeek.Video;
using static TorchSharp.torch;

namespace VidSeek.Bench;

/// <summary>
/// <c>vlt-bf16</c>: the video-language transformer's encoders in bf16 (<see cref="VideoLanguageModel.SetPrecision"/>)
/// against fp32, in one run: the video encoder (clips/s, real frames decoded from the fixture videos at the config's image
/// size), the text encoder (texts/s) and the joint encoder (pairs/s, <c>FusedCls</c> on the two precisions' own encoder
/// outputs), fp32 and bf16 interleaved under the same load; and the cosine between bf16 and fp32 outputs: per-frame ITC
/// vectors, text [CLS] states, fused [CLS] states. Random weights at the model's own init (N(0, 0.02)); random token ids
/// (the presets' vocabularies have no offline tokenizer here that covers them all; speed does not depend on the ids).
/// </summary>
public static class VltBf16Bench
{
    public static int Run(Options o)
    {
        int reps = o.Int("reps", 3), warmup = o.Int("warmup", 1);
        int clips = o.Int("clips", 1), frames = o.Int("frames", 4), texts = o.Int("texts", 16), tokens = o.Int("tokens", 32), pairs = o.Int("pairs", 2);
        int cosineClips = o.Int("cosine-clips", 4);
        int threads = o.Int("threads", Environment.ProcessorCount);
        string configName = o.String("config") ?? "base";
        var fusion = Enum.Parse<FusionKind>(o.String("fusion") ?? "T2V2T", ignoreCase: true);
        string videosDir = o.String("videos") ?? Path.Combine(Machine.RepoRoot(), "..", "shared", "fixtures", "videos");
        Timing.MaxOthers = o.Int("max-others", 100) / 100.0;
        Timing.QuietWaitSeconds = o.Int("quiet-wait", 30);
        o.CheckAllRead();
        var config = VideoLanguagePresets.Resolve(configName, fusion);
        torch.set_num_threads(threads);
        using var mode = torch.inference_mode();

        var m = Machine.Describe();
        Console.WriteLine($"VLT bf16 vs fp32, `{configName}` ({fusion}): video D = {config.Video.HiddenSize} x {config.Video.NumHiddenLayers} layers at {config.Video.ImageSize} px, " +
            $"text D = {config.Text.HiddenSize}. Machine: {m.Cores} cores, {m.Cpu}; libtorch {m.Torch}, {threads} torch threads; load average {m.LoadAverage} at start (shared with other agents).");
        torch.manual_seed(0);
        using var fp32 = new VideoLanguageModel(config);
        fp32.eval();
        using var bf16 = new VideoLanguageModel(config);
        bf16.load_state_dict(fp32.state_dict());
        bf16.eval();
        bf16.SetPrecision(Precision.Bf16);

        // Real frames: `frames` per fixture video that decodes, grouped into clips of `frames`.
        var list = new List<Tensor>();
        foreach (var path in Directory.GetFiles(videosDir).Order(StringComparer.Ordinal))
        {
            try { list.Add(VideoClipLoader.Load(path, frames, config.Video.ImageSize).Pixels.unsqueeze(0)); }
            catch (VidSeekException) { }   // the fixtures include broken files on purpose
        }
        using var decoded = torch.cat(list, 0);                                                 // [N, T, 3, S, S]
        using var allClips = decoded.narrow(0, 0, Math.Min(cosineClips, decoded.shape[0]));     // the clips the cosines use
        using var clipBatch = decoded.index_select(0, torch.arange(clips) % decoded.shape[0]);
        using var ids = torch.randint(1000, config.Text.VocabSize, new long[] { texts, tokens }, dtype: ScalarType.Int64);
        using var mask = torch.ones(texts, tokens, dtype: ScalarType.Int64);
        Console.WriteLine($"Inputs: {decoded.shape[0]} real clips of {frames} frames (speed on {clips} a call, cosines on the first {allClips.shape[0]}), {texts} texts of {tokens} random tokens, {pairs} pairs a joint call.");

        // Encoder outputs of each precision for the joint encoder's speed and the cosines.
        var text32 = fp32.EncodeText(ids, mask); var text16 = bf16.EncodeText(ids, mask);
        var video32 = fp32.EncodeVideo(allClips); var video16 = bf16.EncodeVideo(allClips);
        using var pairIdx = torch.arange(pairs);
        Tensor PairText(Tensor t) => t.index_select(0, pairIdx % t.shape[0]);
        Tensor PairVideo(Tensor v) => v.index_select(0, pairIdx % v.shape[0]);
        var (pt32, pm, pv32) = (PairText(text32), PairText(mask), PairVideo(video32.Tokens));
        var (pt16, pv16) = (PairText(text16), PairVideo(video16.Tokens));

        var s = Timing.Measure([
            () => fp32.EncodeVideo(clipBatch), () => bf16.EncodeVideo(clipBatch),
            () => fp32.EncodeText(ids, mask), () => bf16.EncodeText(ids, mask),
            () => fp32.FusedCls(pt32, pm, pv32), () => bf16.FusedCls(pt16, pm, pv16),
        ], warmup, reps);

        var (vMean, vMin) = Cosines(video32.FrameVectors.flatten(0, 1), video16.FrameVectors.flatten(0, 1));
        var (tMean, tMin) = Cosines(text32.select(1, 0), text16.select(1, 0));
        var (jMean, jMin) = Cosines(fp32.FusedCls(pt32, pm, pv32), bf16.FusedCls(pt16, pm, pv16));

        Console.WriteLine();
        Console.WriteLine("| encoder | items a call | fp32 (items/s) | bf16 (items/s) | bf16 / fp32 | cosine bf16 vs fp32: mean | min | compared on | others |");
        Console.WriteLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |");
        void Row(string name, int n, Sample a, Sample b, double mean, double min, string on) =>
            Console.WriteLine($"| {name} | {n} | {n / a.Median:F2} | {n / b.Median:F2} | **{a.Median / b.Median:F2}x** | {mean:F6} | {min:F6} | {on} | {b.Others:P0} |");
        Row($"video ({frames} frames a clip)", clips, s[0], s[1], vMean, vMin, $"{video32.FrameVectors.shape[0] * video32.FrameVectors.shape[1]} frame vectors");
        Row($"text ({tokens} tokens)", texts, s[2], s[3], tMean, tMin, $"{texts} [CLS] states");
        Row($"joint ({fusion}, pairs)", pairs, s[4], s[5], jMean, jMin, $"{pairs} fused [CLS] (each precision's own encoder outputs)");
        Console.WriteLine();
        Console.WriteLine($"Speed: median of {reps} repetitions after {warmup} warm-up round(s), fp32 and bf16 interleaved; load average at end {Machine.LoadAverageNow()}.");
        return 0;
    }

    private static (double Mean, double Min) Cosines(Tensor a, Tensor b)
    {
        using var cos = nn.functional.cosine_similarity(a.to(ScalarType.Float64), b.to(ScalarType.Float64), dim: -1);
        return (cos.mean().ToDouble(), cos.min().ToDouble());
    }
}
