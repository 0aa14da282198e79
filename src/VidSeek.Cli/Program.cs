using VidSeek.Cli;

return Cli.Run(Cli.BuildRoot(), args);
