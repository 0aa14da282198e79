namespace VidSeek.Data.Shapes;

/// <summary>
/// SplitMix64 (Steele, Lea and Flood 2014; the generator Java's SplittableRandom and xoshiro's seeding use):
/// a 64-bit counter passed through a fixed mixing function.
/// </summary>
/// <remarks>
/// Why not <see cref="Random"/>: <c>new Random(seed)</c> is reproducible only as long as .NET keeps its
/// legacy seeded algorithm and the way <c>Next(n)</c> maps it to a range, neither of which is a documented
/// contract. These ten lines are, so a seed names the same corpus on every .NET version and platform.
/// Why SplitMix64: independent streams are one hash away (<see cref="ForStream"/>), which is what lets every
/// video be sampled from (seed, index) alone, and its output passes BigCrush, more than a scene sampler needs.
/// Ranges use rejection (no modulo bias) and doubles use the top 53 bits, both exact integer arithmetic.
/// </remarks>
internal sealed class ShapesRandom
{
    private ulong _state;

    public ShapesRandom(ulong seed) => _state = seed;

    /// <summary>An independent generator for stream <paramref name="stream"/>, item <paramref name="index"/> of a seed.</summary>
    public static ShapesRandom ForStream(long seed, ulong stream, ulong index) =>
        new(Mix(Mix(Mix(unchecked((ulong)seed)) ^ stream) ^ index));

    /// <summary>The SplitMix64 output function: a bijection of 64-bit values that scrambles every bit.</summary>
    public static ulong Mix(ulong z)
    {
        unchecked
        {
            z += 0x9E3779B97F4A7C15UL;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return z ^ (z >> 31);
        }
    }

    public ulong NextUInt64()
    {
        ulong z = _state;
        unchecked { _state += 0x9E3779B97F4A7C15UL; }
        return Mix(z);
    }

    /// <summary>Uniform integer in <c>[0, n)</c>.</summary>
    public int Next(int n)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(n, 1);
        ulong bound = (ulong)n;
        ulong limit = ulong.MaxValue - ulong.MaxValue % bound; // accept [0, limit): a whole number of copies of [0, n)
        ulong r;
        do r = NextUInt64(); while (r >= limit);
        return (int)(r % bound);
    }

    /// <summary>Uniform double in <c>[0, 1)</c>.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform double in <c>[lo, hi)</c>.</summary>
    public double Uniform(double lo, double hi) => lo + (hi - lo) * NextDouble();

    public T Pick<T>(IReadOnlyList<T> items) => items[Next(items.Count)];

    /// <summary>Fisher-Yates shuffle in place.</summary>
    public void Shuffle<T>(IList<T> items)
    {
        for (int i = items.Count - 1; i > 0; i--)
        {
            int j = Next(i + 1);
            (items[i], items[j]) = (items[j], items[i]);
        }
    }
}
