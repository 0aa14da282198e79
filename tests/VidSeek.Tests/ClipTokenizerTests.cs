using System.Text.Json;
using TorchSharp;
using VidSeek.Text;

namespace VidSeek.Tests;

public class ClipTokenizerTests
{
    private static string Folder => Path.Combine(TestPaths.Golden, "clip-tokenizer");

    // Loading parses ~1 MB of JSON and 49k merges: do it once for the whole class.
    private static readonly Lazy<ClipTokenizer> Shared = new(() => ClipTokenizer.FromFolder(Folder));
    private static ClipTokenizer Tok => Shared.Value;

    private sealed record Case(string Text, int[] BpeIds, int[] WithSpecial, long[] Context77);

    private static readonly Lazy<(int Sot, int Eot, int VocabSize, Case[] Cases)> Golden = new(() => ReadCases(Folder));

    private static (int Sot, int Eot, int VocabSize, Case[] Cases) ReadCases(string folder)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "cases.json")));
        var root = doc.RootElement;
        T[] Arr<T>(JsonElement c, string name) => c.GetProperty(name).Deserialize<T[]>()!;
        var cases = root.GetProperty("cases").EnumerateArray()
            .Select(c => new Case(c.GetProperty("text").GetString()!, Arr<int>(c, "bpe_ids"), Arr<int>(c, "with_special"), Arr<long>(c, "context_77")))
            .ToArray();
        return (root.GetProperty("sot").GetInt32(), root.GetProperty("eot").GetInt32(), root.GetProperty("vocab_size").GetInt32(), cases);
    }

    /// <summary>The golden-folder check (see <see cref="GoldenParityTests"/>): every case of the folder's cases.json, reported together.</summary>
    public static void CheckGoldenFolder(string dir)
    {
        var tok = ClipTokenizer.FromFolder(dir);
        var (sot, eot, vocabSize, cases) = ReadCases(dir);
        Assert.Equal((sot, eot, vocabSize), (tok.StartOfTextId, tok.EndOfTextId, tok.VocabSize));
        var failing = cases.Where(c => !c.BpeIds.SequenceEqual(tok.EncodeToIds(c.Text))
                || !c.WithSpecial.Select(i => (long)i).SequenceEqual(tok.Encode(c.Text, c.WithSpecial.Length, truncate: false))
                || !c.Context77.SequenceEqual(tok.Encode(c.Text)))
            .Select(c => c.Text).ToList();
        Assert.True(failing.Count == 0, $"{failing.Count} of {cases.Length} cases differ: {string.Join(" | ", failing)}");
    }

    /// <summary>One row per entry of cases.json: its index, and a short label so the test name says which text.</summary>
    public static TheoryData<int, string> GoldenCases()
    {
        var data = new TheoryData<int, string>();
        var cases = Golden.Value.Cases;
        for (int i = 0; i < cases.Length; i++)
            data.Add(i, cases[i].Text.Length <= 40 ? cases[i].Text : cases[i].Text[..37] + "...");
        return data;
    }

    [Theory]
    [MemberData(nameof(GoldenCases))]
    public void MatchesOpenAiTokenizer(int index, string label)
    {
        _ = label;
        var c = Golden.Value.Cases[index];
        Assert.Equal(c.BpeIds, Tok.EncodeToIds(c.Text));
        Assert.Equal(c.WithSpecial.Select(i => (long)i), Tok.Encode(c.Text, contextLength: c.WithSpecial.Length, truncate: false));
        Assert.Equal(c.Context77, Tok.Encode(c.Text));
    }

    [Fact]
    public void SpecialIdsAndVocabSizeComeFromVocabJson()
    {
        Assert.Equal(Golden.Value.Sot, Tok.StartOfTextId);
        Assert.Equal(Golden.Value.Eot, Tok.EndOfTextId);
        Assert.Equal(Golden.Value.VocabSize, Tok.VocabSize);
    }

    [Fact]
    public void KnownValue()
    {
        long[] row = Tok.Encode("a photo of a cat");
        Assert.Equal([49406, 320, 1125, 539, 320, 2368, 49407], row[..7]);
        Assert.All(row[7..], id => Assert.Equal(0, id));
        Assert.Equal(77, row.Length);
    }

    [Fact]
    public void SpecialTokenInTextMapsToItsId()
    {
        // openai's cache maps the literal special tokens to their ids instead of BPE-splitting them.
        Assert.Equal([320, Tok.EndOfTextId, 2368], Tok.EncodeToIds("a <|endoftext|> cat"));
    }

    [Fact]
    public void TruncationKeepsEotLast()
    {
        string text = string.Join(' ', Enumerable.Repeat("word", 100));
        long[] row = Tok.Encode(text, contextLength: 10);
        Assert.Equal(10, row.Length);
        Assert.Equal(Tok.StartOfTextId, row[0]);
        Assert.Equal(Tok.EndOfTextId, row[^1]);
        Assert.Equal(Tok.EncodeToIds(text).Take(8).Select(i => (long)i), row[1..9]);

        var e = Assert.Throws<VidSeekException>(() => Tok.Encode(text, contextLength: 10, truncate: false));
        Assert.Contains("context length 10", e.Message);
    }

    [Fact]
    public void BatchRowsMatchSingleEncodeAndTensor()
    {
        string[] texts = ["a photo of a cat", "", string.Join(' ', Enumerable.Repeat("word", 100))];
        var batch = Tok.EncodeBatch(texts);
        Assert.Equal([3L, 77L], batch.Shape);
        for (int r = 0; r < texts.Length; r++)
            Assert.Equal(Tok.Encode(texts[r]), batch.Row(r).ToArray());
        Assert.Equal([6, 1, 76], batch.EotPositions);

        using var t = batch.ToTensor();
        Assert.Equal(torch.ScalarType.Int64, t.dtype);
        Assert.Equal([3L, 77L], t.shape);
        // CLIP pools at argmax(ids), which must be the EOT position since EOT has the largest id.
        using var argmax = t.argmax(1);
        Assert.Equal(batch.EotPositions.Select(p => (long)p), argmax.data<long>().ToArray());
    }

    [Fact]
    public void MissingFolderNamesIt()
    {
        using var tmp = TestPaths.NewTempDir();
        string missing = Path.Combine(tmp.Path, "nope");
        var e = Assert.Throws<VidSeekException>(() => ClipTokenizer.FromFolder(missing));
        Assert.Contains(missing, e.Message);
    }

    [Fact]
    public void MissingMergesNamesTheFile()
    {
        using var tmp = TestPaths.NewTempDir();
        File.Copy(Path.Combine(Folder, "vocab.json"), Path.Combine(tmp.Path, "vocab.json"));
        var e = Assert.Throws<VidSeekException>(() => ClipTokenizer.FromFolder(tmp.Path));
        Assert.Contains("merges.txt", e.Message);
        Assert.DoesNotContain("vocab.json", e.Message);
        Assert.Contains(tmp.Path, e.Message);
    }

    [Fact]
    public void EmptyFolderNamesBothFiles()
    {
        using var tmp = TestPaths.NewTempDir();
        var e = Assert.Throws<VidSeekException>(() => ClipTokenizer.FromFolder(tmp.Path));
        Assert.Contains("vocab.json, merges.txt", e.Message);
    }

    [Fact]
    public void MalformedVocabNamesTheFile()
    {
        using var tmp = TestPaths.NewTempDir();
        File.WriteAllText(Path.Combine(tmp.Path, "vocab.json"), "{\"a\": 0,");
        File.WriteAllText(Path.Combine(tmp.Path, "merges.txt"), "#version: 0.2\n");
        var e = Assert.Throws<VidSeekException>(() => ClipTokenizer.FromFolder(tmp.Path));
        Assert.Contains(Path.Combine(tmp.Path, "vocab.json"), e.Message);
    }

    [Fact]
    public void MergesNotMatchingVocabNamesTheFile()
    {
        using var tmp = TestPaths.NewTempDir();
        File.WriteAllText(Path.Combine(tmp.Path, "vocab.json"), "{\"a\": 0, \"<|startoftext|>\": 1, \"<|endoftext|>\": 2}");
        File.WriteAllText(Path.Combine(tmp.Path, "merges.txt"), "#version: 0.2\na b\n");
        var e = Assert.Throws<VidSeekException>(() => ClipTokenizer.FromFolder(tmp.Path));
        Assert.Contains(Path.Combine(tmp.Path, "merges.txt"), e.Message);
    }
}
