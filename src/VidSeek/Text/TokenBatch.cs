using TorchSharp;

namespace VidSeek.Text;

/// <summary>
/// Token ids of a batch of texts, shape <c>[Count, ContextLength]</c>, row-major in <see cref="Ids"/>:
/// each row is SOT + ids + EOT + zero padding, as openai <c>clip.tokenize</c> returns.
/// </summary>
public sealed class TokenBatch
{
    /// <summary>The ids, flat and row-major: row <c>r</c> is <c>Ids[r*ContextLength .. (r+1)*ContextLength-1]</c>.</summary>
    public long[] Ids { get; }

    /// <summary>Number of texts (rows).</summary>
    public int Count { get; }

    /// <summary>Tokens per row.</summary>
    public int ContextLength { get; }

    /// <summary>Position of EOT in each row, where CLIP's text tower pools.</summary>
    public IReadOnlyList<int> EotPositions { get; }

    /// <summary>The shape, <c>[Count, ContextLength]</c>.</summary>
    public long[] Shape => [Count, ContextLength];

    public TokenBatch(long[] ids, int count, int contextLength, IReadOnlyList<int> eotPositions)
    {
        ArgumentNullException.ThrowIfNull(ids);
        ArgumentNullException.ThrowIfNull(eotPositions);
        if (ids.Length != (long)count * contextLength || eotPositions.Count != count)
            throw new ArgumentException($"{ids.Length} ids and {eotPositions.Count} EOT positions do not fit shape [{count}, {contextLength}]");
        Ids = ids;
        Count = count;
        ContextLength = contextLength;
        EotPositions = eotPositions;
    }

    /// <summary>Id at row <paramref name="row"/>, position <paramref name="position"/>.</summary>
    public long this[int row, int position] => Ids[row * ContextLength + position];

    /// <summary>One row's ids.</summary>
    public ReadOnlySpan<long> Row(int row) => Ids.AsSpan(row * ContextLength, ContextLength);

    /// <summary>A new int64 CPU tensor of shape <c>[Count, ContextLength]</c>; the caller disposes it.</summary>
    public torch.Tensor ToTensor() => torch.tensor(Ids, Shape, torch.int64);
}
