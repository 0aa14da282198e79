namespace VidSeek.Data.Shapes;

/// <summary>
/// Describes a <see cref="ShapesVideoSpec"/> in English. A pure function of the scene: the template of each
/// segment is chosen when the scene is sampled (<see cref="ShapesSegment.Phrasing"/>), not here.
/// </summary>
/// <remarks>
/// An object is described as "a {size} {colour} {shape} {motion}" ("a big red circle moves to the left").
/// A one-object segment uses one of <see cref="OneObjectTemplates"/> templates, a two-object segment one of
/// <see cref="TwoObjectTemplates"/> (X and Y are the two objects' descriptions):
/// <list type="bullet">
/// <item>one object: "X" · "there is a big red circle; it moves to the left" · "a big red circle that moves to the left"</item>
/// <item>two objects: "X while Y" · "X and Y" · "there is a big red circle that moves to the left; Y" ·
/// "a big red circle and a small blue square; the red circle moves to the left and the blue square grows"
/// (unambiguous because the two objects of a segment always differ in colour)</item>
/// </list>
/// The full caption joins the segments' captions with ", then ". A one-segment video gets only its full caption:
/// its segment caption would be the very same sentence, a duplicate query that would also make the
/// <c>segment</c> type (captions that describe only part of a video) include whole-video descriptions.
/// </remarks>
public static class ShapesCaptioner
{
    /// <summary>Number of templates for a segment with one object.</summary>
    public const int OneObjectTemplates = 3;

    /// <summary>Number of templates for a segment with two objects.</summary>
    public const int TwoObjectTemplates = 4;

    /// <summary>The full caption first, then (for 2-3 segments) one caption per segment in order.</summary>
    public static IReadOnlyList<ShapesCaption> Captions(ShapesVideoSpec video)
    {
        var segments = video.Segments.Select(Describe).ToList();
        var captions = new List<ShapesCaption> { new(string.Join(", then ", segments), ShapesCaption.Full, null) };
        if (segments.Count > 1)
            captions.AddRange(segments.Select((text, i) => new ShapesCaption(text, ShapesCaption.SegmentType, i)));
        return captions;
    }

    /// <summary>The caption of one segment, with the segment's template.</summary>
    public static string Describe(ShapesSegment segment)
    {
        var objects = segment.Objects;
        switch (objects.Count)
        {
            case 1:
            {
                var a = objects[0];
                return (segment.Phrasing % OneObjectTemplates) switch
                {
                    0 => Describe(a),
                    1 => $"there is {NounPhrase(a)}; it {VerbPhrase(a)}",
                    _ => $"{NounPhrase(a)} that {VerbPhrase(a)}",
                };
            }
            case 2:
            {
                var (a, b) = (objects[0], objects[1]);
                return (segment.Phrasing % TwoObjectTemplates) switch
                {
                    0 => $"{Describe(a)} while {Describe(b)}",
                    1 => $"{Describe(a)} and {Describe(b)}",
                    2 => $"there is {NounPhrase(a)} that {VerbPhrase(a)}; {Describe(b)}",
                    _ => $"{NounPhrase(a)} and {NounPhrase(b)}; the {Short(a)} {VerbPhrase(a)} and the {Short(b)} {VerbPhrase(b)}",
                };
            }
            default:
                throw new ArgumentException($"a segment has 1 or 2 objects, not {objects.Count}", nameof(segment));
        }
    }

    /// <summary>"a big red circle moves to the left".</summary>
    public static string Describe(ShapesObject o) => $"{NounPhrase(o)} {VerbPhrase(o)}";

    /// <summary>"a big red circle" (every size word starts with a consonant, so the article is always "a").</summary>
    private static string NounPhrase(ShapesObject o) =>
        $"a {ShapesVocabulary.Word(o.Size)} {ShapesVocabulary.Word(o.Color)} {ShapesVocabulary.Word(o.Shape)}";

    /// <summary>"red circle", for referring back to an object already introduced.</summary>
    private static string Short(ShapesObject o) => $"{ShapesVocabulary.Word(o.Color)} {ShapesVocabulary.Word(o.Shape)}";

    private static string VerbPhrase(ShapesObject o) => ShapesVocabulary.Phrase(o.Motion);
}
