namespace VidSeek.Video;

/// <summary>A crop rectangle in pixels: left column <see cref="X"/>, top row <see cref="Y"/>, size <see cref="Width"/> x <see cref="Height"/>.</summary>
public readonly record struct CropBox(int X, int Y, int Width, int Height);
