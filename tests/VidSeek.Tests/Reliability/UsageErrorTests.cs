namespace VidSeek.Tests.Reliability;

/// <summary>
/// Usage errors (unknown options, values that do not parse or are out of range, options that exclude each other) are one
/// line <c>error: ...; see 'vidseek COMMAND --help'</c> and exit code 2, for every command; never the help text unasked.
/// </summary>
public sealed class UsageErrorTests
{
    public static TheoryData<string[], string, string> Cases => new()
    {
        { ["search", "x.vsi", "a cat", "-k", "99999999999"], "'-k'", "vidseek search --help" },
        { ["search", "x.vsi", "a cat", "-k", "0"], "-k must lie in 1..1000 (got 0)", "vidseek search --help" },
        { ["search", "x.vsi", "a cat", "--rerank-k", "-3"], "--rerank-k must lie in 1..10000", "vidseek search --help" },
        { ["search", "--bogus"], "unknown option '--bogus'", "vidseek search --help" },
        { ["search", "x.vsi", "a cat", "--bogus"], "'--bogus'", "vidseek search --help" },
        { ["serve", "x.vsi", "--port", "70000"], "--port must lie in 0..65535 (got 70000)", "vidseek serve --help" },
        { ["serve", "x.vsi", "--port", "eighty"], "'eighty'", "vidseek serve --help" },
        { ["index", "dir", "--model", "m", "--out", "o.vsi", "--frames", "100000"], "--frames must lie in 1..256 (got 100000)", "vidseek index --help" },
        { ["embed-video", "--model", "m", "--frames", "100000", "a.mp4"], "--frames must lie in 1..256 (got 100000)", "vidseek embed-video --help" },
        { ["embed-video", "--model", "m", "--bogus", "a.mp4"], "unknown option '--bogus'", "vidseek embed-video --help" },
        { ["embed-text", "--model", "m"], "text", "vidseek embed-text --help" },
        { ["eval", "--checkpoint", "c", "--data", "d", "--frames", "257"], "--frames must lie in 1..256 (got 257)", "vidseek eval --help" },
        { ["eval", "--checkpoint", "c", "--data", "d", "--format", "webvid"], "unknown --format 'webvid'", "vidseek eval --help" },
        { ["train", "--model", "vlt", "--init", "x", "--data", "d", "--out", "o"], "--init is not supported with --model vlt", "vidseek train --help" },
        { ["train", "--model", "xpool", "--clip-config", "tiny", "--data", "d", "--out", "o", "--batch-size", "0"], "--batch-size must lie in 1..4096 (got 0)", "vidseek train --help" },
        { ["train", "--model", "xpool", "--clip-config", "tiny", "--data", "d", "--out", "o", "--frames", "100000"], "--frames must lie in 1..256", "vidseek train --help" },
        { ["train", "--model", "nope", "--data", "d", "--out", "o"], "'nope'", "vidseek train --help" },
        { ["synth", "--videos", "3"], "--out", "vidseek synth --help" },
        { ["demo", "--queries", "1000"], "--queries must lie in 0..20 (got 1000)", "vidseek demo --help" },
        { ["no-such-command"], "'no-such-command'", "vidseek --help" },
        { [], "command", "vidseek --help" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void AUsageErrorIsOneLineWithTheHelpHintAndExitCode2(string[] args, string message, string hint)
    {
        var (code, stdout, stderr) = CliRunner.Run(args);
        Assert.Equal(2, code);
        Assert.Equal("", stdout);
        string line = Assert.Single(stderr.Trim().Split('\n'));
        Assert.StartsWith("error: ", line);
        Assert.Contains(message, line);
        Assert.EndsWith($"; see '{hint}'", line);
        Assert.DoesNotContain("Usage:", stderr);
    }

    [Fact]
    public void HelpIsStillHelpAndExitsZero()
    {
        var (code, stdout, stderr) = CliRunner.Run("search", "--help");
        Assert.Equal(0, code);
        Assert.Contains("Usage:", stdout);
        Assert.Equal("", stderr);
    }
}
