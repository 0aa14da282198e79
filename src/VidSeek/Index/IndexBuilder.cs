using System.Security.Cryptography;
using OpenCvSharp;
using TorchSharp;
using VidSeek.Data;
using VidSeek.Video;
using static TorchSharp.torch;

namespace VidSeek.Index;

/// <summary>A video to index: its file and, when it comes from an annotated dataset, its captions.</summary>
public sealed record IndexSourceVideo(string FullPath, IReadOnlyList<string> Captions);

/// <summary>What one <see cref="IndexBuilder.Update"/> run did.</summary>
/// <param name="Failed">Files that could not be decoded, with the reason; they are not in the index.</param>
public sealed record IndexUpdateReport(int Added, int Updated, int Unchanged, int Removed, IReadOnlyList<(string Path, string Error)> Failed, int Total);

/// <summary>
/// Brings an <see cref="IIndexStore"/> up to date with a folder or a dataset split: encodes new and changed files, drops
/// deleted ones, leaves the rest alone. Each video is committed on its own (see <see cref="IIndexStore.Put"/>), so an interrupted
/// run loses at most the video it was encoding, and the next run carries on from there.
/// </summary>
public static class IndexBuilder
{
    /// <summary>File extensions indexed from a folder (case-insensitive).</summary>
    public static IReadOnlySet<string> VideoExtensions { get; } = new HashSet<string>(StringComparer.OrdinalIgnoreCase) 
    {
        ".mp4", ".m4v", ".mov", ".avi", ".webm", ".mkv", ".mts", ".m2ts", ".3gp", ".mpg", ".mpeg", ".wmv", ".flv", ".ogv",
    };

    /// <summary>Thumbnails are scaled to this height (JPEG, quality 85).</summary>
    public const int ThumbnailHeight = 96;

    /// <summary>Every video file under <paramref name="root"/>, recursively, in ordinal path order.</summary>
    public static List<IndexSourceVideo> ScanFolder(string root)
    {
        if (!Directory.Exists(root)) throw new VidSeekException($"folder not found: {root}");
        return Directory.EnumerateFiles(root, "*", new EnumerationOptions { RecurseSubdirectories = true, IgnoreInaccessible = true, AttributesToSkip = FileAttributes.Hidden })
            .Where(f => VideoExtensions.Contains(Path.GetExtension(f)))
            .Order(StringComparer.Ordinal)
            .Select(f => new IndexSourceVideo(Path.GetFullPath(f), []))
            .ToList();
    }

    /// <summary>The videos of a dataset split with their captions; the index root is the folder that holds them all.</summary>
    public static (List<IndexSourceVideo> Videos, string Root) FromSplit(RetrievalSplit split)
    {
        var captions = split.Videos.Select(_ => new List<string>()).ToArray();
        foreach (var c in split.Captions) captions[c.VideoIndex].Add(c.Text);
        var videos = split.Videos.Select((v, i) => new IndexSourceVideo(Path.GetFullPath(v.Path), captions[i])).ToList();
        if (videos.Count == 0) throw new VidSeekException("the split has no videos to index");
        return (videos, CommonFolder(videos.Select(v => v.FullPath)));
    }

    /// <summary>The deepest folder containing every path.</summary>
    public static string CommonFolder(IEnumerable<string> paths)
    {
        string? common = null;
        foreach (var p in paths)
        {
            string dir = Path.GetDirectoryName(p)!;
            if (common is null) { common = dir; continue; }
            while (!IsUnder(dir, common)) common = Path.GetDirectoryName(common) ?? throw new VidSeekException("the videos share no common folder");
        }
        return common ?? throw new VidSeekException("no videos");
    }

    private static bool IsUnder(string path, string folder) =>
        path == folder || path.StartsWith(folder.EndsWith(Path.DirectorySeparatorChar) ? folder : folder + Path.DirectorySeparatorChar, StringComparison.Ordinal);

    /// <summary>The index path of a file: relative to <paramref name="root"/>, '/'-separated.</summary>
    public static string RelativePath(string root, string fullPath) => Path.GetRelativePath(root, fullPath).Replace(Path.DirectorySeparatorChar, '/');

    /// <summary>Hex SHA-256 of a file's bytes.</summary>
    public static string Sha256(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    /// <summary>Updates <paramref name="index"/> to hold exactly <paramref name="videos"/> (those that decode).</summary>
    /// <param name="progress">(done, total, path) after each file.</param>
    /// <param name="beforeCommit">Test hook passed to <see cref="IIndexStore.Put"/> with the number of videos encoded so far.</param>
    public static IndexUpdateReport Update(IIndexStore index, IndexModel model, IReadOnlyList<IndexSourceVideo> videos,
        Action<int, int, string>? progress = null, CancellationToken cancel = default, Action<int>? beforeCommit = null)
    {
        string root = index.Manifest.Root;
        var wanted = new Dictionary<string, IndexSourceVideo>(StringComparer.Ordinal);
        foreach (var v in videos)
        {
            if (!IsUnder(v.FullPath, root)) throw new VidSeekException($"{v.FullPath} is not under the index's folder {root}");
            wanted[RelativePath(root, v.FullPath)] = v;
        }
        var stored = index.Files();
        int removed = 0;
        foreach (var (path, row) in stored)
            if (!wanted.ContainsKey(path)) { index.Remove(row.Id); removed++; }

        int added = 0, updated = 0, unchanged = 0, done = 0, encoded = 0;
        var failed = new List<(string, string)>();
        var preprocessor = new ClipImagePreprocessor(model.ImageSize);
        foreach (var (path, source) in wanted)
        {
            if (cancel.IsCancellationRequested) break;
            var info = new FileInfo(source.FullPath);
            try
            {
                if (!info.Exists) throw new VidSeekException($"{source.FullPath} does not exist");
                long mtime = info.LastWriteTimeUtc.Ticks;
                if (stored.TryGetValue(path, out var old) && old.Size == info.Length && old.MtimeTicks == mtime)
                {
                    unchanged++;
                    continue;
                }
                string sha = Sha256(source.FullPath);
                if (old.Sha256 == sha && old.Size == info.Length)
                {
                    index.Touch(old.Id, mtime); // touched, not changed
                    unchanged++;
                    continue;
                }
                var (video, segments) = Encode(model, preprocessor, index.Manifest.Frames, source, path, info.Length, mtime, sha);
                int n = ++encoded;
                index.Put(video, segments, beforeCommit is null ? null : () => beforeCommit(n));
                if (old.Sha256 is null) added++; else updated++;
            }
            catch (VidSeekException e)
            {
                failed.Add((path, e.Message));
            }
            finally
            {
                progress?.Invoke(++done, wanted.Count, path);
            }
        }
        return new IndexUpdateReport(added, updated, unchanged, removed, failed, wanted.Count);
    }

    /// <summary>
    /// Decodes the F uniformly sampled frames, encodes them, and makes their thumbnails: one segment covering the whole video.
    /// </summary>
    public static (IndexedVideo Video, List<SegmentToStore> Segments) Encode(IndexModel model, ClipImagePreprocessor preprocessor, int frames,
        IndexSourceVideo source, string path, long size, long mtime, string sha)
    {
        var decoded = VideoReader.Read(source.FullPath, frames, SamplingMode.Uniform);
        EncodedVideo encoded;
        using (var scope = torch.NewDisposeScope())
            encoded = model.Encode(preprocessor.Process(decoded).unsqueeze(0));                          // [1, F, 3, S, S]
        double duration = decoded.Fps > 0 ? decoded.FrameCount / decoded.Fps : 0;
        var video = new IndexedVideo(path, size, mtime, sha, duration, decoded.Fps, decoded.FrameCount, decoded.Width, decoded.Height, source.Captions);
        var segment = new IndexedSegment(0, 0, duration, decoded.Times, encoded.Frames, encoded.Coarse, encoded.Tokens);
        var thumbnails = decoded.Frames.Select(f => Thumbnail(f, decoded.Width, decoded.Height)).ToList();
        return (video, [new SegmentToStore(segment, thumbnails)]);
    }

    /// <summary>An RGB frame as a JPEG <see cref="ThumbnailHeight"/> pixels high.</summary>
    public static byte[] Thumbnail(byte[] rgb, int width, int height)
    {
        using var frame = Mat.FromPixelData(height, width, MatType.CV_8UC3, rgb);
        using var bgr = new Mat();
        Cv2.CvtColor(frame, bgr, ColorConversionCodes.RGB2BGR);
        int h = Math.Min(ThumbnailHeight, height), w = Math.Max(1, (int)Math.Round(width * (double)h / height));
        using var small = new Mat();
        Cv2.Resize(bgr, small, new OpenCvSharp.Size(w, h), interpolation: h < height ? InterpolationFlags.Area : InterpolationFlags.Linear);
        Cv2.ImEncode(".jpg", small, out var jpeg, new ImageEncodingParam(ImwriteFlags.JpegQuality, 85));
        return jpeg;
    }
}
