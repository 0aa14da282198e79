using VidSeek;
using VidSeek.Cli;

// Before anything loads libtorch: idle OpenMP threads sleep instead of spinning (CpuThreads explains why).
CpuThreads.ConfigureProcess();
return Cli.Run(Cli.BuildRoot(), args);
