using static TorchSharp.torch;

namespace VidSeek.Video;

/// <summary>A preprocessed clip: the model input and where its frames came from. Disposing it frees <see cref="Pixels"/>.</summary>
/// <param name="Pixels">float32 <c>[F, 3, S, S]</c>, RGB, CLIP-normalised.</param>
/// <param name="Path">The video file.</param>
/// <param name="Indices">F frame indices in [0, FrameCount-1].</param>
/// <param name="Times">F frame times in seconds.</param>
/// <param name="FrameCount">The video's true number of frames.</param>
/// <param name="Fps">The container's frame rate (0 when unknown).</param>
/// <param name="Width">Decoded frame width before preprocessing.</param>
/// <param name="Height">Decoded frame height before preprocessing.</param>
public sealed record VideoClip(Tensor Pixels, string Path, int[] Indices, double[] Times, int FrameCount, double Fps, int Width, int Height)
    : IDisposable
{
    public void Dispose() => Pixels.Dispose();
}
