using System.Text.RegularExpressions;
using static TorchSharp.torch;

namespace VidSeek.Models.PyTorch;

/// <summary>How a source tensor becomes our tensor(s).</summary>
public enum KeyOp
{
    /// <summary>Same tensor.</summary>
    Copy,
    /// <summary>A 2-D <c>[in, out]</c> projection (openai <c>x @ proj</c>) becomes a Linear weight <c>[out, in]</c>.</summary>
    Transpose,
    /// <summary>openai's packed <c>in_proj_*</c>: q, k, v stacked on dim 0, split into three equal parts.</summary>
    SplitQkv,
}

/// <summary>One row of a key table: a source key pattern (<c>{i}</c> = layer index), our key(s), the operation.</summary>
public sealed record KeyRule(string Source, string[] Targets, KeyOp Op)
{
    private readonly Regex pattern = new("^" + Regex.Escape(Source).Replace(@"\{i}", @"(\d+)") + "$", RegexOptions.CultureInvariant);

    /// <summary>Our key(s) for <paramref name="key"/>, or null when this rule does not match it.</summary>
    public string[]? Apply(string key)
    {
        var m = pattern.Match(key);
        if (!m.Success) return null;
        return m.Groups.Count > 1 ? Targets.Select(t => t.Replace("{i}", m.Groups[1].Value)).ToArray() : Targets;
    }
}

/// <summary>
/// The key layouts of published CLIP / X-Pool checkpoints, one table per source, each mapping onto our keys: the Hugging
/// Face <c>CLIPModel</c> names (<see cref="Clip.ClipModel"/>) and, for X-Pool, our head's <c>pool.*</c> names
/// (<see cref="DualEncoder.DualEncoderModel"/>). Keys are matched after the checkpoint's prefix (<c>clip.</c>,
/// <c>module.clip.</c>, none) is removed.
/// </summary>
public static class CheckpointLayouts
{
    /// <summary>Hugging Face <c>CLIPModel</c>: already our names. The <c>position_ids</c> buffers are <see cref="Ignored"/>.</summary>
    public static readonly KeyRule[] HuggingFaceClip =
    [
        new("logit_scale", ["logit_scale"], KeyOp.Copy),
        new("text_projection.weight", ["text_projection.weight"], KeyOp.Copy),
        new("visual_projection.weight", ["visual_projection.weight"], KeyOp.Copy),
        new("text_model.embeddings.token_embedding.weight", ["text_model.embeddings.token_embedding.weight"], KeyOp.Copy),
        new("text_model.embeddings.position_embedding.weight", ["text_model.embeddings.position_embedding.weight"], KeyOp.Copy),
        new("text_model.final_layer_norm.weight", ["text_model.final_layer_norm.weight"], KeyOp.Copy),
        new("text_model.final_layer_norm.bias", ["text_model.final_layer_norm.bias"], KeyOp.Copy),
        new("vision_model.embeddings.class_embedding", ["vision_model.embeddings.class_embedding"], KeyOp.Copy),
        new("vision_model.embeddings.patch_embedding.weight", ["vision_model.embeddings.patch_embedding.weight"], KeyOp.Copy),
        new("vision_model.embeddings.position_embedding.weight", ["vision_model.embeddings.position_embedding.weight"], KeyOp.Copy),
        new("vision_model.pre_layrnorm.weight", ["vision_model.pre_layrnorm.weight"], KeyOp.Copy),
        new("vision_model.pre_layrnorm.bias", ["vision_model.pre_layrnorm.bias"], KeyOp.Copy),
        new("vision_model.post_layernorm.weight", ["vision_model.post_layernorm.weight"], KeyOp.Copy),
        new("vision_model.post_layernorm.bias", ["vision_model.post_layernorm.bias"], KeyOp.Copy),
        .. HfLayer("text_model"),
        .. HfLayer("vision_model"),
    ];

    private static IEnumerable<KeyRule> HfLayer(string tower) =>
        new[]
        {
            "layer_norm1.weight", "layer_norm1.bias", "layer_norm2.weight", "layer_norm2.bias",
            "self_attn.q_proj.weight", "self_attn.q_proj.bias", "self_attn.k_proj.weight", "self_attn.k_proj.bias",
            "self_attn.v_proj.weight", "self_attn.v_proj.bias", "self_attn.out_proj.weight", "self_attn.out_proj.bias",
            "mlp.fc1.weight", "mlp.fc1.bias", "mlp.fc2.weight", "mlp.fc2.bias",
        }.Select(k => new KeyRule($"{tower}.encoder.layers.{{i}}.{k}", [$"{tower}.encoder.layers.{{i}}.{k}"], KeyOp.Copy));

    /// <summary>
    /// openai CLIP (<c>clip/model.py</c>, also CLIP4Clip and X-Pool without <c>--huggingface</c>) -> HF <c>CLIPModel</c>,
    /// as transformers' <c>convert_clip_original_pytorch_to_hf.py</c> converts it.
    /// </summary>
    public static readonly KeyRule[] OpenAiClip =
    [
        //   openai key                         our (HF CLIPModel) key                                   how
        new("logit_scale",                      ["logit_scale"],                                         KeyOp.Copy),
        new("text_projection",                  ["text_projection.weight"],                              KeyOp.Transpose), // [in, out]
        new("visual.proj",                      ["visual_projection.weight"],                            KeyOp.Transpose), // [in, out]
        new("token_embedding.weight",           ["text_model.embeddings.token_embedding.weight"],        KeyOp.Copy),
        new("positional_embedding",             ["text_model.embeddings.position_embedding.weight"],     KeyOp.Copy),
        new("ln_final.weight",                  ["text_model.final_layer_norm.weight"],                  KeyOp.Copy),
        new("ln_final.bias",                    ["text_model.final_layer_norm.bias"],                    KeyOp.Copy),
        new("visual.class_embedding",           ["vision_model.embeddings.class_embedding"],             KeyOp.Copy),
        new("visual.conv1.weight",              ["vision_model.embeddings.patch_embedding.weight"],      KeyOp.Copy),
        new("visual.positional_embedding",      ["vision_model.embeddings.position_embedding.weight"],   KeyOp.Copy),
        new("visual.ln_pre.weight",             ["vision_model.pre_layrnorm.weight"],                    KeyOp.Copy),
        new("visual.ln_pre.bias",               ["vision_model.pre_layrnorm.bias"],                      KeyOp.Copy),
        new("visual.ln_post.weight",            ["vision_model.post_layernorm.weight"],                  KeyOp.Copy),
        new("visual.ln_post.bias",              ["vision_model.post_layernorm.bias"],                    KeyOp.Copy),
        .. OpenAiLayer("transformer.resblocks", "text_model.encoder.layers"),
        .. OpenAiLayer("visual.transformer.resblocks", "vision_model.encoder.layers"),
    ];

    private static IEnumerable<KeyRule> OpenAiLayer(string from, string to) =>
    [
        new($"{from}.{{i}}.attn.in_proj_weight",  [$"{to}.{{i}}.self_attn.q_proj.weight", $"{to}.{{i}}.self_attn.k_proj.weight", $"{to}.{{i}}.self_attn.v_proj.weight"], KeyOp.SplitQkv),
        new($"{from}.{{i}}.attn.in_proj_bias",    [$"{to}.{{i}}.self_attn.q_proj.bias", $"{to}.{{i}}.self_attn.k_proj.bias", $"{to}.{{i}}.self_attn.v_proj.bias"], KeyOp.SplitQkv),
        new($"{from}.{{i}}.attn.out_proj.weight", [$"{to}.{{i}}.self_attn.out_proj.weight"], KeyOp.Copy),
        new($"{from}.{{i}}.attn.out_proj.bias",   [$"{to}.{{i}}.self_attn.out_proj.bias"],   KeyOp.Copy),
        new($"{from}.{{i}}.ln_1.weight",          [$"{to}.{{i}}.layer_norm1.weight"],        KeyOp.Copy),
        new($"{from}.{{i}}.ln_1.bias",            [$"{to}.{{i}}.layer_norm1.bias"],          KeyOp.Copy),
        new($"{from}.{{i}}.ln_2.weight",          [$"{to}.{{i}}.layer_norm2.weight"],        KeyOp.Copy),
        new($"{from}.{{i}}.ln_2.bias",            [$"{to}.{{i}}.layer_norm2.bias"],          KeyOp.Copy),
        new($"{from}.{{i}}.mlp.c_fc.weight",      [$"{to}.{{i}}.mlp.fc1.weight"],            KeyOp.Copy),
        new($"{from}.{{i}}.mlp.c_fc.bias",        [$"{to}.{{i}}.mlp.fc1.bias"],              KeyOp.Copy),
        new($"{from}.{{i}}.mlp.c_proj.weight",    [$"{to}.{{i}}.mlp.fc2.weight"],            KeyOp.Copy),
        new($"{from}.{{i}}.mlp.c_proj.bias",      [$"{to}.{{i}}.mlp.fc2.bias"],              KeyOp.Copy),
    ];

    /// <summary>X-Pool's <c>pool_frames</c> (its <c>modules/transformer.py</c> <c>Transformer</c>) -> our head, <c>pool.*</c> of the dual encoder; the names below the prefix are the same.</summary>
    public static readonly KeyRule[] XPoolHead =
        new[]
        {
            "cross_attn.q_proj.weight", "cross_attn.q_proj.bias", "cross_attn.k_proj.weight", "cross_attn.k_proj.bias",
            "cross_attn.v_proj.weight", "cross_attn.v_proj.bias", "cross_attn.out_proj.weight", "cross_attn.out_proj.bias",
            "linear_proj.weight", "linear_proj.bias",
            "layer_norm1.weight", "layer_norm1.bias", "layer_norm2.weight", "layer_norm2.bias", "layer_norm3.weight", "layer_norm3.bias",
        }.Select(k => new KeyRule($"pool_frames.{k}", [$"pool.{k}"], KeyOp.Copy)).ToArray();

    /// <summary>
    /// Keys that are accepted and dropped, all derived from the architecture: HF's <c>position_ids</c> buffers (always
    /// <c>arange</c>), the sizes openai's TorchScript models carry (<c>input_resolution</c>, <c>context_length</c>,
    /// <c>vocab_size</c>, which its <c>build_model</c> deletes too) and the causal <c>attn_mask</c> a scripted text block holds.
    /// </summary>
    public static bool Ignored(string key) =>
        key.EndsWith("embeddings.position_ids", StringComparison.Ordinal) || key.EndsWith(".attn_mask", StringComparison.Ordinal) ||
        key is "input_resolution" or "context_length" or "vocab_size" or "visual.input_resolution";

    /// <summary>The shape(s) an operation produces from a source shape, so the architecture can be checked before any data is read.</summary>
    public static long[][] TargetShapes(KeyOp op, long[] shape, int targets) => op switch
    {
        KeyOp.Copy => [shape],
        KeyOp.Transpose => [shape.Reverse().ToArray()],
        KeyOp.SplitQkv => Enumerable.Repeat(new[] { shape[0] / 3 }.Concat(shape.Skip(1)).ToArray(), targets).ToArray(),
        _ => throw new ArgumentOutOfRangeException(nameof(op)),
    };

    /// <summary>Applies an operation to a materialised source tensor.</summary>
    public static Tensor[] Apply(KeyOp op, Tensor source, string key, string file)
    {
        switch (op)
        {
            case KeyOp.Copy: return [source];
            case KeyOp.Transpose:
                if (source.dim() != 2) throw new VidSeekException($"{file}: {key} is [{string.Join(", ", source.shape)}], expected a 2-D projection");
                return [source.t().contiguous()];
            case KeyOp.SplitQkv:
                if (source.dim() < 1 || source.shape[0] % 3 != 0) throw new VidSeekException($"{file}: {key} is [{string.Join(", ", source.shape)}]; its first dimension must hold q, k and v (a multiple of 3)");
                return source.chunk(3, 0).Select(c => c.contiguous()).ToArray();
            default: throw new ArgumentOutOfRangeException(nameof(op));
        }
    }
}
