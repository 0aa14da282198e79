using TorchSharp;
using static TorchSharp.torch;

namespace VidSeek.Tensors;

/// <summary>
/// Tensor arithmetic whose <see cref="Scalar"/> arguments stay alive for the whole native call.
/// </summary>
/// <remarks>
/// Why this exists: TorchSharp 0.107 turns a number into a <see cref="Scalar"/> (a finalizable wrapper of a native
/// <c>c10::Scalar</c>) and passes only its handle to libtorch, e.g. <c>a + b</c> is <c>a.add(b, alpha: 1)</c> with a
/// temporary <c>Scalar(1)</c>, <c>x * 0.5</c> a temporary <c>Scalar(0.5)</c>. Nothing keeps that object reachable during the
/// native call, so a garbage collection triggered by another thread can finalize it and free the native scalar while
/// libtorch still reads it (upstream: dotnet/TorchSharp#1434, #1496). It stopped one of three concurrent
/// <c>vidseek index --threads 1</c> processes ("Expected false to be true" in <c>c10::Scalar::toFloat</c>; docs/RELIABILITY.md).
/// The rule in VidSeek's code, checked by <c>ScalarLifetimeTests</c> over every source file: no implicit number-to-Scalar
/// conversion and no Tensor operator that makes one (<c>+</c> between tensors, any operator with a number). Instead:
/// <list type="bullet">
/// <item>constants are the rooted static scalars below (never finalized);</item>
/// <item>other numbers become a <c>using var s = value.ToScalar();</c> local, which the <c>Dispose</c> at the end of its
/// scope keeps alive through the call;</item>
/// <item><see cref="Plus"/>, <see cref="Times"/> and <see cref="DividedBy"/> for the common cases.</item>
/// </list>
/// Tensor-tensor <c>-</c>, <c>*</c> and <c>/</c> take no scalar and stay operators.
/// </remarks>
public static class Scalars
{
    /// <summary>1, the <c>alpha</c> of an addition and the fill of LayerNorm weights.</summary>
    public static readonly Scalar One = 1.ToScalar();

    public static readonly Scalar Zero = 0.ToScalar();

    public static readonly Scalar NegativeInfinity = double.NegativeInfinity.ToScalar();

    /// <summary><c>a + b</c> (broadcasting) with a rooted <c>alpha</c>.</summary>
    public static Tensor Plus(this Tensor a, Tensor b) => a.add(b, One);

    /// <summary><c>a += b</c> in place, with a rooted <c>alpha</c>.</summary>
    public static Tensor PlusInPlace(this Tensor a, Tensor b) => a.add_(b, One);

    /// <summary><c>a * factor</c>; the scalar lives until the product is made.</summary>
    public static Tensor Times(this Tensor a, double factor)
    {
        using var s = factor.ToScalar();
        return a.mul(s);
    }

    /// <summary><c>a * factor</c> for integer tensors (an integer scalar keeps an Int64 tensor Int64).</summary>
    public static Tensor Times(this Tensor a, long factor)
    {
        using var s = factor.ToScalar();
        return a.mul(s);
    }

    /// <summary><c>a / divisor</c>; the scalar lives until the quotient is made.</summary>
    public static Tensor DividedBy(this Tensor a, double divisor)
    {
        using var s = divisor.ToScalar();
        return a.div(s);
    }

    /// <summary><c>a /= divisor</c> in place.</summary>
    public static Tensor DivideInPlace(this Tensor a, double divisor)
    {
        using var s = divisor.ToScalar();
        return a.div_(s);
    }
}
