using TorchSharp;
using static TorchSharp.torch;

namespace VidSeek.Tests;

public static class TensorAssert
{
    /// <summary>Asserts equal shapes and max |expected - actual| &lt;= atol, reporting the largest difference and where.</summary>
    public static void Close(Tensor expected, Tensor actual, double atol, string name)
    {
        Assert.True(expected.shape.SequenceEqual(actual.shape),
            $"{name}: shape [{string.Join(", ", actual.shape)}], expected [{string.Join(", ", expected.shape)}]");
        using var diff = (expected.to(ScalarType.Float64) - actual.to(ScalarType.Float64)).abs();
        double max = diff.max().item<double>();
        long at = diff.flatten().argmax().item<long>();
        Assert.True(max <= atol, $"{name}: max abs diff {max:E3} at flat index {at} exceeds {atol:E1}");
    }
}
