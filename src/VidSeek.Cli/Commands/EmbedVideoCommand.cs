using System.CommandLine;
using System.Text.Json;
using Spectre.Console;
using TorchSharp;
using VidSeek.Models.Clip;
using VidSeek.Models.DualEncoder;
using VidSeek.Tensors;
using VidSeek.Video;
using static TorchSharp.torch;

namespace VidSeek.Cli.Commands;

/// <summary><c>vidseek embed-video --model DIR [--frames F] [--normalize] [--out FILE] video ...</c></summary>
public static class EmbedVideoCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var frames = new Option<int>("--frames") { Description = "Frames sampled per video (midpoints of equal intervals).", DefaultValueFactory = _ => 12 };
        frames.Bound(1, CommonOptions.MaxFrames);
        var normalize = CommonOptions.Normalize();
        var precision = CommonOptions.Precision();
        var output = CommonOptions.Out();
        var videos = new Argument<FileInfo[]>("video") { Description = "Video files (mp4, mkv, mov, webm, avi).", Arity = ArgumentArity.OneOrMore };
        CommonOptions.RejectOptionLikeValues(videos);
        var command = new Command("embed-video",
            "Embed videos with a CLIP model: per-frame embeddings and their mean; prints JSON, or writes safetensors with --out.")
        {
            model, frames, normalize, precision, output, videos,
        };
        command.SetAction((parse, stdout) =>
        {
            string modelDir = CommonOptions.ResolveModel(parse.GetValue(model)!);
            var files = parse.GetValue(videos)!;
            int numFrames = parse.GetValue(frames);
            bool norm = parse.GetValue(normalize);
            using var clip = RetrievalCheckpoint.OpenBackbone(modelDir).SetPrecision(CommonOptions.ApplyPrecision(parse, precision)); // a CLIP folder, or the backbone of a VidSeek (e.g. converted X-Pool) checkpoint
            using var scope = torch.NewDisposeScope();
            using var _ = torch.no_grad();

            var results = new List<(VideoClip Clip, Tensor Frames)>();
            Cli.Progress().AutoClear(true).Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
                .Start(ctx =>
                {
                    var task = ctx.AddTask("embedding videos", maxValue: files.Length);
                    foreach (var file in files)
                    {
                        var video = VideoClipLoader.Load(file.FullName, numFrames, clip.ImageSize);
                        var embeds = clip.EncodeImages(video.Pixels);                      // [F, E]
                        if (norm) embeds = nn.functional.normalize(embeds, dim: -1);
                        results.Add((video, embeds));
                        task.Increment(1);
                    }
                });

            var frameEmbeds = torch.stack(results.Select(r => r.Frames), 0);               // [V, F, E]
            var videoEmbeds = frameEmbeds.mean(new long[] { 1 });                           // [V, E], mean pooling
            if (norm) videoEmbeds = nn.functional.normalize(videoEmbeds, dim: -1);

            if (parse.GetValue(output) is { } outFile)
            {
                var indices = torch.tensor(results.SelectMany(r => r.Clip.Indices.Select(i => (long)i)).ToArray(), results.Count, numFrames);
                SafeTensors.Save(outFile.FullName,
                    new Dictionary<string, Tensor> { ["frame_embeds"] = frameEmbeds, ["video_embeds"] = videoEmbeds, ["frame_indices"] = indices },
                    new Dictionary<string, string>
                    {
                        ["model"] = modelDir, ["normalized"] = norm.ToString().ToLowerInvariant(),
                        ["videos"] = JsonSerializer.Serialize(results.Select(r => r.Clip.Path)),
                    });
                stdout.WriteLine($"wrote frame_embeds [{string.Join(", ", frameEmbeds.shape)}] and video_embeds [{string.Join(", ", videoEmbeds.shape)}] to {outFile.FullName}");
                return 0;
            }
            var json = new
            {
                model = modelDir,
                normalized = norm,
                frames = numFrames,
                dim = frameEmbeds.shape[2],
                items = results.Select((r, i) => new
                {
                    file = r.Clip.Path,
                    frame_count = r.Clip.FrameCount,
                    fps = r.Clip.Fps,
                    frame_indices = r.Clip.Indices,
                    frame_times = r.Clip.Times,
                    video_embedding = videoEmbeds[i].data<float>().ToArray(),
                    frame_embeddings = Enumerable.Range(0, numFrames).Select(f => frameEmbeds[i, f].data<float>().ToArray()),
                }),
            };
            stdout.WriteLine(JsonSerializer.Serialize(json, CommonOptions.Json));
            foreach (var r in results) r.Clip.Dispose();
            return 0;
        });
        return command;
    }
}
