using System.CommandLine;
namespace VidSeek.Cli.Commands;
public static class EmbedVideoCommand
{
    public static Command Create() => new("embed-video", "not yet");
}
