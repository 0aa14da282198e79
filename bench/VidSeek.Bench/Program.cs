using VidSeek.Bench;

// VidSeek benchmarks and analyses, one subcommand each (dotnet run -c Release --project bench/VidSeek.Bench -- NAME).
const string Usage = """
    usage: vidseek-bench <benchmark> [--name value ...]
      xpool-eval        X-Pool all-pairs evaluation at MSVD size: time and peak RSS of the blocked similarity
      shapes-attention  where X-Pool's attention falls for Shapes segment captions
                        --checkpoint DIR --data SHAPES_DIR [--split test]
    """;
if (args.Length == 0 || args[0] is "-h" or "--help")
{
    Console.WriteLine(Usage);
    return args.Length == 0 ? 2 : 0;
}
switch (args[0])
{
    case "xpool-eval": XPoolEvalBench.Run(args[1..]); return 0;
    case "shapes-attention": ShapesAttention.Run(args[1..]); return 0;
    default: Console.Error.WriteLine($"unknown benchmark '{args[0]}'\n{Usage}"); return 2;
}
