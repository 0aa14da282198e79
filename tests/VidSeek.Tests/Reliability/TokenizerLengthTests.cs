using System.Diagnostics;
using VidSeek.Text;

namespace VidSeek.Tests.Reliability;

/// <summary>
/// Long input costs the tokenizer time linear in its length: a huge word is cut into <see cref="ClipTokenizer.MaxWordChars"/>
/// pieces, and the fixed-length encoding stops after the words it keeps. (The time bound is a hang guard for a shared machine, not a
/// speed target: measured about 1 µs per character, 4.4 s for a 5 MB caption, where the quadratic cost was about 35 min.)
/// </summary>
public sealed class TokenizerLengthTests
{
    private static readonly ClipTokenizer Tokenizer = ClipTokenizer.FromFolder(BundledTokenizer.Folder);

    [Fact]
    public void AHugeWordIsTokenizedInLinearTime()
    {
        string word = new string('a', 300_000);
        var clock = Stopwatch.StartNew();
        var all = Tokenizer.EncodeToIds(word);
        var row = Tokenizer.Encode("a cat " + new string('x', 5_000_000));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(300), $"took {clock.Elapsed.TotalSeconds:F1} s"); // a hang guard (was 35 min for 5 MB), not a speed target
        Assert.NotEmpty(all);
        Assert.Equal(77, row.Length);
        Assert.Equal(Tokenizer.EndOfTextId, row[76]); // truncated: the last slot is EOT
    }

    [Fact]
    public void WordsUpToTheCutAreTokenizedAsBefore()
    {
        // The same word alone and inside a sentence gives the same ids (each word is encoded alone, as BPE never merges
        // across words), and a 256-letter word is still one BPE word: its ids end with a token marked end-of-word.
        string word = string.Concat(Enumerable.Repeat("supercalifragilistic", 13))[..ClipTokenizer.MaxWordChars];
        var alone = Tokenizer.EncodeToIds(word);
        var inside = Tokenizer.EncodeToIds($"a {word} b");
        Assert.Equal(alone, inside.Skip(1).Take(alone.Count));
        Assert.Equal(Tokenizer.EncodeToIds("a cat on a skateboard"), Tokenizer.EncodeToIds("a cat on a skateboard", 100));
    }

    [Fact]
    public void TheFixedLengthRowOfALongTextEqualsTheRowOfItsPrefix()
    {
        string sentence = string.Join(" ", Enumerable.Range(0, 200).Select(i => $"word{i}"));
        Assert.Equal(Tokenizer.Encode(sentence), Tokenizer.Encode(sentence + " and much more"));
        var e = Assert.Throws<VidSeekException>(() => Tokenizer.Encode(sentence, truncate: false));
        Assert.Contains("too long for context length 77", e.Message);
    }

    [Fact]
    public void SurrogatePairsAreNeverCutInHalf()
    {
        string emoji = string.Concat(Enumerable.Repeat("\U0001F600", 400)); // one symbol run of 800 UTF-16 chars
        var ids = Tokenizer.EncodeToIds(emoji);
        Assert.NotEmpty(ids);
        Assert.All(ids, id => Assert.InRange(id, 0, Tokenizer.VocabSize - 1));
    }
}
