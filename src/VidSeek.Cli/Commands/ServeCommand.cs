using System.CommandLine;
using VidSeek.Index;
using VidSeek.Web;

namespace VidSeek.Cli.Commands;

/// <summary><c>vidseek serve INDEX --port 8080 [--host 127.0.0.1]</c></summary>
public static class ServeCommand
{
    public static Command Create()
    {
        var index = new Argument<string>("INDEX") { Description = "An index built by vidseek index: its file, or a postgres:// URL." };
        var port = new Option<int>("--port") { Description = "TCP port (0: any free one).", DefaultValueFactory = _ => 8080 }.Bound(0, 65535);
        CommonOptions.RejectOptionLikeValues(index);
        var host = new Option<string>("--host") { Description = "IP address (or host name, resolved once) to listen on; the default answers this machine only. 0.0.0.0 listens on every interface.", DefaultValueFactory = _ => "127.0.0.1" };
        var model = new Option<string?>("--model") { Description = "The model folder, if it moved since indexing (it must hold the same weights)." };
        var candidates = new Option<int?>("--candidates") { Description = $"Segments the approximate first stage proposes for exact scoring. Default: {VideoSearcher.XPoolScanCandidates} for X-Pool on an embedded index, else {VideoSearcher.DefaultCandidates}." }.Bound(1, 1_000_000);
        var precision = CommonOptions.Precision();
        var command = new Command("serve", "Serve a search page and a JSON API (/api/search?q=...) over an index.") { index, port, host, model, candidates, precision };
        command.SetAction((parse, stdout) =>
        {
            CommonOptions.ApplyPrecision(parse, precision);
            ListenAddress.Resolve(parse.GetValue(host)!); // a bad --host fails before the model loads
            var searcher = VideoSearcher.Open(IndexStore.Normalize(parse.GetValue(index)!), parse.GetValue(model) is { } m ? CommonOptions.ResolveModel(m) : null,
                candidates: parse.GetValue(candidates), warn: w => parse.InvocationConfiguration.Error.WriteLine($"warning: {w}"));
            EmptyIndex.Check(searcher);
            var server = SearchServer.StartAsync(searcher, new ServeOptions { Host = parse.GetValue(host)!, Port = parse.GetValue(port) }).GetAwaiter().GetResult();
            // A long-lived process: fault the first stage's mapped graph in now rather than on the first queries.
            if (searcher.Ann?.Prefault() is > 0 and var resident)
                stdout.WriteLine($"first stage: {resident / 1048576.0:F1} MiB of {Path.GetFileName(searcher.Ann.HeaderPath)}'s graph made resident");
            if (searcher.Scan is { } scan)
                stdout.WriteLine($"first stage: X-Pool's score of {scan.Count} segments on {scan.Rank} coordinates a frame ({scan.CodeBytes / 1048576.0:F1} MiB, {100 * scan.VarianceKept:F1}% of the frames' variance), {scan.OpenedAs} in {scan.Seconds:F1} s; {searcher.Candidates} candidates a query");
            stdout.WriteLine($"serving {searcher.Index.VideoCount} videos of {searcher.Index.Location} on {server.Url} (Ctrl+C stops)");
            if (System.Net.IPAddress.TryParse(parse.GetValue(host), out var address) && ListenAddress.IsWildcard(address))
                parse.InvocationConfiguration.Error.WriteLine("warning: listening on every network interface: anyone who can reach this machine can search the index and play its videos");
            server.WaitForShutdownAsync().GetAwaiter().GetResult();
            server.DisposeAsync().AsTask().GetAwaiter().GetResult();
            return 0;
        });
        return command;
    }
}
