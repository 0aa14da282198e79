using System.Text.Json.Serialization;

namespace VidSeek.Models.Vlt;

/// <summary>The joint (fusion) encoder variants of SPEC section 3.2.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<FusionKind>))]
public enum FusionKind
{
    /// <summary>VindLU baseline: BERT fusion layers (self-attn, cross-attn to flatten(F_V), FFN) on the text stream.</summary>
    V2T,
    /// <summary>n_fusion transformer layers over <c>[F_T ; flatten(F_V)]</c>, full interaction; [CLS] of the text part.</summary>
    SelfAttention,
    /// <summary>A T2V step with text-only keys, then V2T reading its output.</summary>
    NaiveT2V2T,
    /// <summary>A Bypass CA T2V step (keys = text and the frame's own tokens), then V2T reading its output.</summary>
    T2V2T,
}
