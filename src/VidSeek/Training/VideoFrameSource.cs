using System.Collections.Concurrent;
using TorchSharp;
using VidSeek.Data;
using VidSeek.Video;
using static TorchSharp.torch;

namespace VidSeek.Training;

/// <summary>
/// Model-ready clips <c>[F, 3, S, S]</c> of a split's videos, for training (sampled and augmented anew on every
/// call) and evaluation (uniform frames, centre crop). Decoded frames are kept in memory up to a budget, so
/// an epoch after the first decodes nothing; videos beyond the budget are decoded on every call.
/// </summary>
public sealed class VideoFrameSource
{
    private readonly IReadOnlyList<VideoEntry> videos;
    private readonly ClipImagePreprocessor preprocessor;
    private readonly ConcurrentDictionary<int, DecodedFrames> cache = new();
    private readonly long cacheBudgetBytes;
    private long cachedBytes;

    public VideoFrameSource(IReadOnlyList<VideoEntry> videos, int numFrames, int imageSize, long cacheBudgetBytes = 4L << 30)
    {
        this.videos = videos;
        NumFrames = numFrames;
        preprocessor = new ClipImagePreprocessor(imageSize);
        this.cacheBudgetBytes = cacheBudgetBytes;
    }

    public int NumFrames { get; }
    public int Count => videos.Count;

    /// <summary>Evaluation input of video <paramref name="index"/>: F uniform frames, centre crop, <c>[F, 3, S, S]</c>.</summary>
    public Tensor EvalClip(int index) => TrainingClip(index, SamplingMode.Uniform, randomResizedCrop: false, rng: null);

    /// <summary>
    /// Training input of video <paramref name="index"/>, <c>[F, 3, S, S]</c>: frames sampled by <paramref name="mode"/>,
    /// and with <paramref name="randomResizedCrop"/> one random crop box drawn for the clip and applied to all its frames.
    /// </summary>
    public Tensor TrainingClip(int index, SamplingMode mode, bool randomResizedCrop, Random? rng)
    {
        var all = AllFrames(index);
        DecodedFrames frames;
        if (all is not null)
        {
            var indices = FrameSampler.Sample(mode, all.FrameCount, NumFrames, rng);
            frames = all with { Frames = indices.Select(i => all.Frames[i]).ToArray(), Indices = indices, Times = indices.Select(i => all.Times[i]).ToArray() };
        }
        else
        {
            frames = VideoReader.Read(videos[index].Path, NumFrames, mode, rng);
        }
        if (!randomResizedCrop) return preprocessor.Process(frames);
        var box = RandomResizedCrop.Sample(frames.Width, frames.Height, rng ?? Random.Shared);
        return preprocessor.ProcessCrop(frames.Frames, frames.Width, frames.Height, box);
    }

    /// <summary>A batch <c>[B, F, 3, S, S]</c> of training clips; <paramref name="rngFor"/> gives each video its random source.</summary>
    public Tensor TrainingBatch(IReadOnlyList<int> indices, SamplingMode mode, bool randomResizedCrop, Func<int, Random> rngFor)
    {
        using var scope = torch.NewDisposeScope();
        var clips = indices.Select(i => TrainingClip(i, mode, randomResizedCrop, rngFor(i))).ToList();
        return torch.stack(clips, 0).MoveToOuterDisposeScope();
    }

    /// <summary>Every decoded frame of the video, from the cache or decoded into it; null once the cache is full.</summary>
    private DecodedFrames? AllFrames(int index)
    {
        if (cache.TryGetValue(index, out var hit)) return hit;
        if (Interlocked.Read(ref cachedBytes) >= cacheBudgetBytes) return null;
        var frames = VideoReader.ReadAll(videos[index].Path);
        long bytes = frames.Frames.Sum(f => (long)f.Length);
        if (Interlocked.Add(ref cachedBytes, bytes) > cacheBudgetBytes) return frames; // used once, not kept
        cache[index] = frames;
        return frames;
    }
}
