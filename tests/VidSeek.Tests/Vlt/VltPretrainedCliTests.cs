using System.Text.Json;
using VidSeek.Models.Vlt;
using VidSeek.Tests.Training;
using VidSeek.Training;

namespace VidSeek.Tests.Vlt;

/// <summary>
/// <c>vidseek train --model vlt --init-text BERT --init-vision CLIP</c> end to end: a few steps from a tiny HF BERT (BertForMaskedLM
/// layout) and the tiny CLIP, then <c>eval</c>, <c>index</c> and <c>search</c> with the saved checkpoint, which carries the WordPiece
/// tokenizer (a CLIP BPE tokenizer could not even load for it: the checkpoint has no vocab.json and a 120-token vocabulary).
/// </summary>
[Collection(ProcessStateCollection.Name)]
public class VltPretrainedCliTests
{
    private static string ClipTiny => Path.Combine(TestPaths.Golden, "clip-tiny");

    [Fact]
    public void TrainFromPretrainedEncodersThenEvalIndexAndSearchWithWordPiece()
    {
        using var tmp = TestPaths.NewTempDir();
        string data = Path.Combine(tmp.Path, "data"), run = Path.Combine(tmp.Path, "run");
        TrainEvalCliTests.WriteCorpus(data);
        string bert = TinyBertFolder.Write(Path.Combine(tmp.Path, "bert"), maskedLm: true);

        var first = CliRunner.Run("train", "--model", "vlt", "--fusion", "v2t", "--init-text", bert, "--init-vision", ClipTiny, "--data", data,
            "--val-split", "val", "--out", run, "--epochs", "1", "--batch-size", "3", "--frames", "2", "--eval-frames", "2", "--rerank-k", "2", "--max-steps", "1");
        Assert.True(first.Code == 0, first.Err);
        Assert.Contains("stopped at step 1 of 2", first.Out);
        var resumed = CliRunner.Run("train", "--resume", run);
        Assert.True(resumed.Code == 0, resumed.Err);
        Assert.Contains("done: 2 steps", resumed.Out);

        foreach (var folder in new[] { "checkpoint", "best" })
        {
            string dir = Path.Combine(run, folder);
            var config = VideoLanguageConfig.Load(Path.Combine(dir, "config.json"));
            Assert.Equal("wordpiece", config.Tokenizer);
            // vindlu-b's architecture with the sources' sizes: 3 fusion layers of the 4-layer BERT, the CLIP ViT's 32 px frames.
            Assert.Equal((4, 1, 120, 64, 32), (config.Text.NumHiddenLayers, config.Text.TextLayers, config.Text.VocabSize, config.Text.VideoWidth, config.Video.ImageSize));
            Assert.True(File.ReadAllLines(Path.Combine(dir, "vocab.txt")).SequenceEqual(File.ReadAllLines(Path.Combine(bert, "vocab.txt"))));
            Assert.True(File.Exists(Path.Combine(dir, "tokenizer_config.json")));
            Assert.False(File.Exists(Path.Combine(dir, "vocab.json")));
        }
        Assert.Equal(1e-5, TrainingState.Load(Path.Combine(run, "checkpoint", "trainer_state.json")).Options.ClipLr);

        var eval = CliRunner.Run("eval", "--checkpoint", Path.Combine(run, "best"), "--data", data, "--split", "val", "--frames", "2", "--rerank-k", "3", "--json");
        Assert.True(eval.Code == 0, eval.Err);
        using (var doc = JsonDocument.Parse(eval.Out))
            Assert.Equal(12, doc.RootElement.GetProperty("stages").GetProperty("itm-reranked").GetProperty("all").GetProperty("t2v").GetProperty("queries").GetInt32());

        string index = Path.Combine(tmp.Path, "vlt.vsi");
        var built = CliRunner.Run("index", "--data", data, "--split", "val", "--model", Path.Combine(run, "best"), "--out", index, "--frames", "2");
        Assert.True(built.Code == 0, built.Err);
        var search = CliRunner.Run("search", index, "Video number 3 with colour bars!", "-k", "3", "--rerank-k", "2");
        Assert.True(search.Code == 0, search.Err);
        Assert.Contains("ITM score", search.Out);
    }

    [Fact]
    public void BadInitOptionsAreOneLineErrors()
    {
        using var tmp = TestPaths.NewTempDir();
        string data = Path.Combine(tmp.Path, "data");
        TrainEvalCliTests.WriteCorpus(data);
        string bert = TinyBertFolder.Write(Path.Combine(tmp.Path, "bert"), maskedLm: false);

        var xpool = CliRunner.Run("train", "--model", "xpool", "--clip-config", "tiny", "--init-text", bert, "--data", data, "--out", Path.Combine(tmp.Path, "a"));
        Assert.NotEqual(0, xpool.Code);
        Assert.Contains("--init-text and --init-vision are for --model vlt", xpool.Err + xpool.Out);

        var named = CliRunner.Run("train", "--model", "vlt", "--vlt-config", "vindlu-b", "--init-text", bert, "--data", data, "--out", Path.Combine(tmp.Path, "b"));
        Assert.Equal(1, named.Code);
        Assert.Contains("error: ", named.Err);
        Assert.Contains("vocab_size is 120, but --vlt-config vindlu-b has text.vocab_size = 30522", named.Err);

        File.Delete(Path.Combine(bert, "vocab.txt"));
        var noVocab = CliRunner.Run("train", "--model", "vlt", "--fusion", "v2t", "--init-text", bert, "--init-vision", ClipTiny, "--data", data, "--out", Path.Combine(tmp.Path, "c"));
        Assert.Equal(1, noVocab.Code);
        Assert.Contains("has no vocab.txt: give --tokenizer DIR", noVocab.Err);

        var missing = CliRunner.Run("train", "--model", "vlt", "--init-vision", Path.Combine(tmp.Path, "nowhere"), "--data", data, "--out", Path.Combine(tmp.Path, "d"));
        Assert.Equal(1, missing.Code);
        Assert.Contains("--init-vision", missing.Err);
        Assert.False(Directory.Exists(Path.Combine(tmp.Path, "b")) && Directory.EnumerateFileSystemEntries(Path.Combine(tmp.Path, "b")).Any());
    }
}
