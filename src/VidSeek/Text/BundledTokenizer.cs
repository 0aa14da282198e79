namespace VidSeek.Text;

/// <summary>The CLIP BPE vocabulary shipped with VidSeek (<c>assets/clip-tokenizer</c>, copied beside the binaries).</summary>
public static class BundledTokenizer
{
    public static string Folder => Path.Combine(AppContext.BaseDirectory, "clip-tokenizer");
}
