using System.Text.Json;

namespace VidSeek.Data.Loaders;

/// <summary>
/// MSR-VTT in the layout CLIP4Clip and X-Pool use: <c>MSRVTT_data.json</c>, the split lists
/// <c>MSRVTT_train.9k.csv</c> / <c>MSRVTT_train.7k.csv</c> and the 1k-A test <c>MSRVTT_JSFUSION_test.csv</c>
/// in the root; videos <c>{videos}/{video_id}.mp4</c>.
/// </summary>
/// <remarks>
/// Splits: <c>train-9k</c> and <c>train-7k</c> are the csv's videos with all their sentences from the json;
/// <c>test-1ka</c> is the JSFusion csv itself (one sentence per video, from the csv, the json is not read);
/// any other name selects the json videos whose <c>split</c> field equals it, with all their sentences (real
/// MSR-VTT: <c>train</c>/<c>validate</c>/<c>test</c>; the synthetic Shapes corpus stores its splits this way).
/// A sentence's optional <c>type</c> becomes <see cref="CaptionEntry.Type"/>.
/// The default videos folder is <c>ROOT/videos/all</c> when it exists (some downloads unpack so), else <c>ROOT/videos</c>.
/// </remarks>
public sealed class MsrVttLoader : IDatasetLoader
{
    public const string DataFile = "MSRVTT_data.json";
    public const string Train9kFile = "MSRVTT_train.9k.csv";
    public const string Train7kFile = "MSRVTT_train.7k.csv";
    public const string TestFile = "MSRVTT_JSFUSION_test.csv";

    private static readonly string[] FixedSplits = ["train-9k", "train-7k", "test-1ka"];

    public string Name => "msrvtt";

    /// <summary>The fixed splits, then the real dataset's <c>split</c> field values (any value present in the json is accepted).</summary>
    public IReadOnlyList<string> Splits { get; } = [.. FixedSplits, "train", "validate", "test"];

    public (RetrievalSplit Split, LoadReport Report) Load(string root, string split, LoadOptions options)
    {
        ArgumentNullException.ThrowIfNull(split);
        root = LoaderPaths.RequireFolder(root, Name);
        string all = Path.Combine(root, "videos", "all");
        var videos = VideoLocator.Named(LoaderPaths.VideosFolder(options, Directory.Exists(all) ? all : Path.Combine(root, "videos")), ".mp4");
        var builder = new SplitBuilder(Name, split, videos, options);
        return split switch
        {
            "test-1ka" => LoadJsFusion(root, builder),
            "train-9k" => LoadListed(root, Train9kFile, builder),
            "train-7k" => LoadListed(root, Train7kFile, builder),
            _ => LoadBySplitField(root, split, builder),
        };
    }

    /// <summary>The 1k-A test: one caption per row, video and sentence from the csv.</summary>
    private (RetrievalSplit, LoadReport) LoadJsFusion(string root, SplitBuilder builder)
    {
        var csv = CsvTable.Read(LoaderPaths.RequireFile(root, TestFile, Name));
        int videoColumn = csv.Column("video_id"), sentenceColumn = csv.Column("sentence");
        // Ids are checked for the whole file first: a malformed file is reported as such whatever the videos folder holds.
        var ids = csv.Rows.Select(row => RequireId(row.Fields[videoColumn], csv, row)).ToList();
        for (int i = 0; i < csv.Rows.Count; i++)
            builder.AddCaption(ids[i], csv.Rows[i].Fields[sentenceColumn], null, csv.Path, $"line {csv.Rows[i].Line}");
        return builder.Build(csv.Path);
    }

    /// <summary>A training list: the csv's videos, in its order, with all their json sentences.</summary>
    private (RetrievalSplit, LoadReport) LoadListed(string root, string listFile, SplitBuilder builder)
    {
        var csv = CsvTable.Read(LoaderPaths.RequireFile(root, listFile, Name));
        var data = ReadData(root);
        int videoColumn = csv.Column("video_id");
        var listed = new HashSet<string>(StringComparer.Ordinal);
        foreach (var row in csv.Rows)
        {
            string id = RequireId(row.Fields[videoColumn], csv, row);
            if (!data.Videos.ContainsKey(id))
                throw new VidSeekException($"{csv.Path}: line {row.Line}: video '{id}' is not in the 'videos' of {data.Path}");
            builder.DeclareVideo(id);
            listed.Add(id);
        }
        AddSentences(data, listed, builder);
        return builder.Build(csv.Path);
    }

    /// <summary>The json videos whose <c>split</c> field is <paramref name="split"/>, with all their sentences.</summary>
    private (RetrievalSplit, LoadReport) LoadBySplitField(string root, string split, SplitBuilder builder)
    {
        var data = ReadData(root);
        var members = data.Videos.Values.Where(v => v.Split == split).OrderBy(v => v.Index).Select(v => v.Id).ToList();
        if (members.Count == 0)
        {
            var inFile = data.Videos.Values.OrderBy(v => v.Index).Select(v => v.Split).OfType<string>().Distinct();
            throw LoaderPaths.UnknownSplit(Name, split, FixedSplits.Concat(inFile));
        }
        foreach (var id in members) builder.DeclareVideo(id);
        AddSentences(data, members.ToHashSet(StringComparer.Ordinal), builder);
        return builder.Build(data.Path);
    }

    private static void AddSentences(MsrVttData data, HashSet<string> videoIds, SplitBuilder builder)
    {
        foreach (var s in data.Sentences)
            if (videoIds.Contains(s.VideoId))
                builder.AddCaption(s.VideoId, s.Caption, s.Type, data.Path, $"sentences[{s.Index}]");
    }

    private static string RequireId(string field, CsvTable csv, CsvTable.Row row)
    {
        string id = field.Trim();
        return id.Length > 0 ? id : throw new VidSeekException($"{csv.Path}: line {row.Line}: empty video_id");
    }

    private sealed record VideoRecord(string Id, string? Split, int Index);
    private sealed record SentenceRecord(string Caption, string VideoId, string? Type, int Index);
    private sealed record MsrVttData(string Path, Dictionary<string, VideoRecord> Videos, List<SentenceRecord> Sentences);

    /// <summary>Reads and checks <c>MSRVTT_data.json</c>: every sentence must name a video of <c>videos</c>.</summary>
    private MsrVttData ReadData(string root)
    {
        string path = LoaderPaths.RequireFile(root, DataFile, Name);
        using var doc = JsonAnnotation.Parse(path);
        var top = JsonAnnotation.Expect(doc.RootElement, JsonValueKind.Object, path, "top level", "the file");

        var videos = new Dictionary<string, VideoRecord>(StringComparer.Ordinal);
        int i = 0;
        foreach (var v in JsonAnnotation.RequireArray(top, "videos", path, "top level").EnumerateArray())
        {
            string where = $"videos[{i}]";
            string id = JsonAnnotation.RequireString(v, "video_id", path, where);
            if (!videos.TryAdd(id, new VideoRecord(id, JsonAnnotation.OptionalString(v, "split", path, where), i)))
                throw new VidSeekException($"{path}: {where}: duplicate video_id '{id}'");
            i++;
        }

        var sentences = new List<SentenceRecord>();
        i = 0;
        foreach (var s in JsonAnnotation.RequireArray(top, "sentences", path, "top level").EnumerateArray())
        {
            string where = $"sentences[{i}]";
            string caption = JsonAnnotation.RequireString(s, "caption", path, where);
            string videoId = JsonAnnotation.RequireString(s, "video_id", path, where);
            if (!videos.ContainsKey(videoId))
                throw new VidSeekException($"{path}: {where}: video_id '{videoId}' is not in 'videos'");
            sentences.Add(new SentenceRecord(caption, videoId, JsonAnnotation.OptionalString(s, "type", path, where), i));
            i++;
        }
        return new MsrVttData(path, videos, sentences);
    }
}
