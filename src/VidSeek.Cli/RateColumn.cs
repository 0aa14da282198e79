using Spectre.Console;
using Spectre.Console.Rendering;

namespace VidSeek.Cli;

/// <summary>A progress column showing items per second ("12.3 videos/s"); Spectre's own speed column formats bytes.</summary>
public sealed class RateColumn(string unit) : ProgressColumn
{
    public string Unit => unit;

    public override IRenderable Render(RenderOptions options, ProgressTask task, TimeSpan deltaTime)
    {
        double? speed = task.Speed;
        // Speed is averaged over Spectre's recent samples; before there are any, show the overall rate so far.
        if (speed is null && task.ElapsedTime is { TotalSeconds: > 0 } elapsed) speed = task.Value / elapsed.TotalSeconds;
        return new Spectre.Console.Text(speed is double s ? $"{s:0.0} {unit}/s" : $"-- {unit}/s", new Style(Color.Grey));
    }
}
