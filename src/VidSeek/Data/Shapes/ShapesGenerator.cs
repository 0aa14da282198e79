using System.Runtime.ExceptionServices;
using System.Text.RegularExpressions;
using OpenCvSharp;

namespace VidSeek.Data.Shapes;

/// <summary>
/// The Shapes benchmark generator (SPEC section 7): a synthetic text-video corpus in the MSR-VTT layout,
/// every choice derived from one seed.
/// </summary>
/// <remarks>
/// <see cref="Plan"/> draws the whole corpus as data (cheap, sequential, deterministic); <see cref="Generate"/>
/// then renders and encodes the videos in parallel and writes the annotations. The corpus-level draws (held-out
/// pairs, split assignment) use stream 0 of the seed, each video's scene its own stream (seed, index), so neither
/// the number of workers nor the order they finish in can change anything.
/// </remarks>
public static class ShapesGenerator
{
    private const ulong CorpusStream = 0;

    /// <summary>The names of the video files a run writes, finished or not.</summary>
    private static readonly Regex GeneratedName = new(@"^video[0-9]+(\.partial)?\.mp4$", RegexOptions.CultureInvariant);

    /// <summary>Draws the corpus without rendering or writing anything.</summary>
    /// <exception cref="VidSeekException">A setting is out of range.</exception>
    public static ShapesCorpus Plan(ShapesOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var rng = ShapesRandom.ForStream(options.Seed, CorpusStream, 0);

        // Held-out pairs: the first h colours of one shuffle with the first h shapes of another, so no two share
        // a colour or a shape and every colour and shape keeps most of its partners in training.
        var colors = Enum.GetValues<ObjectColor>().ToList();
        var shapes = Enum.GetValues<ObjectShape>().ToList();
        rng.Shuffle(colors);
        rng.Shuffle(shapes);
        var heldOut = Enumerable.Range(0, options.HeldOutPairs).Select(i => new ColorShapePair(colors[i], shapes[i])).Order().ToList();

        // Splits: exact counts (rounded fractions, train keeps at least one video) over a seeded permutation.
        int n = options.Videos;
        int novel = Math.Min(Count(n, options.NovelFraction), n - 1);
        int test = Math.Min(Count(n, options.TestFraction), n - 1 - novel);
        int val = Math.Min(Count(n, options.ValFraction), n - 1 - novel - test);
        var order = Enumerable.Range(0, n).ToList();
        rng.Shuffle(order);
        var splits = new string[n];
        for (int rank = 0; rank < n; rank++)
            splits[order[rank]] = rank < novel ? ShapesSplit.TestNovel
                : rank < novel + test ? ShapesSplit.Test
                : rank < novel + test + val ? ShapesSplit.Val
                : ShapesSplit.Train;

        var videos = Enumerable.Range(0, n).Select(i => ShapesSceneSampler.Sample(options, i, splits[i], heldOut)).ToList();
        return new ShapesCorpus(options, heldOut, videos);

        static int Count(int total, double fraction) => (int)Math.Round(total * fraction, MidpointRounding.AwayFromZero);
    }

    /// <summary>
    /// Generates the corpus into <see cref="ShapesOptions.OutputDir"/>: <c>videos/video{i}.mp4</c>, then
    /// <c>MSRVTT_data.json</c>, <c>MSRVTT_train.9k.csv</c>, <c>MSRVTT_JSFUSION_test.csv</c> and <c>shapes.json</c>
    /// (each written beside and renamed; <c>shapes.json</c> last, so its presence marks a complete corpus).
    /// </summary>
    /// <remarks>
    /// A folder that exists and is not empty is refused unless <see cref="ShapesOptions.Force"/>. With it, the
    /// annotation files are replaced, and the files of <c>videos/</c> named as the generator names them
    /// (<c>video{n}.mp4</c>, <c>video{n}.partial.mp4</c>) that the new corpus does not have are deleted, so an
    /// earlier, larger or interrupted corpus leaves nothing stale; nothing else in the folder is touched
    /// (--force on the wrong folder must not wipe it). A folder that holds only what an interrupted run leaves
    /// (<c>videos/</c> with generator-named files and no annotations) is written into without <c>--force</c>, so a rerun
    /// after Ctrl+C simply starts again: every video is re-rendered, since the earlier run may have had other settings.
    /// </remarks>
    /// <param name="options">The settings, including the output folder.</param>
    /// <param name="progress">Receives the number of videos written so far, from worker threads.</param>
    /// <param name="ct">Stops between videos; the annotation files are then not written.</param>
    /// <returns>The corpus that was written.</returns>
    /// <exception cref="VidSeekException">A bad setting, a non-empty folder without <c>--force</c>, or a file that cannot be written.</exception>
    public static ShapesCorpus Generate(ShapesOptions options, IProgress<int>? progress = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (string.IsNullOrWhiteSpace(options.OutputDir)) throw new VidSeekException("--out: an output folder is required");
        string dir = Path.GetFullPath(options.OutputDir);
        var corpus = Plan(options);
        PrepareFolder(dir, corpus, options.Force);

        string videosDir = Path.Combine(dir, ShapesAnnotations.VideosDir);
        int done = 0;
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = options.Workers ?? Environment.ProcessorCount, CancellationToken = ct };
        try
        {
            Parallel.For(0, corpus.Videos.Count, parallel,
                () => new Mat(options.Size, options.Size, MatType.CV_8UC3), // one frame buffer per worker
                (i, _, frame) =>
                {
                    var video = corpus.Videos[i];
                    ShapesVideoEncoder.Write(video, Path.Combine(videosDir, video.VideoId + ".mp4"), options.Fps, frame);
                    progress?.Report(Interlocked.Increment(ref done));
                    return frame;
                },
                frame => frame.Dispose());
        }
        catch (AggregateException e) when (e.InnerExceptions.FirstOrDefault(x => x is VidSeekException) is { } user)
        {
            ExceptionDispatchInfo.Capture(user).Throw(); // one clear message, not "One or more errors occurred"
        }
        catch (AggregateException e) when (e.InnerExceptions.FirstOrDefault(x => x is IOException or UnauthorizedAccessException) is { } io)
        {
            throw new VidSeekException($"cannot write into {videosDir}: {io.Message}", io);
        }

        try
        {
            ShapesAnnotations.Write(dir, corpus);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new VidSeekException($"cannot write the annotation files into {dir}: {e.Message}", e);
        }
        return corpus;
    }

    /// <summary>True when <paramref name="dir"/> holds nothing but <c>videos/</c> with files named as the generator names them: an interrupted run.</summary>
    private static bool IsInterruptedCorpus(string dir)
    {
        var entries = Directory.EnumerateFileSystemEntries(dir).ToList();
        string videos = Path.Combine(dir, ShapesAnnotations.VideosDir);
        return entries.Count == 1 && entries[0] == videos && Directory.Exists(videos)
            && !Directory.EnumerateDirectories(videos).Any()
            && Directory.EnumerateFiles(videos).All(f => GeneratedName.IsMatch(Path.GetFileName(f)));
    }

    /// <summary>Creates the folder, or checks that writing into it is allowed and clears what the new corpus would leave stale.</summary>
    private static void PrepareFolder(string dir, ShapesCorpus corpus, bool force)
    {
        if (File.Exists(dir)) throw new VidSeekException($"--out {dir} is a file, not a folder");
        try
        {
            if (Directory.Exists(dir) && Directory.EnumerateFileSystemEntries(dir).Any())
            {
                if (!force && !IsInterruptedCorpus(dir))
                    throw new VidSeekException($"output folder {dir} is not empty; pass --force to write the corpus into it anyway");
                string videos = Path.Combine(dir, ShapesAnnotations.VideosDir);
                if (Directory.Exists(videos))
                {
                    // Only files named as this generator names them: an earlier, larger or interrupted corpus.
                    var keep = corpus.Videos.Select(v => v.VideoId + ".mp4").ToHashSet();
                    foreach (var file in Directory.EnumerateFiles(videos, "video*.mp4"))
                        if (GeneratedName.IsMatch(Path.GetFileName(file)) && !keep.Contains(Path.GetFileName(file))) File.Delete(file);
                }
                // Without these the old corpus's annotations would still describe the folder while the videos change.
                foreach (var name in new[] { ShapesAnnotations.SettingsJson, ShapesAnnotations.DataJson, ShapesAnnotations.TrainCsv, ShapesAnnotations.TestCsv })
                    File.Delete(Path.Combine(dir, name));
            }
            Directory.CreateDirectory(Path.Combine(dir, ShapesAnnotations.VideosDir));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new VidSeekException($"cannot prepare output folder {dir}: {e.Message}", e);
        }
    }
}
