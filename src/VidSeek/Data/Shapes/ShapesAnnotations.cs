using System.Globalization;
using System.Text;
using System.Text.Json;

namespace VidSeek.Data.Shapes;

/// <summary>
/// Writes a corpus's annotation files in the MSR-VTT layout (SPEC section 5) plus <c>shapes.json</c>.
/// Byte-for-byte a function of the corpus: properties in a fixed order, numbers in invariant form, "\n"
/// newlines, UTF-8 without a byte-order mark, and nothing that varies between runs (no time, no path).
/// </summary>
internal static class ShapesAnnotations
{
    public const string DataJson = "MSRVTT_data.json";
    public const string TrainCsv = "MSRVTT_train.9k.csv";
    public const string TestCsv = "MSRVTT_JSFUSION_test.csv";
    public const string SettingsJson = "shapes.json";
    public const string VideosDir = "videos";

    private static readonly JsonWriterOptions JsonOptions = new() { Indented = true, IndentSize = 2, NewLine = "\n" };

    /// <summary>Writes the four files into <paramref name="dir"/>, <c>shapes.json</c> last (its presence marks a complete corpus).</summary>
    public static void Write(string dir, ShapesCorpus corpus)
    {
        WriteAtomic(Path.Combine(dir, DataJson), DataJsonBytes(corpus));
        WriteAtomic(Path.Combine(dir, TrainCsv), TrainCsvBytes(corpus));
        WriteAtomic(Path.Combine(dir, TestCsv), TestCsvBytes(corpus));
        WriteAtomic(Path.Combine(dir, SettingsJson), SettingsBytes(corpus));
    }

    /// <summary>
    /// <c>{"videos": [...], "sentences": [...]}</c>. A video carries its split, segment count and scene
    /// (frames, background and objects of each segment); a sentence its type (<c>full</c> or <c>segment</c>) and,
    /// for a segment caption, the segment's index. <c>sen_id</c> numbers all sentences from 0.
    /// </summary>
    public static byte[] DataJsonBytes(ShapesCorpus corpus) => Json(w =>
    {
        w.WriteStartObject();
        w.WriteStartArray("videos");
        foreach (var v in corpus.Videos)
        {
            w.WriteStartObject();
            w.WriteString("video_id", v.VideoId);
            w.WriteNumber("id", v.Index);
            w.WriteString("split", v.Split);
            w.WriteNumber("segments", v.Segments.Count);
            w.WriteNumber("frames", v.Frames);
            w.WriteNumber("fps", corpus.Options.Fps);
            if (v.Split == ShapesSplit.TestNovel)
            {
                w.WriteStartArray("novel_pairs");
                foreach (var p in v.Pairs.Where(corpus.HeldOutPairs.Contains).Order()) w.WriteStringValue(p.ToString());
                w.WriteEndArray();
            }
            w.WriteStartArray("scene");
            foreach (var s in v.Segments)
            {
                w.WriteStartObject();
                w.WriteNumber("start_frame", s.StartFrame);
                w.WriteNumber("end_frame", s.EndFrame);
                w.WriteString("background", ShapesVocabulary.Word(s.Background));
                w.WriteStartArray("objects");
                foreach (var o in s.Objects)
                {
                    w.WriteStartObject();
                    w.WriteString("size", ShapesVocabulary.Word(o.Size));
                    w.WriteString("color", ShapesVocabulary.Word(o.Color));
                    w.WriteString("shape", ShapesVocabulary.Word(o.Shape));
                    w.WriteString("motion", ShapesVocabulary.Phrase(o.Motion));
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        w.WriteEndArray();

        w.WriteStartArray("sentences");
        int senId = 0;
        foreach (var v in corpus.Videos)
            foreach (var c in ShapesCaptioner.Captions(v))
            {
                w.WriteStartObject();
                w.WriteString("caption", c.Text);
                w.WriteString("video_id", v.VideoId);
                w.WriteNumber("sen_id", senId++);
                w.WriteString("type", c.Type);
                if (c.Segment is int segment) w.WriteNumber("segment", segment);
                w.WriteEndObject();
            }
        w.WriteEndArray();
        w.WriteEndObject();
    });

    /// <summary>The train videos, one <c>video_id</c> a line under a header, as <c>MSRVTT_train.9k.csv</c>.</summary>
    public static byte[] TrainCsvBytes(ShapesCorpus corpus)
    {
        var sb = new StringBuilder("video_id\n");
        foreach (var v in corpus.InSplit(ShapesSplit.Train)) sb.Append(v.VideoId).Append('\n');
        return Encoding.UTF8.GetBytes(sb.ToString());
    }

    /// <summary>
    /// The test videos with their full caption, one row each as in the real 1k-A file
    /// (<c>ret{n},msr{index},video{index},sentence</c>); a sentence with a comma is quoted (RFC 4180).
    /// </summary>
    public static byte[] TestCsvBytes(ShapesCorpus corpus)
    {
        var sb = new StringBuilder("key,vid_key,video_id,sentence\n");
        int key = 0;
        foreach (var v in corpus.InSplit(ShapesSplit.Test))
        {
            string full = ShapesCaptioner.Captions(v)[0].Text;
            sb.Append(CultureInfo.InvariantCulture, $"ret{key++},msr{v.Index},{v.VideoId},{CsvField(full)}\n");
        }
        return Encoding.UTF8.GetBytes(sb.ToString());
    }

    /// <summary>The settings that determine the corpus, the held-out pairs and the counts.</summary>
    public static byte[] SettingsBytes(ShapesCorpus corpus) => Json(w =>
    {
        var o = corpus.Options;
        w.WriteStartObject();
        w.WriteString("generator", "vidseek shapes");
        w.WriteNumber("version", ShapesOptions.GeneratorVersion);
        w.WriteNumber("seed", o.Seed);
        w.WriteNumber("videos", o.Videos);
        w.WriteNumber("size", o.Size);
        w.WriteNumber("frames", o.Frames);
        w.WriteNumber("fps", o.Fps);
        w.WriteNumber("novel_fraction", o.NovelFraction);
        w.WriteNumber("val_fraction", o.ValFraction);
        w.WriteNumber("test_fraction", o.TestFraction);
        w.WriteString("codec", "mp4v");
        w.WriteStartArray("held_out_pairs");
        foreach (var p in corpus.HeldOutPairs) w.WriteStringValue(p.ToString());
        w.WriteEndArray();
        w.WriteStartObject("splits");
        foreach (var (split, count) in corpus.SplitCounts) w.WriteNumber(split, count);
        w.WriteEndObject();
        var captions = corpus.Videos.SelectMany(ShapesCaptioner.Captions).ToList();
        w.WriteStartObject("captions");
        w.WriteNumber(ShapesCaption.Full, captions.Count(c => c.Type == ShapesCaption.Full));
        w.WriteNumber(ShapesCaption.SegmentType, captions.Count(c => c.Type == ShapesCaption.SegmentType));
        w.WriteEndObject();
        w.WriteEndObject();
    });

    /// <summary>Writes beside the target and renames over it, so a reader never sees a half-written file.</summary>
    public static void WriteAtomic(string path, byte[] bytes)
    {
        string tmp = path + ".tmp";
        try
        {
            File.WriteAllBytes(tmp, bytes);
            File.Move(tmp, path, overwrite: true);
        }
        catch
        {
            try { File.Delete(tmp); } catch (IOException) { }
            throw;
        }
    }

    private static byte[] Json(Action<Utf8JsonWriter> write)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, JsonOptions)) write(writer);
        buffer.WriteByte((byte)'\n');
        return buffer.ToArray();
    }

    private static string CsvField(string value) =>
        value.IndexOfAny([',', '"', '\n', '\r']) < 0 ? value : "\"" + value.Replace("\"", "\"\"") + "\"";
}
