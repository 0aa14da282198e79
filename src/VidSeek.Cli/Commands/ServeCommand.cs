using System.CommandLine;
using VidSeek.Index;
using VidSeek.Web;

namespace VidSeek.Cli.Commands;

/// <summary><c>vidseek serve INDEX --port 8080 [--host 127.0.0.1]</c></summary>
public static class ServeCommand
{
    public static Command Create()
    {
        var index = new Argument<FileInfo>("INDEX") { Description = "An index built by vidseek index." };
        var port = new Option<int>("--port") { Description = "TCP port (0: any free one).", DefaultValueFactory = _ => 8080 };
        var host = new Option<string>("--host") { Description = "Address to listen on; the default answers this machine only.", DefaultValueFactory = _ => "127.0.0.1" };
        var model = new Option<string?>("--model") { Description = "The model folder, if it moved since indexing (it must hold the same weights)." };
        var command = new Command("serve", "Serve a search page and a JSON API (/api/search?q=...) over an index.") { index, port, host, model };
        command.SetAction((parse, stdout) =>
        {
            if (parse.GetValue(port) is < 0 or > 65535) throw new VidSeekException("--port must lie in 0..65535");
            var searcher = VideoSearcher.Open(parse.GetValue(index)!.FullName, parse.GetValue(model) is { } m ? CommonOptions.ResolveModel(m) : null);
            EmptyIndex.Check(searcher);
            var server = SearchServer.StartAsync(searcher, new ServeOptions { Host = parse.GetValue(host)!, Port = parse.GetValue(port) }).GetAwaiter().GetResult();
            stdout.WriteLine($"serving {searcher.Videos.Count} videos of {searcher.Index.Location} on {server.Url} (Ctrl+C stops)");
            server.WaitForShutdownAsync().GetAwaiter().GetResult();
            server.DisposeAsync().AsTask().GetAwaiter().GetResult();
            return 0;
        });
        return command;
    }
}
