using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Spectre.Console;
using VidSeek.Data.Shapes;

namespace VidSeek.Cli.Commands;

/// <summary>
/// <c>vidseek synth --out DIR [--seed S] [--videos N] [--size 64] [--frames 32] [--fps 8] [--novel-fraction F]
/// [--val-fraction F] [--test-fraction F] [--held-out-pairs H] [--workers W] [--force]</c>: the Shapes corpus (docs/SHAPES.md).
/// </summary>
public static class SynthCommand
{
    public static Command Create()
    {
        var defaults = new ShapesOptions();
        var output = new Option<DirectoryInfo>("--out") { Description = "Folder to write the corpus to (created; must be empty unless --force).", Required = true };
        var seed = new Option<long>("--seed") { Description = "The seed every choice derives from; the same seed gives byte-identical annotations.", DefaultValueFactory = _ => defaults.Seed };
        var videos = new Option<int>("--videos") { Description = "Number of videos, all splits together.", DefaultValueFactory = _ => defaults.Videos };
        var size = new Option<int>("--size") { Description = "Frame width and height in pixels (even).", DefaultValueFactory = _ => defaults.Size };
        var frames = new Option<int>("--frames") { Description = "Frames per video.", DefaultValueFactory = _ => defaults.Frames };
        var fps = new Option<double>("--fps") { Description = "Frame rate of the video files.", DefaultValueFactory = _ => defaults.Fps };
        var novel = new Option<double>("--novel-fraction") { Description = "Fraction of the videos in test-novel (held-out colour-shape pairs).", DefaultValueFactory = _ => defaults.NovelFraction };
        var val = new Option<double>("--val-fraction") { Description = "Fraction of the videos in val.", DefaultValueFactory = _ => defaults.ValFraction };
        var test = new Option<double>("--test-fraction") { Description = "Fraction of the videos in test (train gets the rest).", DefaultValueFactory = _ => defaults.TestFraction };
        var heldOut = new Option<int>("--held-out-pairs") { Description = "Colour-shape pairs kept out of train/val/test (0-6).", DefaultValueFactory = _ => defaults.HeldOutPairs };
        var workers = new Option<int?>("--workers") { Description = "Videos encoded in parallel (default: one per processor); does not change the corpus." };
        var force = new Option<bool>("--force") { Description = "Write into a non-empty folder, replacing an earlier corpus's files." };
        var command = new Command("synth",
            "Generate the Shapes benchmark: a synthetic, seeded text-video corpus (mp4 videos, MSR-VTT style annotations).")
        {
            output, seed, videos, size, frames, fps, novel, val, test, heldOut, workers, force,
        };
        command.SetAction((parse, stdout) =>
        {
            var options = new ShapesOptions
            {
                OutputDir = parse.GetValue(output)!.FullName,
                Seed = parse.GetValue(seed),
                Videos = parse.GetValue(videos),
                Size = parse.GetValue(size),
                Frames = parse.GetValue(frames),
                Fps = parse.GetValue(fps),
                NovelFraction = parse.GetValue(novel),
                ValFraction = parse.GetValue(val),
                TestFraction = parse.GetValue(test),
                HeldOutPairs = parse.GetValue(heldOut),
                Workers = parse.GetValue(workers),
                Force = parse.GetValue(force),
            };
            options.Validate(); // before the progress bar starts, so a bad option is just the one error line

            var clock = Stopwatch.StartNew();
            ShapesCorpus? corpus = null;
            using var cancel = new CancellationTokenSource();
            ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; cancel.Cancel(); };
            Console.CancelKeyPress += onCancel;
            try
            {
            Cli.Progress().AutoClear(true)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RateColumn("videos"), new RemainingTimeColumn())
                .Start(ctx =>
                {
                    var task = ctx.AddTask("rendering videos", maxValue: options.Videos);
                    // Increment, not Value = n: reports come from worker threads and may arrive out of order.
                    corpus = ShapesGenerator.Generate(options, new Reporter(() => task.Increment(1)), cancel.Token);
                });
            }
            catch (OperationCanceledException) when (cancel.IsCancellationRequested)
            {
                // No annotations were written, so the folder holds only videos/; the generator accepts it again without --force.
                parse.InvocationConfiguration.Error.WriteLine($"interrupted: {options.OutputDir} is incomplete (no shapes.json); run the same command again to write it");
                return Cli.Interrupted;
            }
            finally
            {
                Console.CancelKeyPress -= onCancel;
            }
            double seconds = clock.Elapsed.TotalSeconds;

            var counts = corpus!.SplitCounts;
            var captions = corpus.Videos.SelectMany(ShapesCaptioner.Captions).ToList();
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"wrote {corpus.Videos.Count} videos ({string.Join(", ", counts.Select(c => $"{c.Key} {c.Value}"))}) and {captions.Count} captions " +
                $"({captions.Count(c => c.Type == ShapesCaption.Full)} full, {captions.Count(c => c.Type == ShapesCaption.SegmentType)} segment) " +
                $"to {options.OutputDir} in {seconds:0.0} s ({corpus.Videos.Count / Math.Max(seconds, 1e-9):0.0} videos/s)"));
            stdout.WriteLine($"held-out colour-shape pairs (test-novel only): {(corpus.HeldOutPairs.Count == 0 ? "none" : string.Join(", ", corpus.HeldOutPairs))}");
            return 0;
        });
        return command;
    }

    /// <summary>Calls back on the reporting thread itself (<see cref="Progress{T}"/> would post to the thread pool, after the bar is gone).</summary>
    private sealed class Reporter(Action onReport) : IProgress<int>
    {
        public void Report(int value) => onReport();
    }
}
