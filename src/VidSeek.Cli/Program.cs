using TorchSharp;
var a = torch.randn(64, 64);
var b = a.matmul(a.T);
Console.WriteLine($"ok {b.shape[0]} {torch.__version__}");
