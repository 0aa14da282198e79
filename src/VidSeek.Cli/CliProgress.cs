using System.Globalization;
using Spectre.Console;

namespace VidSeek.Cli;

/// <summary>
/// Progress on stderr: Spectre's live bars on a terminal; plain lines when stderr is redirected (a log file, a pipe, CI), at most
/// one every <see cref="Interval"/> per task plus a last one when the work ends, each with done/total, rate and ETA:
/// <c>indexing 12/80 video7.mp4: 45% (36/80 s of video, 3.2 s of video/s, ETA 0:17, 0:11 elapsed)</c>.
/// </summary>
/// <remarks>
/// Why not Spectre's own fallback: without a terminal it prints only when its refresh loop sees a change and none after the
/// work ends, so a log shows 51% for a job that finished. Here the lines come from a timer that reads the same
/// <see cref="ProgressTask"/>s the commands update, and the final state of every task is always written.
/// </remarks>
public sealed class CliProgress
{
    /// <summary>Seconds between plain progress lines (a positive number; default 5): <c>VIDSEEK_PROGRESS_INTERVAL</c>.</summary>
    public const string IntervalVariable = "VIDSEEK_PROGRESS_INTERVAL";

    private ProgressColumn[] columns = [];
    private bool autoClear = true;

    /// <summary>Whether stderr is a terminal that Spectre can redraw (else plain lines are written).</summary>
    public static bool Live => !Console.IsErrorRedirected && Cli.Err.Profile.Capabilities.Interactive;

    public static TimeSpan Interval =>
        double.TryParse(Environment.GetEnvironmentVariable(IntervalVariable), NumberStyles.Float, CultureInfo.InvariantCulture, out double s) && s > 0
            ? TimeSpan.FromSeconds(s) : TimeSpan.FromSeconds(5);

    public CliProgress AutoClear(bool value) { autoClear = value; return this; }

    public CliProgress Columns(params ProgressColumn[] value) { columns = value; return this; }

    public void Start(Action<Context> action) => Start(ctx => { action(ctx); return 0; });

    public T Start<T>(Func<Context, T> action)
    {
        if (Live)
            return Cli.Err.Progress().AutoClear(autoClear).Columns(columns).Start(ctx => action(new Context(ctx, null)));
        var plain = new PlainLines(Console.Error, Unit(columns));
        using var timer = new Timer(_ => plain.Tick(), null, Interval, Interval);
        try { return action(new Context(null, plain)); }
        finally
        {
            timer.Dispose();
            plain.Tick();
        }
    }

    /// <summary>What the task's values count, from its rate column ("files", "videos", "s of video"; bytes for downloads).</summary>
    private static string? Unit(ProgressColumn[] columns) =>
        columns.OfType<RateColumn>().FirstOrDefault()?.Unit
        ?? (columns.OfType<IUnitColumn>().FirstOrDefault()?.Unit)
        ?? (columns.Any(c => c is DownloadedColumn or TransferSpeedColumn) ? "bytes" : null);

    /// <summary>A progress column that knows what its task counts.</summary>
    public interface IUnitColumn
    {
        string Unit { get; }
    }

    /// <summary>Adds tasks to a live display or to the plain-line writer.</summary>
    public sealed class Context
    {
        private readonly ProgressContext? live;
        private readonly PlainLines? plain;
        internal Context(ProgressContext? live, PlainLines? plain) { this.live = live; this.plain = plain; }

        public ProgressTask AddTask(string description, double maxValue = 100) =>
            live is not null ? live.AddTask(description, maxValue: maxValue) : plain!.Add(description, maxValue);
    }

    /// <summary>Writes one line per task at most every interval while it moves, and every task's last state at the end.</summary>
    internal sealed class PlainLines(TextWriter writer, string? unit)
    {
        private readonly object gate = new();
        private readonly List<(ProgressTask Task, DateTime Started)> tasks = [];
        private readonly Dictionary<int, string> last = [];

        public ProgressTask Add(string description, double maxValue)
        {
            lock (gate)
            {
                var task = new ProgressTask(tasks.Count, description, maxValue);
                tasks.Add((task, DateTime.UtcNow));
                return task;
            }
        }

        public void Tick()
        {
            lock (gate)
            {
                foreach (var (task, started) in tasks)
                {
                    // A task that has not moved since its last line stays quiet (no wall of identical lines from a long step); at the
                    // end its final state is written unless the last line already showed it.
                    string line = Line(task, DateTime.UtcNow - started, unit);
                    string key = $"{task.Value}/{task.MaxValue}/{task.Description}";
                    if (last.TryGetValue(task.Id, out var seen) && seen == key) continue;
                    last[task.Id] = key;
                    writer.WriteLine(line);
                    writer.Flush();
                }
            }
        }

        /// <summary><c>description: 45% (36/80 files, 3.2 files/s, ETA 0:17, 0:11 elapsed)</c>.</summary>
        public static string Line(ProgressTask task, TimeSpan elapsed, string? unit)
        {
            double max = Math.Max(task.MaxValue, 1e-12), value = Math.Min(task.Value, task.MaxValue);
            double percent = 100 * value / max;
            double rate = elapsed.TotalSeconds > 0 ? value / elapsed.TotalSeconds : 0;
            string done = unit == "bytes" ? $"{value / 1e6:0.0}/{max / 1e6:0.0} MB" : $"{Number(value)}/{Number(max)}{(unit is null ? "" : " " + unit)}";
            string speed = unit == "bytes" ? $"{rate / 1e6:0.0} MB/s" : $"{rate:0.0}{(unit is null ? "" : " " + unit)}/s";
            string eta = value >= max ? "done" : rate > 0 ? $"ETA {Clock(TimeSpan.FromSeconds((max - value) / rate))}" : "ETA --";
            return $"{Markup.Remove(task.Description)}: {Math.Floor(percent):0}% ({done}, {speed}, {eta}, {Clock(elapsed)} elapsed)";
        }

        private static string Number(double v) => Math.Abs(v - Math.Round(v)) < 1e-9 ? ((long)Math.Round(v)).ToString(CultureInfo.InvariantCulture) : v.ToString("0.0", CultureInfo.InvariantCulture);

        private static string Clock(TimeSpan t) => t.TotalHours >= 1 ? $"{(int)t.TotalHours}:{t.Minutes:00}:{t.Seconds:00}" : $"{(int)t.TotalMinutes}:{t.Seconds:00}";
    }
}
