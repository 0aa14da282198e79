using VidSeek.Data.Shapes;

namespace VidSeek.Tests.Shapes;

/// <summary>One small generated corpus (12 videos of 32 x 32, seed 7) shared by the tests that only read it.</summary>
public sealed class ShapesCorpusFixture : IDisposable
{
    public const int Seed = 7;
    public const int Videos = 12;
    public const int Size = 32;

    private readonly TestPaths.TempDir _tmp = TestPaths.NewTempDir();

    public ShapesCorpusFixture()
    {
        Options = new ShapesOptions { OutputDir = Path.Combine(_tmp.Path, "corpus"), Seed = Seed, Videos = Videos, Size = Size, Workers = 1 };
        Corpus = ShapesGenerator.Generate(Options);
    }

    public ShapesOptions Options { get; }
    public ShapesCorpus Corpus { get; }
    public string Dir => Options.OutputDir;

    /// <summary>A fresh folder for a test that writes its own corpus.</summary>
    public string NewDir(string name) => Path.Combine(_tmp.Path, name);

    public void Dispose() => _tmp.Dispose();
}
