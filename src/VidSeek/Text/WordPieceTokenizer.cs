using System.Text.Json;
using Microsoft.ML.Tokenizers;

namespace VidSeek.Text;

/// <summary>
/// BERT's WordPiece tokenizer (Hugging Face <c>BertTokenizer</c>), loaded from a folder holding <c>vocab.txt</c> (one token a
/// line, the id is the line number) and optionally <c>tokenizer_config.json</c>.
/// </summary>
/// <remarks>
/// Microsoft.ML.Tokenizers' <see cref="BertTokenizer"/> does the work: text clean-up, lower-casing, accent stripping (NFD,
/// then drop the non-spacing marks), CJK characters as words of their own, the split on whitespace and punctuation, and the
/// greedy longest-match-first WordPiece with <c>##</c> continuation pieces and <c>[UNK]</c> for a word it cannot cover.
/// Read here, from <c>tokenizer_config.json</c> as HF reads it: <c>do_lower_case</c> (default true, the uncased models),
/// <c>strip_accents</c> (default: follows <c>do_lower_case</c>, as HF's <c>BasicTokenizer</c> does),
/// <c>tokenize_chinese_chars</c> (default true) and the special tokens' names. Written by hand: the framing
/// <c>[CLS] pieces [SEP]</c> with truncation that keeps <c>[SEP]</c> (HF's <c>truncation=True</c>).
/// Instances are safe to share between threads.
/// </remarks>
public sealed class WordPieceTokenizer
{
    public const string VocabFile = "vocab.txt";
    public const string ConfigFile = "tokenizer_config.json";

    private readonly BertTokenizer _bert;

    /// <summary>Lines of <c>vocab.txt</c> (30,522 for bert-base-uncased).</summary>
    public int VocabSize { get; }
    public int ClsId { get; }
    public int SepId { get; }
    public int PadId { get; }
    public int UnkId { get; }
    public bool LowerCase { get; }
    public bool StripAccents { get; }

    /// <summary>The files of this tokenizer in its folder (<c>vocab.txt</c>, and <c>tokenizer_config.json</c> where present).</summary>
    public IReadOnlyList<string> Files { get; }

    private WordPieceTokenizer(BertTokenizer bert, int vocabSize, bool lowerCase, bool stripAccents, IReadOnlyList<string> files)
    {
        _bert = bert;
        VocabSize = vocabSize;
        ClsId = bert.ClassificationTokenId;
        SepId = bert.SeparatorTokenId;
        PadId = bert.PaddingTokenId;
        UnkId = bert.UnknownTokenId;
        LowerCase = lowerCase;
        StripAccents = stripAccents;
        Files = files;
    }

    /// <summary>True when <paramref name="folder"/> holds a <c>vocab.txt</c>.</summary>
    public static bool IsIn(string folder) => File.Exists(Path.Combine(folder, VocabFile));

    /// <summary>Loads <c>vocab.txt</c> and, where present, <c>tokenizer_config.json</c> from <paramref name="folder"/>.</summary>
    /// <exception cref="VidSeekException">The folder or <c>vocab.txt</c> is missing, a file is malformed, or a special token is not in the vocabulary.</exception>
    public static WordPieceTokenizer FromFolder(string folder)
    {
        ArgumentNullException.ThrowIfNull(folder);
        if (!Directory.Exists(folder)) throw new VidSeekException($"tokenizer folder not found: {folder} (it should hold {VocabFile})");
        string vocabPath = Path.Combine(folder, VocabFile), configPath = Path.Combine(folder, ConfigFile);
        if (!File.Exists(vocabPath)) throw new VidSeekException($"{VocabFile} not found in {folder} (the WordPiece vocabulary of a BERT folder)");

        var settings = Settings.Load(configPath);
        // Read here, not only by the library: the size and the special tokens' presence need checking, and an error must name the file.
        var vocab = new HashSet<string>(StringComparer.Ordinal);
        int lines = 0;
        foreach (var line in File.ReadLines(vocabPath)) { vocab.Add(line); lines++; }
        if (lines == 0) throw new VidSeekException($"{vocabPath} is empty");
        foreach (var (key, token) in new[] { ("unk_token", settings.Unk), ("cls_token", settings.Cls), ("sep_token", settings.Sep), ("pad_token", settings.Pad), ("mask_token", settings.Mask) })
            if (!vocab.Contains(token)) throw new VidSeekException($"{vocabPath}: the special token {token} ({key}) is not in the vocabulary");

        var options = new BertOptions
        {
            LowerCaseBeforeTokenization = settings.LowerCase,
            RemoveNonSpacingMarks = settings.StripAccents,
            IndividuallyTokenizeCjk = settings.Cjk,
            ApplyBasicTokenization = true,
            SplitOnSpecialTokens = true,
            UnknownToken = settings.Unk, ClassificationToken = settings.Cls, SeparatorToken = settings.Sep,
            PaddingToken = settings.Pad, MaskingToken = settings.Mask,
        };
        BertTokenizer bert;
        try { bert = BertTokenizer.Create(vocabPath, options); }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or FormatException or IOException)
        {
            throw new VidSeekException($"{vocabPath}: cannot read the WordPiece vocabulary ({e.Message})", e);
        }
        var files = new List<string> { vocabPath };
        if (File.Exists(configPath)) files.Add(configPath);
        return new WordPieceTokenizer(bert, lines, settings.LowerCase, settings.StripAccents, files);
    }

    /// <summary>The WordPiece ids of <paramref name="text"/> without special tokens.</summary>
    /// <remarks>
    /// Tab, newline and carriage return become spaces first: HF's <c>BasicTokenizer</c> treats them as whitespace, but
    /// Microsoft.ML.Tokenizers 2.0.1's <c>BertNormalizer</c> drops them as control characters, which would glue the words on
    /// either side into one (<c>"the\tcircle"</c> -> <c>"thecircle"</c>, one <c>[UNK]</c>).
    /// </remarks>
    public IReadOnlyList<int> Pieces(string text) =>
        _bert.EncodeToIds(text.Replace('\t', ' ').Replace('\n', ' ').Replace('\r', ' '), addSpecialTokens: false);

    /// <summary>
    /// <c>[CLS] pieces [SEP]</c>; when longer than <paramref name="maxLength"/>, the pieces are cut so that the row is exactly
    /// <paramref name="maxLength"/> long and still ends with <c>[SEP]</c>.
    /// </summary>
    public long[] Encode(string text, int maxLength)
    {
        if (maxLength < 2) throw new ArgumentOutOfRangeException(nameof(maxLength), maxLength, "room for [CLS] and [SEP] is needed");
        var pieces = Pieces(text);
        int n = Math.Min(pieces.Count, maxLength - 2);
        var ids = new long[n + 2];
        ids[0] = ClsId;
        for (int i = 0; i < n; i++) ids[i + 1] = pieces[i];
        ids[n + 1] = SepId;
        return ids;
    }

    /// <summary>The few fields of HF's <c>tokenizer_config.json</c> a BERT tokenizer reads, with HF's defaults.</summary>
    private sealed record Settings(bool LowerCase, bool StripAccents, bool Cjk, string Unk, string Cls, string Sep, string Pad, string Mask)
    {
        public static Settings Load(string path)
        {
            if (!File.Exists(path)) return new Settings(true, true, true, "[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]");
            JsonDocument doc;
            try { doc = JsonDocument.Parse(File.ReadAllText(path), new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true }); }
            catch (JsonException e) { throw new VidSeekException($"cannot parse {path}: {e.Message}"); }
            using (doc)
            {
                var root = doc.RootElement;
                if (root.ValueKind != JsonValueKind.Object) throw new VidSeekException($"{path}: expected a JSON object");
                bool? Bool(string key)
                {
                    if (!root.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null) return null;
                    return v.ValueKind switch
                    {
                        JsonValueKind.True => true, JsonValueKind.False => false,
                        _ => throw new VidSeekException($"{path}: {key} must be true, false or null, got {v.GetRawText()}"),
                    };
                }
                // A token is a string, or (newer HF) an AddedToken object whose "content" is the string.
                string Token(string key, string fallback)
                {
                    if (!root.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null) return fallback;
                    if (v.ValueKind == JsonValueKind.String) return v.GetString()!;
                    if (v.ValueKind == JsonValueKind.Object && v.TryGetProperty("content", out var c) && c.ValueKind == JsonValueKind.String) return c.GetString()!;
                    throw new VidSeekException($"{path}: {key} must be a string or an object with \"content\", got {v.GetRawText()}");
                }
                bool lower = Bool("do_lower_case") ?? true;
                // HF BasicTokenizer: strip_accents None means "strip when lower-casing".
                bool strip = Bool("strip_accents") ?? lower;
                bool cjk = Bool("tokenize_chinese_chars") ?? true;
                return new Settings(lower, strip, cjk, Token("unk_token", "[UNK]"), Token("cls_token", "[CLS]"), Token("sep_token", "[SEP]"),
                    Token("pad_token", "[PAD]"), Token("mask_token", "[MASK]"));
            }
        }
    }
}
