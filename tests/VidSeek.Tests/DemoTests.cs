namespace VidSeek.Tests;

/// <summary><c>vidseek demo</c>, the README's first command, end to end with the shipped model.</summary>
[Collection(ProcessStateCollection.Name)]
public class DemoTests
{
    [Fact]
    public void DemoIndexesSearchesAndReproducesTheRecordedMetrics()
    {
        using var work = TestPaths.NewTempDir();
        var (code, stdout, stderr) = CliRunner.Run("demo", "--work", work.Path);
        Assert.True(code == 0, stderr + stdout);
        Assert.Contains("1/4 corpus: 800 Shapes videos", stdout);
        Assert.Contains("2/4 index: 80 test videos", stdout);
        Assert.Equal(3, stdout.Split('\n').Count(l => l.StartsWith("  ground truth: video", StringComparison.Ordinal)));
        Assert.Contains("attention per frame", stdout);
        Assert.Contains("the measured R@1 equal the recorded ones", stdout);
        Assert.True(File.Exists(Path.Combine(work.Path, "demo.vsi")));
        Assert.Contains("stands out more than for ", stdout);                // each example query says what its scores mean

        // The calibration was stored at index time, and tells unrelated text from the test split's own captions on the shipped model.
        using (var searcher = VidSeek.Index.VideoSearcher.Open(Path.Combine(work.Path, "demo.vsi")))
        {
            var stored = VidSeek.Index.ScoreCalibration.Read(searcher.Index);
            Assert.True(stored is not null && stored.IsCurrentFor(searcher.Index));
            // Each segment's bank statistics belong to that segment (the store returns segments in its own order, path order,
            // not the sample's): scored alone, a segment's bank mean and spread are the stored ones.
            var bank = VidSeek.Index.ScoreCalibration.Bank.Captions;
            foreach (int j in new[] { 0, 7, 41, 79 })
            {
                long id = stored.SegmentIds[j];
                var alone = VidSeek.Index.ScoreCalibration.BankScores(searcher.Index, searcher.Model, bank, [id]).Select(r => (double)r[0]).ToArray();
                double mean = alone.Average();
                Assert.Equal(mean, stored.SegmentMean[j], 4);
                Assert.Equal(Math.Sqrt(alone.Average(x => (x - mean) * (x - mean))), stored.SegmentStd[j], 4);
            }
            foreach (var unrelated in new[] { "asdkjh qwe", "a cat on a skateboard", "quarterly tax report" })
                Assert.True(VidSeek.Index.SearchHit.Verdict(searcher.Search(unrelated, 5)) == "no good match", unrelated);
            var captions = searcher.Videos.SelectMany(v => v.Captions).Distinct().Take(40).ToList();
            int good = captions.Count(c => VidSeek.Index.SearchHit.Verdict(searcher.Search(c, 5)) == "good match");
            Assert.True(good > captions.Count / 2, $"only {good} of {captions.Count} test captions are a good match");
        }

        // A second run reuses the corpus and the index: nothing is encoded again.
        var again = CliRunner.Run("demo", "--work", work.Path, "--queries", "1");
        Assert.True(again.Code == 0, again.Err);
        Assert.Contains("(0 encoded now", again.Out);
    }
}
