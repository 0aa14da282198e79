namespace VidSeek.Video;

/// <summary>Decode + preprocess in one call: a video file to a CLIP-ready <c>[F, 3, S, S]</c> tensor.</summary>
public static class VideoClipLoader
{
    /// <summary>
    /// Samples <paramref name="numFrames"/> frames of <paramref name="path"/> (<see cref="VideoReader.Read"/>)
    /// and preprocesses them (<see cref="ClipImagePreprocessor"/>).
    /// </summary>
    /// <param name="path">The video file.</param>
    /// <param name="numFrames">F.</param>
    /// <param name="imageSize">S, from the model's config.</param>
    /// <param name="mode">Frame sampling: middle of each interval, or random.</param>
    /// <param name="rng">Random source for random sampling and cropping; <see cref="Random.Shared"/> when null.</param>
    /// <param name="randomResizedCrop">Training augmentation: one random crop box for the clip instead of the centre crop.</param>
    /// <returns>The clip; the caller disposes it.</returns>
    /// <exception cref="VidSeekException">The file cannot be read as a video.</exception>
    public static VideoClip Load(string path, int numFrames, int imageSize = ClipImagePreprocessor.DefaultImageSize,
        SamplingMode mode = SamplingMode.Uniform, Random? rng = null, bool randomResizedCrop = false)
    {
        var frames = VideoReader.Read(path, numFrames, mode, rng);
        var preprocessor = new ClipImagePreprocessor(imageSize);
        var pixels = randomResizedCrop
            ? preprocessor.ProcessRandomResizedCrop(frames, rng ?? Random.Shared)
            : preprocessor.Process(frames);
        return new VideoClip(pixels, frames.Path, frames.Indices, frames.Times, frames.FrameCount, frames.Fps, frames.Width, frames.Height);
    }
}
