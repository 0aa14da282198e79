using System.CommandLine;
using System.CommandLine.Invocation;
using Spectre.Console;

namespace VidSeek.Cli;

/// <summary>
/// Running commands: bad input (a file, a model, data) becomes one line <c>error: ...</c> on stderr and exit code 1; a usage
/// error (an unknown option, a value that does not parse or is out of range, options that exclude each other) one line
/// <c>error: ...; see 'vidseek COMMAND --help'</c> and exit code 2. Never a stack trace, never the help text unasked.
/// </summary>
public static class Cli
{
    public const int UserError = 1;
    public const int UsageError = 2;

    /// <summary>Exit code after Ctrl+C (SIGINT), once the command has saved what it had: 128 + 2, as shells report it.</summary>
    public const int Interrupted = 130;

    /// <summary>Progress bars and messages go to stderr, so stdout stays clean JSON for pipes.</summary>
    public static IAnsiConsole Err { get; } = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });

    /// <summary>A progress display on stderr: live bars on a terminal, plain periodic lines otherwise (<see cref="CliProgress"/>).</summary>
    public static CliProgress Progress() => new();

    /// <summary>The <c>vidseek</c> command tree.</summary>
    public static RootCommand BuildRoot()
    {
        var root = new RootCommand("VidSeek: text-to-video retrieval (CLIP, X-Pool, T2V2T) on the CPU.");
        root.Options.Add(Threads);
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

    /// <summary>
    /// <c>--threads N</c>, on every command: caps libtorch's intra-op threads, OpenCV's and FFmpeg's decoding threads
    /// (<see cref="CpuThreads.Apply"/>). Default: the libraries' own (one per core). Give it when several processes share the cores.
    /// </summary>
    public static Option<int?> Threads { get; } = new Option<int?>("--threads")
    {
        Description = "CPU threads for the model (libtorch), OpenCV and video decoding (default: one per core); lower it when several processes share the machine.",
        Recursive = true,
    };

    public static int Run(RootCommand root, string[] args, TextWriter? stdout = null, TextWriter? stderr = null)
    {
        var config = new InvocationConfiguration { Output = stdout ?? Console.Out, Error = stderr ?? Console.Error, EnableDefaultExceptionHandler = false };
        try
        {
            var parse = root.Parse(args);
            // System.CommandLine's own answer to a parse error is the error, then the whole help text (30+ lines) and exit 1;
            // --help and --version clear parse errors and keep their own actions.
            if (parse.Action is ParseErrorAction && parse.Errors.Count > 0)
            {
                config.Error.WriteLine(UsageLine(parse));
                return UsageError;
            }
            if (parse.GetValue(Threads) is int threads)
            {
                if (threads < 1 || threads > 1024)
                {
                    config.Error.WriteLine($"error: --threads must be from 1 to 1024, got {threads}; see 'vidseek --help'");
                    return UsageError;
                }
                CpuThreads.Apply(threads);
            }
            return parse.Invoke(config);
        }
        catch (VidSeekException e)
        {
            config.Error.WriteLine($"error: {OneLine(e.Message)}");
            return UserError;
        }
        // The environment failing under a command (a read-only folder, a full disk, a file deleted meanwhile): .NET's messages
        // name the path, which is what the user needs; the stack trace is not.
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            config.Error.WriteLine($"error: {OneLine(e.Message)}");
            return UserError;
        }
    }

    /// <summary>
    /// The first parse error (an unknown token first: later errors are usually consequences of it) and where to read the command's usage, on one line.
    /// </summary>
    public static string UsageLine(ParseResult parse)
    {
        var names = new List<string>();
        for (var result = parse.CommandResult; result is not null; result = result.Parent as System.CommandLine.Parsing.CommandResult)
            if (result.Command is not RootCommand) names.Insert(0, result.Command.Name);
        string command = string.Join(" ", ["vidseek", .. names]);
        // An unknown token explains the rest ("--bogus" may have been meant as the missing argument): name it first.
        var error = parse.Errors.FirstOrDefault(e => parse.UnmatchedTokens.Any(t => e.Message.Contains($"'{t}'", StringComparison.Ordinal))) ?? parse.Errors[0];
        string message = OneLine(error.Message).TrimEnd('.');
        return $"error: {message}; see '{command} --help'";
    }

    private static string OneLine(string message) => message.ReplaceLineEndings(" ").Trim();

    /// <summary>Sets <paramref name="action"/> as the command's action; it writes to the invocation's stdout.</summary>
    public static void SetAction(this Command command, Func<ParseResult, TextWriter, int> action) =>
        command.SetAction(parse => action(parse, parse.InvocationConfiguration.Output));
}
