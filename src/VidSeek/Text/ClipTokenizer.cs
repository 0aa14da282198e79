using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace VidSeek.Text;

/// <summary>
/// The OpenAI CLIP byte-level BPE tokenizer (openai/CLIP <c>SimpleTokenizer</c> and <c>clip.tokenize</c>),
/// loaded from a Hugging Face style folder holding <c>vocab.json</c> and <c>merges.txt</c>.
/// </summary>
/// <remarks>
/// Microsoft.ML.Tokenizers does the heavy lifting: <see cref="BpeTokenizer"/> with <c>ByteLevel = true</c>
/// maps each pre-token's UTF-8 bytes to the GPT-2 <c>bytes_to_unicode</c> alphabet, appends
/// <c>EndOfWordSuffix = "&lt;/w&gt;"</c> to the last symbol and applies the merges by priority, and its
/// <see cref="RegexPreTokenizer"/> does the splitting. Written by hand, because they are CLIP's own
/// conventions and the library has no preset for them: the text clean-up (<see cref="ClipNormalizer"/>),
/// the split pattern, and the SOT/EOT framing, truncation and padding of <c>clip.tokenize</c>.
/// Instances are safe to share between threads.
/// </remarks>
public sealed partial class ClipTokenizer
{
    public const string VocabFile = "vocab.json";
    public const string MergesFile = "merges.txt";
    public const string StartOfText = "<|startoftext|>";
    public const string EndOfText = "<|endoftext|>";

    private readonly BpeTokenizer _bpe;

    /// <summary>Number of entries in <c>vocab.json</c> (49,408 for CLIP), the special tokens included.</summary>
    public int VocabSize { get; }

    /// <summary>Id of <c>&lt;|startoftext|&gt;</c>, read from <c>vocab.json</c> (49406 for CLIP).</summary>
    public int StartOfTextId { get; }

    /// <summary>Id of <c>&lt;|endoftext|&gt;</c>, read from <c>vocab.json</c> (49407 for CLIP).</summary>
    public int EndOfTextId { get; }

    private ClipTokenizer(BpeTokenizer bpe, int vocabSize, int sot, int eot)
    {
        _bpe = bpe;
        VocabSize = vocabSize;
        StartOfTextId = sot;
        EndOfTextId = eot;
    }

    /// <summary>Loads <c>vocab.json</c> and <c>merges.txt</c> from <paramref name="folder"/>.</summary>
    /// <exception cref="VidSeekException">The folder or a file is missing, or a file is malformed.</exception>
    public static ClipTokenizer FromFolder(string folder)
    {
        ArgumentNullException.ThrowIfNull(folder);
        string vocabPath = Path.Combine(folder, VocabFile), mergesPath = Path.Combine(folder, MergesFile);
        if (!Directory.Exists(folder))
            throw new VidSeekException($"tokenizer folder not found: {folder} (it should hold {VocabFile} and {MergesFile})");
        string[] missing = [.. new[] { VocabFile, MergesFile }.Where(f => !File.Exists(Path.Combine(folder, f)))];
        if (missing.Length > 0)
            throw new VidSeekException($"tokenizer files not found in {folder}: {string.Join(", ", missing)}");

        // Parsed here rather than by the library's file loader: we need the special ids and the size, and
        // a JSON error must name the file.
        Dictionary<string, int> vocab;
        try
        {
            using var stream = File.OpenRead(vocabPath);
            vocab = JsonSerializer.Deserialize<Dictionary<string, int>>(stream)
                    ?? throw new VidSeekException($"{vocabPath}: expected a JSON object of token -> id, got null");
        }
        catch (JsonException e)
        {
            throw new VidSeekException($"{vocabPath}: malformed JSON ({e.Message})", e);
        }

        int Special(string token) => vocab.TryGetValue(token, out int id)
            ? id : throw new VidSeekException($"{vocabPath}: special token {token} is missing");
        int sot = Special(StartOfText), eot = Special(EndOfText);

        // BpeOptions.Merges takes bare "left right" lines; unlike the library's own file reader it does not
        // skip the "#version" header, so drop it (and blank lines) here.
        var merges = File.ReadLines(mergesPath).Where(l => l.Length > 0 && !l.StartsWith("#version", StringComparison.Ordinal));

        var options = new BpeOptions(vocab)
        {
            Merges = merges,
            Normalizer = new ClipNormalizer(),
            PreTokenizer = new RegexPreTokenizer(SplitRegex(), null),
            // So that "<|endoftext|>" typed in a text maps to its id, as in openai's cache, instead of being BPE-split.
            SpecialTokens = new Dictionary<string, int> { [StartOfText] = sot, [EndOfText] = eot },
            ByteLevel = true,
            EndOfWordSuffix = "</w>",
        };
        try
        {
            return new ClipTokenizer(BpeTokenizer.Create(options), vocab.Count, sot, eot);
        }
        catch (InvalidOperationException e) // bad merge line, or a merge whose parts are not in the vocabulary
        {
            throw new VidSeekException($"{mergesPath} does not match {vocabPath}: {e.Message}", e);
        }
    }

    /// <summary>
    /// Longest pre-token (run of letters, or of symbols) given to BPE in one piece; a longer one is cut into pieces of this
    /// many characters. BPE's merge loop costs time quadratic in the word's length (a 300,000-letter word took 7.7 s, a
    /// 5 MB one about 35 minutes), so without the cut one pasted blob stalls a search or a training run. The cut changes
    /// nothing for words up to 256 characters (longer than any word of any language; CLIP's longest token is far
    /// shorter); a longer word is tokenized as consecutive 256-character words, where openai's tokenizer would have
    /// merged across the cuts.
    /// </summary>
    public const int MaxWordChars = 256;

    private static readonly ClipNormalizer Normalizer = new();

    /// <summary>BPE ids of <paramref name="text"/>, without SOT/EOT (openai <c>SimpleTokenizer.encode</c>).</summary>
    public IReadOnlyList<int> EncodeToIds(string text) => EncodeToIds(text, int.MaxValue);

    /// <summary>
    /// The first ids of <paramref name="text"/> (at least <paramref name="limit"/> when the text has that many): words after
    /// the limit is reached are not tokenized, so a long text costs time for the part that is kept, plus one linear pass
    /// of clean-up and splitting. Words are split as openai's pattern does and each is encoded alone, as BPE never
    /// merges across them.
    /// </summary>
    public IReadOnlyList<int> EncodeToIds(string text, int limit)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>(Math.Min(limit, 128));
        string normalized = Normalizer.Normalize(text);
        foreach (var match in SplitRegex().EnumerateMatches(normalized))
        {
            var word = normalized.AsSpan(match.Index, match.Length);
            if (word.SequenceEqual(StartOfText)) ids.Add(StartOfTextId);
            else if (word.SequenceEqual(EndOfText)) ids.Add(EndOfTextId);
            else
                for (int at = 0; at < word.Length; at += MaxWordChars)
                {
                    var piece = word.Slice(at, Math.Min(MaxWordChars, word.Length - at));
                    // A cut must not split a surrogate pair: move it one char back (pieces stay non-empty).
                    if (piece.Length == MaxWordChars && at + piece.Length < word.Length && char.IsHighSurrogate(piece[^1]))
                    {
                        piece = piece[..^1];
                        at--;
                    }
                    ids.AddRange(_bpe.EncodeToIds(piece, considerPreTokenization: false, considerNormalization: false));
                }
            if (ids.Count >= limit) break;
        }
        return ids;
    }

    /// <summary>
    /// One row of openai <c>clip.tokenize</c>: SOT + ids + EOT, zero-padded to <paramref name="contextLength"/>.
    /// A text too long for it keeps its first <c>contextLength - 2</c> ids, so EOT is still the last token,
    /// or, with <paramref name="truncate"/> false, throws <see cref="VidSeekException"/>.
    /// </summary>
    public long[] Encode(string text, int contextLength = 77, bool truncate = true)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(contextLength, 2);
        var row = new long[contextLength];
        EncodeInto(text, row, truncate);
        return row;
    }

    /// <summary><see cref="Encode"/> for each text (with truncation), as one <c>[B, contextLength]</c> batch.</summary>
    public TokenBatch EncodeBatch(IReadOnlyList<string> texts, int contextLength = 77)
    {
        ArgumentNullException.ThrowIfNull(texts);
        ArgumentOutOfRangeException.ThrowIfLessThan(contextLength, 2);
        var ids = new long[texts.Count * contextLength];
        var eot = new int[texts.Count];
        for (int i = 0; i < texts.Count; i++)
            eot[i] = EncodeInto(texts[i], ids.AsSpan(i * contextLength, contextLength), truncate: true);
        return new TokenBatch(ids, texts.Count, contextLength, eot);
    }

    /// <summary>Writes SOT + ids + EOT into the zeroed <paramref name="row"/>; returns the EOT position.</summary>
    private int EncodeInto(string text, Span<long> row, bool truncate)
    {
        // One id more than fits tells "too long" apart from "exactly full".
        var ids = EncodeToIds(text, row.Length - 1);
        int n = ids.Count;
        if (n > row.Length - 2)
        {
            if (!truncate)
                throw new VidSeekException($"text is too long for context length {row.Length} (more than {row.Length - 2} tokens between SOT and EOT): \"{Shorten(text)}\"");
            n = row.Length - 2;
        }
        row[0] = StartOfTextId;
        for (int i = 0; i < n; i++) row[i + 1] = ids[i];
        row[n + 1] = EndOfTextId;
        return n + 1;
    }

    private static string Shorten(string s) => s.Length <= 60 ? s : s[..57] + "...";

    // openai's pattern, compiled with re.IGNORECASE; the specials come first so they are never split.
    [GeneratedRegex(@"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+",
        RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex SplitRegex();

    // Python's re "\s" (str.isspace) also counts the separators U+001C..U+001F, .NET's "\s" does not.
    [GeneratedRegex(@"[\s\x1c-\x1f]+")]
    private static partial Regex WhitespaceRun();

    /// <summary>
    /// openai's <c>basic_clean</c> + <c>whitespace_clean</c> + <c>lower()</c>: HTML-unescape twice, collapse
    /// whitespace runs to one space, strip, lower-case. <c>ftfy.fix_text</c> (repairs mis-decoded text) is
    /// not reproduced. Known small gaps to Python: <see cref="WebUtility.HtmlDecode"/> needs the ';' that
    /// <c>html.unescape</c> may do without, and invariant lower-casing is 1:1 per char (Python maps "İ" to two).
    /// </summary>
    private sealed class ClipNormalizer : Normalizer
    {
        public override string Normalize(string original)
        {
            string s = WebUtility.HtmlDecode(WebUtility.HtmlDecode(original));
            // After collapsing, every whitespace run is one ' ', so trimming ' ' is Python's strip().
            return WhitespaceRun().Replace(s, " ").Trim(' ').ToLowerInvariant();
        }

        public override string Normalize(ReadOnlySpan<char> original) => Normalize(original.ToString());
    }
}
