using System.CommandLine;
using VidSeek.Cli;
using VidSeek.Cli.Commands;

var root = new RootCommand("VidSeek: text-to-video retrieval (CLIP, X-Pool, T2V2T) on the CPU.");
root.Subcommands.Add(EmbedTextCommand.Create());
root.Subcommands.Add(EmbedVideoCommand.Create());
return Cli.Run(root, args);
