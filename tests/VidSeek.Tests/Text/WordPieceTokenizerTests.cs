using TorchSharp;
using VidSeek.Models.Vlt;
using VidSeek.Tests.Vlt;
using VidSeek.Text;

namespace VidSeek.Tests.Text;

/// <summary>
/// The WordPiece tokenizer on a hand-written <c>vocab.txt</c>; every expected id list below was worked out by hand from HF
/// <c>BertTokenizer</c>'s rules (clean-up, lower-case, strip accents, split on whitespace and punctuation, greedy longest
/// match with <c>##</c> continuations, a word that cannot be covered is one <c>[UNK]</c>).
/// </summary>
public class WordPieceTokenizerTests
{
    // id = line number.
    private static readonly string[] Vocab =
    [
        "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",   // 0-4
        "a", "red", "circle", "moves", "left",          // 5-9
        "cafe", "##s", "play", "##ing", ",",            // 10-14
        ".", "!", "the", "café", "Red",                 // 15-19
        "un", "##know", "##n",                          // 20-22
    ];

    private static string Folder(TestPaths.TempDir tmp, string? tokenizerConfig = null)
    {
        string dir = Path.Combine(tmp.Path, Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        File.WriteAllLines(Path.Combine(dir, "vocab.txt"), Vocab);
        if (tokenizerConfig is not null) File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), tokenizerConfig);
        return dir;
    }

    private static long[] Ids(WordPieceTokenizer tok, string text, int max = 64) => tok.Encode(text, max);

    [Fact]
    public void UncasedDefaultsLowerCaseStripAccentsAndSplitPunctuation()
    {
        using var tmp = TestPaths.NewTempDir();
        var tok = WordPieceTokenizer.FromFolder(Folder(tmp)); // no tokenizer_config.json: BERT uncased defaults
        Assert.True(tok.LowerCase);
        Assert.True(tok.StripAccents);
        Assert.Equal((23, 2, 3, 0, 1), (tok.VocabSize, tok.ClsId, tok.SepId, tok.PadId, tok.UnkId));

        Assert.Equal([2, 5, 6, 7, 8, 9, 15, 3], Ids(tok, "A Red circle moves LEFT."));    // lower-cased; "." split off
        Assert.Equal([2, 10, 3], Ids(tok, "Café"));                                       // é -> e
        Assert.Equal([2, 10, 11, 3], Ids(tok, "CAFÉS"));                                  // cafe ##s
        Assert.Equal([2, 6, 14, 7, 16, 3], Ids(tok, "red,circle!"));                      // punctuation is a word of its own
        Assert.Equal([2, 12, 13, 16, 3], Ids(tok, "playing!"));                           // play ##ing
        Assert.Equal([2, 20, 21, 22, 3], Ids(tok, "unknown"));                            // un ##know ##n (longest match first)
        Assert.Equal([2, 1, 6, 3], Ids(tok, "zebra red"));                                // an unknown word is [UNK]
        Assert.Equal([2, 1, 3], Ids(tok, "playx"));                                       // "play" matches, "##x" does not: the whole word is [UNK]
        Assert.Equal([2, 17, 7, 3], Ids(tok, "  the\tcircle\n"));                         // any whitespace separates
    }

    [Fact]
    public void TruncationKeepsClsAndSep()
    {
        using var tmp = TestPaths.NewTempDir();
        var tok = WordPieceTokenizer.FromFolder(Folder(tmp));
        Assert.Equal([2, 5, 6, 3], Ids(tok, "a red circle moves left", max: 4));
        Assert.Equal([2, 5, 6, 7, 8, 9, 3], Ids(tok, "a red circle moves left", max: 7));  // exactly fits
        Assert.Equal([2, 12, 3], Ids(tok, "playing", max: 3));                            // cuts inside a word's pieces
        Assert.Equal([2, 3], Ids(tok, "", max: 8));
    }

    [Fact]
    public void CasedAndAccentSettingsFollowTokenizerConfig()
    {
        using var tmp = TestPaths.NewTempDir();
        // Cased (bert-base-cased): no lower-casing and, strip_accents unset, no accent stripping either.
        var cased = WordPieceTokenizer.FromFolder(Folder(tmp, """{"do_lower_case": false}"""));
        Assert.Equal([2, 19, 6, 18, 3], Ids(cased, "Red red café"));
        Assert.Equal([2, 1, 3], Ids(cased, "RED"));
        // Lower-case but keep accents.
        var keep = WordPieceTokenizer.FromFolder(Folder(tmp, """{"do_lower_case": true, "strip_accents": false}"""));
        Assert.Equal([2, 18, 3], Ids(keep, "Café"));
        // Strip accents without lower-casing; special tokens given as HF AddedToken objects.
        var strip = WordPieceTokenizer.FromFolder(Folder(tmp, """{"do_lower_case": false, "strip_accents": true, "unk_token": {"content": "[UNK]"}}"""));
        Assert.Equal([2, 10, 19, 3], Ids(strip, "café Red"));
    }

    [Fact]
    public void BadFoldersAreNamedErrors()
    {
        using var tmp = TestPaths.NewTempDir();
        var missing = Assert.Throws<VidSeekException>(() => WordPieceTokenizer.FromFolder(tmp.Path));
        Assert.Contains("vocab.txt not found", missing.Message);
        var badJson = Assert.Throws<VidSeekException>(() => WordPieceTokenizer.FromFolder(Folder(tmp, "{ nope")));
        Assert.Contains("tokenizer_config.json", badJson.Message);
        var noToken = Assert.Throws<VidSeekException>(() => WordPieceTokenizer.FromFolder(Folder(tmp, """{"unk_token": "<unk>"}""")));
        Assert.Contains("<unk> (unk_token) is not in the vocabulary", noToken.Message);
    }

    [Fact]
    public void VltTokenizerPadsABatchAndFollowsTheCheckpointsRecord()
    {
        using var tmp = TestPaths.NewTempDir();
        string dir = Folder(tmp);
        var tok = VltTextTokenizer.FromFolder(dir, maxLength: 6);
        Assert.Equal(VltTextTokenizer.WordPiece, tok.Kind);
        Assert.Equal([Path.Combine(dir, "vocab.txt")], tok.Files);
        var (ids, mask) = tok.Tokenize(["a red circle", "left", "a red circle moves left playing"]);
        Assert.Equal(new long[] { 3, 6 }, ids.shape);
        Assert.Equal(new long[] { 2, 5, 6, 7, 3, 0, 2, 9, 3, 0, 0, 0, 2, 5, 6, 7, 8, 3 }, ids.data<long>().ToArray());
        Assert.Equal(new long[] { 1, 1, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1 }, mask.data<long>().ToArray());

        // A checkpoint that records wordpiece needs vocab.txt; one without the record is a CLIP BPE model (all older ones).
        var config = VltTestKit.TinyModel(FusionKind.V2T) with { Tokenizer = VltTextTokenizer.WordPiece };
        Assert.Equal(VltTextTokenizer.WordPiece, VltTextTokenizer.ForModel(dir, config).Kind);
        var noBpe = Assert.Throws<VidSeekException>(() => VltTextTokenizer.ForModel(dir, config with { Tokenizer = null }));
        Assert.Contains("vocab.json", noBpe.Message);
        var tooBig = Assert.Throws<VidSeekException>(() => VltTextTokenizer.ForModel(dir, config with { Text = config.Text with { VocabSize = 20 } }));
        Assert.Contains("23 tokens but the text encoder's vocab_size is 20", tooBig.Message);
        Assert.Equal(VltTextTokenizer.ClipBpe, VltTextTokenizer.ForModel(Path.Combine(TestPaths.Golden, "clip-tokenizer"),
            VltTestKit.TinyModel(FusionKind.V2T) with { Text = VltTestKit.TinyText with { VocabSize = 49408 } }).Kind);
    }
}
