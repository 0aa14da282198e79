using TorchSharp;
using static TorchSharp.torch;

namespace VidSeek.Models;

/// <summary>Numeric precision of the CLIP towers at inference.</summary>
public enum Precision
{
    /// <summary>Everything in float32 (the default).</summary>
    Fp32,
    /// <summary>
    /// The matrix multiplications (every Linear and the patch convolution) in bfloat16, which libtorch runs through
    /// oneDNN on CPUs with AVX512-BF16; LayerNorm, the residual stream, embeddings and outputs stay float32 (a hand-made
    /// version of PyTorch's CPU autocast, which TorchSharp does not offer). See <see cref="Clip.ClipModel.SetPrecision"/>.
    /// </summary>
    Bf16,
}

/// <summary>The precision that inference loads give the CLIP towers.</summary>
public static class InferencePrecision
{
    /// <summary>
    /// Applied by <see cref="DualEncoder.RetrievalCheckpoint.Open"/> (eval, index, search, serve) after loading; the CLI's
    /// <c>--precision</c> sets it once per process. Training never reads it.
    /// </summary>
    public static Precision Current { get; set; } = Precision.Fp32;

    /// <summary><c>fp32</c> or <c>bf16</c>; anything else is a <see cref="VidSeekException"/> naming the option.</summary>
    public static Precision Parse(string value, string option = "--precision") => value.ToLowerInvariant() switch
    {
        "fp32" or "float32" => Precision.Fp32,
        "bf16" or "bfloat16" => Precision.Bf16,
        _ => throw new VidSeekException($"{option} '{value}' is not one of fp32, bf16"),
    };

    public static ScalarType ScalarType(this Precision p) => p == Precision.Bf16 ? torch.ScalarType.BFloat16 : torch.ScalarType.Float32;
}
