namespace VidSeek.Data.Loaders;

/// <summary>Bounds on what an annotation file can make a loader keep (annotation files are untrusted input).</summary>
public static class AnnotationLimits
{
    /// <summary>Longest caption kept, in characters; real captions have a few hundred at most.</summary>
    public const int MaxCaptionChars = 20_000;

    /// <summary>
    /// A caption cut to <see cref="MaxCaptionChars"/> (at the last whitespace before the bound, when there is one), so a
    /// pasted blob in an annotation file costs no memory or tokenizer time beyond that. The models read 77 tokens (75 between
    /// SOT and EOT): every whitespace-separated word gives at least one token, so the cut cannot change them when the kept part
    /// holds 75 words or more, which it does unless the words average over 260 characters.
    /// </summary>
    public static string Bound(string text)
    {
        if (text.Length <= MaxCaptionChars) return text;
        int cut = text.AsSpan(0, MaxCaptionChars + 1).LastIndexOfAny(" \t\r\n");
        return text[..(cut > 0 ? cut : MaxCaptionChars)];
    }
}
