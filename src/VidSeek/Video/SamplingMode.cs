namespace VidSeek.Video;

/// <summary>How <see cref="FrameSampler"/> picks one frame from each of the F equal intervals of a video.</summary>
public enum SamplingMode
{
    /// <summary>The middle frame of each interval ("uniform", a.k.a. "middle"): deterministic, for evaluation and indexing.</summary>
    Uniform,

    /// <summary>A random frame of each interval ("rand"): a training augmentation.</summary>
    Random,
}
