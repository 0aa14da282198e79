namespace VidSeek.Tests;

/// <summary>Runs a <c>vidseek</c> command line in-process, as a user would type it, capturing both streams.</summary>
public static class CliRunner
{
    public static (int Code, string Out, string Err) Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = Cli.Cli.Run(Cli.Cli.BuildRoot(), args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }
}
