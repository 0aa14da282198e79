using System.Security.Cryptography;
using System.Threading.Channels;
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
/// <param name="Segments">Segments encoded in this run.</param>
/// <param name="VideoSeconds">Seconds of video encoded in this run.</param>
/// <param name="DecodeSeconds">Time the decode stage spent decoding, sampling and preprocessing (it runs beside the encoder).</param>
/// <param name="EncodeSeconds">Time the encode stage spent in the model.</param>
/// <param name="WallSeconds">Wall-clock time of the run.</param>
/// <param name="Warnings">Files indexed with a caveat (e.g. decoded only in part: what decodes is indexed), with what happened.</param>
/// <param name="SeekedVideos">Videos whose frames were reached by seeking (the rest were decoded front to back).</param>
public sealed record IndexUpdateReport(int Added, int Updated, int Unchanged, int Removed, IReadOnlyList<(string Path, string Error)> Failed, int Total,
    int Segments = 0, double VideoSeconds = 0, double DecodeSeconds = 0, double EncodeSeconds = 0, double WallSeconds = 0,
    IReadOnlyList<(string Path, string Warning)>? Warnings = null, int SeekedVideos = 0)
{
    public IReadOnlyList<(string Path, string Warning)> Warnings { get; init; } = Warnings ?? [];

    /// <summary>Shared stores: videos this worker encoded but did not write, because its lease had run out and another worker took them over.</summary>
    public int TakenOver { get; init; }
}

/// <summary>Where an <see cref="IndexBuilder.Update"/> run is: files, and seconds of video, done out of those to encode.</summary>
/// <param name="FilesDone">Files checked or encoded (of <paramref name="FilesTotal"/>).</param>
/// <param name="SecondsDone">Seconds of video encoded so far (of <paramref name="SecondsTotal"/>, the estimated duration of the files to encode).</param>
/// <param name="Path">The file being encoded or just finished.</param>
public readonly record struct IndexProgress(int FilesDone, int FilesTotal, double SecondsDone, double SecondsTotal, string Path);

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

    /// <summary>
    /// Every video file under <paramref name="root"/>, recursively, in ordinal path order (see <see cref="VideoFiles.Walk"/>
    /// for links, loops and files that are not regular); what is skipped goes to <paramref name="skipped"/> (path, reason).
    /// </summary>
    public static List<IndexSourceVideo> ScanFolder(string root, Action<string, string>? skipped = null)
    {
        if (!Directory.Exists(root)) throw new VidSeekException($"folder not found: {root}");
        return VideoFiles.Walk(root, skipped ?? ((_, _) => { }))
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

    /// <summary>Segments encoded together: frames per batch (segments x F) the encode stage aims at.</summary>
    public const int BatchFrames = 32;

    /// <summary>
    /// Updates <paramref name="index"/> to hold exactly <paramref name="videos"/> (those that decode), cutting each video into
    /// segments as the index's manifest says (<see cref="IndexManifest.Segmenting"/>).
    /// </summary>
    /// <remarks>
    /// Two stages overlap: a decode thread reads the videos one after another (<see cref="SegmentDecoder"/>: frames sampled,
    /// preprocessed, thumbnailed) and feeds their segments through a bounded channel to this thread, which encodes them in
    /// batches of about <see cref="BatchFrames"/> frames and writes each video, all its segments in one transaction, once its
    /// last segment is encoded. The channel holds at most <c>2 x BatchFrames</c> frames' worth of segments, so memory does not
    /// grow with the length of a video or of the collection.
    /// </remarks>
    /// <param name="progress">After each encoded batch and each file: files and seconds of video done.</param>
    /// <param name="beforeCommit">Test hook passed to <see cref="IIndexStore.Put"/> with the number of videos encoded so far.</param>
    /// <param name="read">Frame access (seek where it applies, or sequential; default: decide per file).</param>
    /// <param name="lease">
    /// For an <see cref="ISharedIndexStore"/> (PostgreSQL): how long a claimed video stays this worker's once it stops renewing
    /// (it died); default <see cref="DefaultLease"/>. Several processes may then run this on one index at once; see
    /// <see cref="ClaimJobs"/>. The embedded store has one writer and ignores it.
    /// </param>
    public static IndexUpdateReport Update(IIndexStore index, IndexModel model, IReadOnlyList<IndexSourceVideo> videos,
        Action<IndexProgress>? progress = null, CancellationToken cancel = default, Action<int>? beforeCommit = null, VideoReadOptions? read = null,
        TimeSpan? lease = null)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
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

        // 1. What to encode: new files, and changed ones (size and mtime, then the hash: a touched file is only touched).
        //    A shared store queues them instead, and whoever claims a job hashes its file (ClaimJobs).
        var shared = index as ISharedIndexStore;
        var span = lease ?? DefaultLease;
        if (span <= TimeSpan.Zero) throw new VidSeekException("the lease must be positive");
        int unchanged = 0, done = 0;
        var failed = new List<(string, string)>();
        var todo = new List<Job>();
        var queued = new List<string>();
        var estimates = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var (path, source) in wanted)
        {
            if (cancel.IsCancellationRequested) break;
            var info = new FileInfo(source.FullPath);
            try
            {
                if (shared is not null && !info.Exists) { queued.Add(path); continue; } // the claimer reports it (and ends its job)
                if (!info.Exists) throw new VidSeekException($"{source.FullPath} does not exist");
                long mtime = info.LastWriteTimeUtc.Ticks;
                if (stored.TryGetValue(path, out var old) && old.Size == info.Length && old.MtimeTicks == mtime) { unchanged++; done++; continue; }
                // Before anything opens it: opening a FIFO named x.mp4 would wait for a writer forever.
                if (VideoFiles.NotRegular(source.FullPath) is { } notVideo) throw new VidSeekException($"{source.FullPath} {notVideo}");
                if (shared is not null)
                {
                    queued.Add(path);
                    estimates[path] = Estimate(source.FullPath);
                    continue;
                }
                string sha = Sha256(source.FullPath);
                if (old.Sha256 == sha && old.Size == info.Length)
                {
                    index.Touch(old.Id, mtime); // touched, not changed
                    unchanged++; done++;
                    continue;
                }
                todo.Add(new Job(path, source, info.Length, mtime, sha, old.Sha256 is not null, Estimate(source.FullPath)));
            }
            catch (VidSeekException e)
            {
                failed.Add((path, e.Message));
                done++;
            }
        }
        double total = todo.Sum(j => j.Estimate) + estimates.Values.Sum();
        progress?.Invoke(new IndexProgress(done, wanted.Count, 0, total, ""));
        string worker = $"{Environment.MachineName}/{Environment.ProcessId}/{Guid.NewGuid().ToString("N")[..8]}";
        int sharedUnchanged = 0; // counted by the decode thread (ClaimJobs), added in when it has finished
        IEnumerable<Job> jobs = todo;
        Timer? heartbeat = null;
        if (shared is not null)
        {
            shared.Enqueue(queued);
            jobs = ClaimJobs(shared, worker, span, wanted, root, estimates, () => sharedUnchanged++, cancel);
            // One heartbeat renews every job this worker holds, whether it is being decoded, waits in the channel or is being
            // encoded; a worker that dies renews nothing, and its jobs are free again once their lease runs out.
            int beating = 0;
            heartbeat = new Timer(_ =>
            {
                if (Interlocked.Exchange(ref beating, 1) == 1) return; // the last beat is still on its way
                try { shared.Renew(worker, span); }
                catch (VidSeekException) { } // a missed beat: the next one may get through before the lease runs out
                finally { Volatile.Write(ref beating, 0); }
            }, null, span / 3, span / 3);
        }

        // 2. Decode and encode, overlapped.
        var m = index.Manifest;
        var segmenting = m.SegmentingOrDefault;
        var preprocessor = new ClipImagePreprocessor(model.ImageSize);
        var channel = Channel.CreateBounded<Item>(new BoundedChannelOptions(Math.Max(2, 2 * BatchFrames / Math.Max(1, m.Frames)))
        {
            SingleReader = true, SingleWriter = true, FullMode = BoundedChannelFullMode.Wait,
        });
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        double decodeSeconds = 0;
        var decoder = Task.Factory.StartNew(() =>
        {
            var watch = new System.Diagnostics.Stopwatch();
            void Send(Item item)
            {
                watch.Stop();
                while (!channel.Writer.TryWrite(item))
                    if (!channel.Writer.WaitToWriteAsync(stop.Token).AsTask().GetAwaiter().GetResult()) return;
                watch.Start();
            }
            try
            {
                foreach (var job in jobs)
                {
                    if (stop.IsCancellationRequested) break;
                    if (job.Error is not null) { Send(new FailedItem(job, job.Error)); continue; }
                    watch.Start();
                    try
                    {
                        var info = SegmentDecoder.Decode(job.Source.FullPath, segmenting, m.Frames, preprocessor,
                            s => Send(new SegmentItem(job, s)), () => Send(new DiscardItem(job)), stop.Token, read);
                        Send(new EndItem(job, info));
                    }
                    catch (VidSeekException e) { Send(new FailedItem(job, e.Message)); }
                    finally { watch.Stop(); }
                }
                channel.Writer.TryComplete();
            }
            catch (OperationCanceledException) { channel.Writer.TryComplete(); }
            catch (Exception e) { channel.Writer.TryComplete(e); }
            finally { decodeSeconds = watch.Elapsed.TotalSeconds; }
        }, stop.Token, TaskCreationOptions.LongRunning, TaskScheduler.Default);

        int added = 0, updated = 0, encodedVideos = 0, encodedSegments = 0, seeked = 0, takenOver = 0;
        var warnings = new List<(string, string)>();
        double finished = 0, videoSeconds = 0; // finished: the estimated seconds of the files done (encoded or failed)
        var encodeWatch = new System.Diagnostics.Stopwatch();
        var batch = new List<SegmentItem>();
        var encoded = new List<SegmentToStore>(); // the current video's encoded segments, in order
        Job? current = null;
        try
        {
            var reader = channel.Reader;
            while (!cancel.IsCancellationRequested)
            {
                if (!reader.TryRead(out var item))
                {
                    // Nothing decoded yet: encode what is waiting rather than sit idle, then wait.
                    if (batch.Count > 0) { EncodeBatch(); continue; }
                    if (!reader.WaitToReadAsync(cancel).AsTask().GetAwaiter().GetResult()) break;
                    continue;
                }
                if (item.Job != current) { batch.Clear(); encoded.Clear(); current = item.Job; }
                switch (item)
                {
                    case SegmentItem s:
                        batch.Add(s);
                        if (batch.Sum(b => b.Segment.Indices.Length) >= BatchFrames) EncodeBatch();
                        break;
                    case DiscardItem:
                        batch.Clear();
                        encoded.Clear();
                        break;
                    case FailedItem f:
                        batch.Clear();
                        encoded.Clear();
                        failed.Add((f.Job.Path, f.Error));
                        shared?.Finish(f.Job.Path, worker); // it fails for every worker alike
                        finished += f.Job.Estimate;
                        done++;
                        Report(f.Job.Path);
                        break;
                    case EndItem end:
                        EncodeBatch();
                        var job = end.Job;
                        var d = end.Info;
                        var video = new IndexedVideo(job.Path, job.Size, job.Mtime, job.Sha, d.Duration, d.Fps, d.FrameCount, d.Width, d.Height, job.Source.Captions);
                        int n = ++encodedVideos;
                        Action? hook = beforeCommit is null ? null : () => beforeCommit(n);
                        if (shared is null) index.Put(video, encoded.ToList(), hook);
                        else if (!shared.PutClaimed(worker, video, encoded.ToList(), hook))
                        {
                            // Our lease ran out (a stall longer than the lease) and another worker holds the job now, or has
                            // written the video already: it is theirs to write, so this copy is dropped.
                            takenOver++;
                            encoded.Clear();
                            finished += job.Estimate;
                            done++;
                            Report(job.Path);
                            break;
                        }
                        if (job.Replaces) updated++; else added++;
                        encodedSegments += encoded.Count;
                        videoSeconds += d.Duration;
                        if (d.Warning is not null) warnings.Add((job.Path, d.Warning));
                        if (d.Method == FrameAccess.Seek) seeked++;
                        finished += job.Estimate;
                        encoded.Clear();
                        done++;
                        Report(job.Path);
                        break;
                }
            }
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested) { }
        finally
        {
            stop.Cancel();
            try { decoder.GetAwaiter().GetResult(); }
            catch (OperationCanceledException) { }
            if (shared is not null)
            {
                using (var stopped = new ManualResetEvent(false)) { heartbeat!.Dispose(stopped); stopped.WaitOne(); }
                // Interrupted (or failed): what this worker still holds goes back to the queue now rather than when its lease ends.
                try { shared.Release(worker); }
                catch (VidSeekException) { } // then the leases expire
            }
        }
        return new IndexUpdateReport(added, updated, unchanged + sharedUnchanged, removed, failed, wanted.Count, encodedSegments, videoSeconds, decodeSeconds,
            encodeWatch.Elapsed.TotalSeconds, clock.Elapsed.TotalSeconds, warnings, seeked) { TakenOver = takenOver };

        // Progress by duration: the files done, plus the current file up to the end of its last encoded segment.
        void Report(string path)
        {
            double inCurrent = current is null || encoded.Count == 0 ? 0 : Math.Min(current.Estimate, encoded[^1].Segment.End);
            progress?.Invoke(new IndexProgress(done, wanted.Count, finished + inCurrent, total, path));
        }

        void EncodeBatch()
        {
            if (batch.Count == 0) return;
            encodeWatch.Start();
            var pieces = batch.Select(b => b.Segment).ToList();
            EncodedVideo[] results;
            using (var scope = torch.NewDisposeScope())
            {
                int f = m.Frames, size = model.ImageSize;
                var flat = new float[pieces.Sum(p => p.Pixels.Length)];
                int offset = 0;
                foreach (var p in pieces) { p.Pixels.CopyTo(flat, offset); offset += p.Pixels.Length; }
                results = model.EncodeBatch(torch.tensor(flat, [pieces.Count, f, 3, size, size]));     // [B, F, 3, S, S]
            }
            encodeWatch.Stop();
            var job = batch[0].Job;
            for (int i = 0; i < pieces.Count; i++)
            {
                var p = pieces[i];
                var segment = new IndexedSegment(p.Ordinal, p.Start, p.End, p.Times, results[i].Frames, results[i].Coarse, results[i].Tokens);
                encoded.Add(new SegmentToStore(segment, p.Thumbnails));
            }
            batch.Clear();
            Report(job.Path);
        }
    }

    /// <summary>How long a claimed job stays a worker's without a renewal (shared stores); renewed every third of it.</summary>
    public static readonly TimeSpan DefaultLease = TimeSpan.FromMinutes(2);

    private static double Estimate(string file)
    {
        try { return FrameScan.Probe(file).EstimatedDuration; }
        catch (VidSeekException) { return 0; } // reported when it is decoded
    }

    /// <summary>
    /// The decode thread's jobs on a shared store: claimed one at a time as the thread gets to them (so a worker holds only
    /// what it is working on, plus what waits in the bounded channel), until the queue is empty. A job whose file is unchanged
    /// since another worker wrote it (size and mtime, then the hash) is finished here without encoding; a file that is gone
    /// comes back as a job with an <see cref="Job.Error"/>. While other workers hold the last jobs this waits (a quarter of
    /// the lease at a time, at most a second), taking over any whose lease has expired, so it returns only when every job is done.
    /// </summary>
    private static IEnumerable<Job> ClaimJobs(ISharedIndexStore shared, string worker, TimeSpan lease, Dictionary<string, IndexSourceVideo> wanted,
        string root, Dictionary<string, double> estimates, Action unchanged, CancellationToken cancel)
    {
        var poll = TimeSpan.FromMilliseconds(Math.Clamp(lease.TotalMilliseconds / 4, 50, 1000));
        while (!cancel.IsCancellationRequested)
        {
            string? path = shared.Claim(worker, lease);
            if (path is null)
            {
                if (shared.PendingJobs == 0) yield break;
                cancel.WaitHandle.WaitOne(poll); // others hold the rest: wait for them to finish, or for a dead one's lease to run out
                continue;
            }
            // Another process may have queued a file this one does not see (a worker on an older listing): its own folder's path.
            var source = wanted.GetValueOrDefault(path) ?? new IndexSourceVideo(Path.Combine(root, path.Replace('/', Path.DirectorySeparatorChar)), []);
            var info = new FileInfo(source.FullPath);
            if (!info.Exists)
            {
                yield return new Job(path, source, 0, 0, "", false, 0) { Error = $"{source.FullPath} does not exist" };
                continue;
            }
            long mtime = info.LastWriteTimeUtc.Ticks;
            var old = shared.Stored(path); // now, not when this worker scanned: another may have written it meanwhile
            if (old is { } o && o.Size == info.Length && o.MtimeTicks == mtime) { shared.Finish(path, worker); unchanged(); continue; }
            string sha = Sha256(source.FullPath);
            if (old is { } t && t.Sha256 == sha && t.Size == info.Length) { shared.Touch(t.Id, mtime); unchanged(); continue; } // ends the job too
            var job = new Job(path, source, info.Length, mtime, sha, old is not null, estimates.GetValueOrDefault(path));
            yield return job;
        }
    }

    private sealed record Job(string Path, IndexSourceVideo Source, long Size, long Mtime, string Sha, bool Replaces, double Estimate)
    {
        /// <summary>Why the file cannot be indexed, found before decoding (shared stores: the claimer checks the file).</summary>
        public string? Error { get; init; }
    }

    private abstract record Item(Job Job);
    private sealed record SegmentItem(Job Job, DecodedSegment Segment) : Item(Job);
    private sealed record DiscardItem(Job Job) : Item(Job);
    private sealed record FailedItem(Job Job, string Error) : Item(Job);
    private sealed record EndItem(Job Job, DecodedVideoInfo Info) : Item(Job);

    /// <summary>A BGR frame as a JPEG <see cref="ThumbnailHeight"/> pixels high.</summary>
    public static byte[] Thumbnail(Mat bgr)
    {
        int h = Math.Min(ThumbnailHeight, bgr.Height), w = Math.Max(1, (int)Math.Round(bgr.Width * (double)h / bgr.Height));
        using var small = new Mat();
        Cv2.Resize(bgr, small, new OpenCvSharp.Size(w, h), interpolation: h < bgr.Height ? InterpolationFlags.Area : InterpolationFlags.Linear);
        Cv2.ImEncode(".jpg", small, out var jpeg, new ImageEncodingParam(ImwriteFlags.JpegQuality, 85));
        return jpeg;
    }

    /// <summary>An RGB frame as a JPEG <see cref="ThumbnailHeight"/> pixels high.</summary>
    public static byte[] Thumbnail(byte[] rgb, int width, int height)
    {
        using var frame = Mat.FromPixelData(height, width, MatType.CV_8UC3, rgb);
        using var bgr = new Mat();
        Cv2.CvtColor(frame, bgr, ColorConversionCodes.RGB2BGR);
        return Thumbnail(bgr);
    }
}
