using static System.FormattableString;

namespace VidSeek.Data.Shapes;

/// <summary>The settings of a Shapes corpus. Everything except the output folder, <see cref="Force"/> and
/// <see cref="Workers"/> determines the corpus and is recorded in <c>shapes.json</c>.</summary>
public sealed record ShapesOptions
{
    /// <summary>Format version of the generator, written to <c>shapes.json</c>; bumped whenever a seed would give a different corpus.</summary>
    public const int GeneratorVersion = 1;

    /// <summary>The folder to write (created if missing). Needed by <see cref="ShapesGenerator.Generate"/>, not by <see cref="ShapesGenerator.Plan"/>.</summary>
    public string OutputDir { get; init; } = "";

    /// <summary>The one seed every choice derives from (any 64-bit value).</summary>
    public long Seed { get; init; }

    /// <summary>Number of videos, all splits together.</summary>
    public int Videos { get; init; } = 1000;

    /// <summary>Frame width and height in pixels; even, because the encoder's 4:2:0 chroma needs even dimensions.</summary>
    public int Size { get; init; } = 64;

    /// <summary>Frames per video; at least 6, so each of up to 3 segments has 2 frames to show its motion.</summary>
    public int Frames { get; init; } = 32;

    /// <summary>Frame rate written to the container (32 frames at 8 fps are 4 seconds).</summary>
    public double Fps { get; init; } = 8;

    /// <summary>Fraction of the videos in <c>test-novel</c> (each contains a held-out colour-shape pair).</summary>
    public double NovelFraction { get; init; } = 0.1;

    /// <summary>Fraction of the videos in <c>val</c>.</summary>
    public double ValFraction { get; init; } = 0.1;

    /// <summary>Fraction of the videos in <c>test</c>; <c>train</c> gets the rest.</summary>
    public double TestFraction { get; init; } = 0.1;

    /// <summary>
    /// Number of colour-shape pairs held out of train/val/test (default 5, about 10% of the 48), at most 6:
    /// they are chosen with pairwise different colours and shapes, so every colour and every shape is still
    /// seen in training with at least 5 partners, and <c>test-novel</c> tests new combinations, not new words.
    /// </summary>
    public int HeldOutPairs { get; init; } = 5;

    /// <summary>Videos rendered and encoded in parallel; null for one per processor. Does not change the corpus.</summary>
    public int? Workers { get; init; }

    /// <summary>Write into a non-empty <see cref="OutputDir"/> (see <see cref="ShapesGenerator.Generate"/> for what is replaced).</summary>
    public bool Force { get; init; }

    /// <summary>Checks every setting; messages name the <c>vidseek synth</c> option.</summary>
    /// <exception cref="VidSeekException">A setting is out of range.</exception>
    public void Validate()
    {
        if (Videos < 1) Fail($"--videos must be at least 1 (got {Videos})");
        if (Size < 16 || Size > 4096 || Size % 2 != 0) Fail($"--size must be an even number from 16 to 4096 (got {Size})");
        if (Frames < 6 || Frames > 100_000) Fail($"--frames must be from 6 to 100000 (got {Frames})");
        if (!double.IsFinite(Fps) || Fps <= 0 || Fps > 1000) Fail(Invariant($"--fps must be a positive number up to 1000 (got {Fps})"));
        CheckFraction("--novel-fraction", NovelFraction);
        CheckFraction("--val-fraction", ValFraction);
        CheckFraction("--test-fraction", TestFraction);
        if (NovelFraction + ValFraction + TestFraction >= 1)
            Fail(Invariant($"--novel-fraction + --val-fraction + --test-fraction must be below 1, to leave videos for train (got {NovelFraction + ValFraction + TestFraction})"));
        int maxHeldOut = Math.Min(Enum.GetValues<ObjectColor>().Length, Enum.GetValues<ObjectShape>().Length);
        if (HeldOutPairs < 0 || HeldOutPairs > maxHeldOut) Fail($"--held-out-pairs must be from 0 to {maxHeldOut} (got {HeldOutPairs})");
        if (HeldOutPairs == 0 && NovelFraction > 0) Fail("--held-out-pairs 0 leaves nothing novel: use it with --novel-fraction 0");
        if (Workers is < 1) Fail($"--workers must be at least 1 (got {Workers})");

        static void CheckFraction(string name, double value)
        {
            if (!double.IsFinite(value) || value < 0 || value >= 1) Fail(Invariant($"{name} must be in [0, 1) (got {value})"));
        }

        static void Fail(string message) => throw new VidSeekException(message);
    }
}
