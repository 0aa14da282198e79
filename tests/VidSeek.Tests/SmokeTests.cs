using TorchSharp;
namespace VidSeek.Tests;
public class SmokeTests
{
    [Fact]
    public void TorchSharpLoadsAndMultiplies()
    {
        using var a = torch.ones(2, 3);
        using var b = torch.ones(3, 4);
        using var c = a.matmul(b);
        Assert.Equal(3f, c[1, 2].item<float>());
    }
}
