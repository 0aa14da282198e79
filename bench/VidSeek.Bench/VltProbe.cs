using TorchSharp;
using VidSeek.Data.Loaders;
using VidSeek.Models.Vlt;
using VidSeek.Text;
using VidSeek.Training;
using VidSeek.Video;

namespace VidSeek.Bench;

/// <summary>
/// Diagnostic: a few VLT training steps on Shapes with the ITC and ITM weights and learning rate given, printing both loss
/// parts and the gradient norm of each part of the model, to see which part learns. Not a benchmark.
/// </summary>
public static class VltProbe
{
    public static void Run(string[] args)
    {
        var o = Options.Parse(args);
        string data = (o.String("data") ?? "results-shapes/data");
        double lr = double.Parse((o.String("lr") ?? "1e-3")), itmWeight = double.Parse((o.String("itm-weight") ?? "1"));
        int steps = int.Parse((o.String("steps") ?? "60")), frames = int.Parse((o.String("frames") ?? "4"));
        var fusion = Enum.Parse<FusionKind>((o.String("fusion") ?? "T2V2T"));
        var (split, _) = DatasetLoaders.Load("msrvtt", data, "train");
        torch.manual_seed(1);
        var config = VideoLanguagePresets.ShapesSmall(fusion);
        if (o.String("init-range") is { } range) config = config with { Text = config.Text with { InitializerRange = double.Parse(range) } };
        using var model = new VideoLanguageModel(config);
        var tok = new VltTextTokenizer(ClipTokenizer.FromFolder(BundledTokenizer.Folder));
        var source = new VideoFrameSource(split.Videos, frames, 64);
        var captions = Enumerable.Range(0, split.Videos.Count).Select(v => split.Captions.Where(c => c.VideoIndex == v).Select(c => c.Text).ToList()).ToArray();
        var opt = torch.optim.AdamW(model.parameters(), lr: lr, beta1: 0.9, beta2: 0.999, eps: 1e-6, weight_decay: 0.05);
        var rng = new Random(1);
        var groups = new[] { "video_encoder.", "text_encoder.", "joint.", "proj_", "itm_head.", "temp" };
        model.train();
        for (int step = 0; step < steps; step++)
        {
            using var scope = torch.NewDisposeScope();
            var videos = Enumerable.Range(0, split.Videos.Count).OrderBy(_ => rng.Next()).Take(32).ToList();
            var texts = videos.Select(v => captions[v][rng.Next(captions[v].Count)]).ToList();
            var pixels = source.TrainingBatch(videos, SamplingMode.Uniform, true, v => new Random(v + step));
            var (ids, mask) = tok.Tokenize(texts);
            using var gen = new torch.Generator((ulong)step + 1);
            var hidden = model.EncodeText(ids, mask);
            var venc = model.EncodeVideo(pixels);
            var loss = VltLoss.Compute(model, hidden, mask, venc, texts, videos, gen);
            // Collapse check: mean cosine between different rows of the text [CLS] and of the frame vectors (1 = collapsed).
            static double MeanOffDiagonalCosine(torch.Tensor x)
            {
                var n = torch.nn.functional.normalize(x.detach(), dim: -1);
                var c = n.matmul(n.t());
                long b = c.shape[0];
                return (c.sum().item<float>() - b) / (b * (b - 1));
            }
            double textCos = MeanOffDiagonalCosine(hidden.select(1, 0)), frameCos = MeanOffDiagonalCosine(venc.FrameVectors.mean(new long[] { 1 }));
            var total = loss.Itc + itmWeight * loss.Itm;
            opt.zero_grad();
            total.backward();
            var norms = groups.Select(g => Math.Sqrt(model.named_parameters().Where(p => p.name.StartsWith(g, StringComparison.Ordinal) && p.parameter.grad is not null)
                .Sum(p => Math.Pow(p.parameter.grad!.norm().item<float>(), 2)))).ToList();
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0);
            opt.step();
            if (step % 5 == 0 || step == steps - 1)
                Console.WriteLine($"step {step,3}  itc {loss.Itc.item<float>():F3}  itm {loss.Itm.item<float>():F3}  temp {model.Temperature().item<float>():F4}  cos text {textCos:F3} video {frameCos:F3}  grad " +
                    string.Join("  ", groups.Zip(norms, (g, n) => $"{g.TrimEnd('.')}={n:G3}")));
        }
    }
}
