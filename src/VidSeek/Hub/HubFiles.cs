namespace VidSeek.Hub;

/// <summary>
/// Files to fetch from a repository: the first of <see cref="Names"/> that the repository has. A required group that
/// the repository lacks altogether is an error; an optional one is skipped.
/// </summary>
public sealed record HubFileGroup(IReadOnlyList<string> Names, bool Required)
{
    public static HubFileGroup One(string name) => new([name], true);
    public static HubFileGroup FirstOf(params string[] names) => new(names, true);
    public static HubFileGroup Optional(string name) => new([name], false);

    public string Describe() => Names.Count == 1 ? Names[0] : "neither " + string.Join(" nor ", Names);
}

/// <summary>The file lists VidSeek asks the hub for.</summary>
public static class HubFiles
{
    /// <summary>
    /// A Hugging Face model folder as VidSeek's loaders read it: <c>config.json</c>; the weights as
    /// <c>model.safetensors</c>, or <c>pytorch_model.bin</c> where the repository has no safetensors file
    /// (<see cref="Models.ModelSource"/> converts it); the tokenizer, whichever kind the repository ships: CLIP's
    /// byte-level BPE (<c>vocab.json</c> + <c>merges.txt</c>) or BERT's WordPiece (<c>vocab.txt</c> + <c>tokenizer_config.json</c>).
    /// </summary>
    public static readonly IReadOnlyList<HubFileGroup> Model =
    [
        HubFileGroup.One("config.json"),
        HubFileGroup.FirstOf("model.safetensors", "pytorch_model.bin"),
        HubFileGroup.Optional("vocab.json"),
        HubFileGroup.Optional("merges.txt"),
        HubFileGroup.Optional("vocab.txt"),
        HubFileGroup.Optional("tokenizer_config.json"),
    ];
}
