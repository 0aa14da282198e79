using System.CommandLine;
using Spectre.Console;

namespace VidSeek.Cli;

/// <summary>Running commands: user errors become one line on stderr and exit code 1, never a stack trace.</summary>
public static class Cli
{
    public const int UserError = 1;

    /// <summary>Exit code after Ctrl+C (SIGINT), once the command has saved what it had: 128 + 2, as shells report it.</summary>
    public const int Interrupted = 130;

    /// <summary>Progress bars and messages go to stderr, so stdout stays clean JSON for pipes.</summary>
    public static IAnsiConsole Err { get; } = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });

    /// <summary>The <c>vidseek</c> command tree.</summary>
    public static RootCommand BuildRoot()
    {
        var root = new RootCommand("VidSeek: text-to-video retrieval (CLIP, X-Pool, T2V2T) on the CPU.");
        root.Subcommands.Add(Commands.EmbedTextCommand.Create());
        root.Subcommands.Add(Commands.EmbedVideoCommand.Create());
        root.Subcommands.Add(Commands.TrainCommand.Create());
        root.Subcommands.Add(Commands.EvalCommand.Create());
        root.Subcommands.Add(Commands.SynthCommand.Create());
        root.Subcommands.Add(Commands.IndexCommand.Create());
        root.Subcommands.Add(Commands.SearchCommand.Create());
        root.Subcommands.Add(Commands.ServeCommand.Create());
        root.Subcommands.Add(Commands.DemoCommand.Create());
        root.Subcommands.Add(Commands.ConvertCommand.Create());
        return root;
    }

    public static int Run(RootCommand root, string[] args, TextWriter? stdout = null, TextWriter? stderr = null)
    {
        var config = new InvocationConfiguration { Output = stdout ?? Console.Out, Error = stderr ?? Console.Error, EnableDefaultExceptionHandler = false };
        try
        {
            return root.Parse(args).Invoke(config);
        }
        catch (VidSeekException e)
        {
            config.Error.WriteLine($"error: {e.Message}");
            return UserError;
        }
    }

    /// <summary>Sets <paramref name="action"/> as the command's action; it writes to the invocation's stdout.</summary>
    public static void SetAction(this Command command, Func<ParseResult, TextWriter, int> action) =>
        command.SetAction(parse => action(parse, parse.InvocationConfiguration.Output));
}
