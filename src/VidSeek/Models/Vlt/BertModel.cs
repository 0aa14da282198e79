using System.Text.Json;
using TorchSharp;
using VidSeek.Models.Vlt.Module;
using VidSeek.Tensors;
using static TorchSharp.torch;

namespace VidSeek.Models.Vlt;

/// <summary>
/// A BERT text encoder whose last layers are VindLU/ALBEF fusion layers (cross-attention to video tokens), in the
/// Hugging Face <c>BertModel</c> key layout: field names are the checkpoint keys (<c>embeddings.*</c>,
/// <c>encoder.layer.{i}.*</c>, <c>pooler.dense.*</c>), so <see cref="FromPretrained"/> is a name lookup.
/// Layers below <c>fusion_layer</c> are the unimodal <see cref="TextEncoder"/>; the rest are <see cref="Fusion"/>.
/// </summary>
public sealed class BertModel : nn.Module
{
    private readonly BertEmbeddings embeddings;
    private readonly BertEncoder encoder;
    private readonly BertPooler pooler;

    public BertConfig Config { get; }

    /// <summary>Builds the architecture of <paramref name="config"/> with freshly initialised weights (HF's BERT initialisation).</summary>
    public BertModel(BertConfig config) : base(nameof(BertModel))
    {
        config.Validate("BERT config");
        Config = config;
        embeddings = new BertEmbeddings(config);
        encoder = new BertEncoder(config);
        pooler = new BertPooler(config.HiddenSize);
        RegisterComponents();
        InitWeights();
    }

    /// <summary>
    /// HF <c>BertPreTrainedModel._init_weights</c>: N(0, initializer_range) for linear and embedding weights, zero
    /// biases, unit LayerNorms. TorchSharp's N(0,1) embeddings would swamp the LayerNorm'd sum at the start of
    /// training from scratch; loading a checkpoint overwrites all of it.
    /// </summary>
    private void InitWeights()
    {
        using var _ = torch.no_grad();
        foreach (var (name, p) in named_parameters())
        {
            bool layerNorm = name.Contains(".LayerNorm.");
            if (name.EndsWith(".bias", StringComparison.Ordinal)) p.zero_();
            else if (layerNorm) p.fill_(Scalars.One);
            else nn.init.normal_(p, 0, Config.InitializerRange);
        }
    }

    /// <summary>Number of text-only layers (<c>fusion_layer</c>).</summary>
    public int TextLayers => Config.TextLayers;

    /// <summary>
    /// Loads a folder with <c>config.json</c> and the weights: <c>model.safetensors</c> (Hugging Face) or, failing that,
    /// <c>weights.safetensors</c>. Keys are those of a bare <c>BertModel</c> (no <c>bert.</c> prefix); every key and shape
    /// is checked, and HF's <c>position_ids</c> / <c>token_type_ids</c> buffers are accepted and ignored.
    /// </summary>
    public static BertModel FromPretrained(string folder)
    {
        if (!Directory.Exists(folder)) throw new VidSeekException($"model folder not found: {folder}");
        string configPath = Path.Combine(folder, "config.json");
        var config = BertConfig.Load(configPath);
        string? weights = new[] { "model.safetensors", "weights.safetensors" }.Select(f => Path.Combine(folder, f)).FirstOrDefault(File.Exists);
        if (weights is null)
        {
            string hint = File.Exists(Path.Combine(folder, "pytorch_model.bin"))
                ? " (only pytorch_model.bin is there: VidSeek reads safetensors; download model.safetensors from the same repository)" : "";
            throw new VidSeekException($"neither model.safetensors nor weights.safetensors found in {folder}{hint}");
        }
        var model = new BertModel(config);
        StateDictLoader.Load(model, weights, $"the BERT architecture of {configPath}",
            key => key.EndsWith(".position_ids", StringComparison.Ordinal) || key.EndsWith(".token_type_ids", StringComparison.Ordinal));
        model.eval();
        return model;
    }

    /// <summary>Writes <c>config.json</c> and <c>model.safetensors</c> in the Hugging Face layout.</summary>
    public void SavePretrained(string folder) =>
        PretrainedFolder.Save(folder, this, JsonSerializer.Serialize(Config, new JsonSerializerOptions { WriteIndented = true }));

    /// <summary>The embeddings <c>[B, N, D]</c> of ids <c>[B, N]</c>, after <c>embeddings.LayerNorm</c>: the input of layer 0.</summary>
    public Tensor Embed(Tensor inputIds)
    {
        CheckIds(inputIds);
        using var scope = torch.NewDisposeScope();
        return embeddings.forward(inputIds).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The unimodal text encoder (VindLU/ALBEF <c>mode="text"</c>): ids <c>[B, N]</c> through the embeddings and the
    /// text-only layers (<c>i &lt; fusion_layer</c>) -> <c>[B, N, D]</c>. Its [CLS] row (<c>[:, 0]</c>) is the text embedding
    /// for contrastive scoring. Padded positions are computed too (as queries), but are never keys.
    /// </summary>
    /// <param name="inputIds"><c>[B, N]</c> token ids, N &lt;= max_position_embeddings.</param>
    /// <param name="attentionMask"><c>[B, N]</c>, nonzero for a real token and 0 for padding.</param>
    /// <param name="hiddenStates">When given, receives HF-style hidden states (the caller disposes them): the embeddings
    /// output, then each text-only layer's output.</param>
    public Tensor TextEncoder(Tensor inputIds, Tensor attentionMask, IList<Tensor>? hiddenStates = null)
    {
        CheckIds(inputIds);
        CheckMask(attentionMask, inputIds.shape[0], inputIds.shape[1], "attentionMask");
        using var scope = torch.NewDisposeScope();
        var emb = embeddings.forward(inputIds);
        var states = hiddenStates is null ? null : new List<Tensor> { emb.alias() };
        var h = encoder.Run(emb, KeyMask(attentionMask, emb.dtype), 0, TextLayers, null, null, states);
        Keep(states, hiddenStates);
        return h.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The fusion layers (<c>i &gt;= fusion_layer</c>): the text stream <c>[B, N, D]</c> (the output of <see cref="TextEncoder"/>)
    /// attends to itself and then, as queries, to the video tokens -> <c>[B, N, D]</c>. Its [CLS] row feeds the ITM head.
    /// </summary>
    /// <param name="textHidden"><c>[B, N, D]</c></param>
    /// <param name="attentionMask"><c>[B, N]</c> text padding mask, applied to the text keys of every fusion layer.</param>
    /// <param name="videoTokens"><c>[B, M, W]</c> with W = encoder_width, e.g. T frames x L tokens flattened to M = T*L.</param>
    /// <param name="videoMask"><c>[B, M]</c>, nonzero for a real video token; null when all are real.</param>
    /// <param name="hiddenStates">When given, receives each fusion layer's output (the caller disposes them).</param>
    public Tensor Fusion(Tensor textHidden, Tensor attentionMask, Tensor videoTokens, Tensor? videoMask = null, IList<Tensor>? hiddenStates = null)
    {
        if (textHidden.dim() != 3 || textHidden.shape[2] != Config.HiddenSize)
            throw new ArgumentException($"expected text hidden states [B, N, {Config.HiddenSize}], got [{string.Join(", ", textHidden.shape)}]");
        long b = textHidden.shape[0];
        CheckMask(attentionMask, b, textHidden.shape[1], "attentionMask");
        if (videoTokens.dim() != 3 || videoTokens.shape[0] != b || videoTokens.shape[2] != Config.VideoWidth)
            throw new ArgumentException($"expected video tokens [{b}, M, {Config.VideoWidth}] (encoder_width), got [{string.Join(", ", videoTokens.shape)}]");
        if (videoMask is not null) CheckMask(videoMask, b, videoTokens.shape[1], "videoMask");
        using var scope = torch.NewDisposeScope();
        var states = hiddenStates is null ? null : new List<Tensor>();
        var vm = videoMask is null ? null : KeyMask(videoMask, textHidden.dtype);
        var h = encoder.Run(textHidden, KeyMask(attentionMask, textHidden.dtype), TextLayers, encoder.Count, videoTokens, vm, states);
        Keep(states, hiddenStates);
        return h.MoveToOuterDisposeScope();
    }

    /// <summary>HF's pooler, <c>tanh(pooler.dense(hidden[:, 0]))</c>: <c>[B, N, D]</c> -> <c>[B, D]</c>.</summary>
    public Tensor Pool(Tensor hidden)
    {
        using var scope = torch.NewDisposeScope();
        return pooler.forward(hidden).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// <c>[B, M]</c> (nonzero = attend) -> additive <c>[B, 1, 1, M]</c>: 0, or the dtype's lowest value where masked, as HF
    /// does. The same for every query, so padded queries still attend to the real keys; a finite value (not -inf) keeps a
    /// fully masked row finite.
    /// </summary>
    internal static Tensor KeyMask(Tensor mask, ScalarType dtype)
    {
        double lowest = dtype switch { ScalarType.Float64 => double.MinValue, ScalarType.Float16 => -65504.0, _ => float.MinValue };
        using var masked = mask.eq(Scalars.Zero);
        using var zeros = torch.zeros(mask.shape, dtype, mask.device);
        using var fill = lowest.ToScalar();
        using var additive = zeros.masked_fill(masked, fill);
        return additive.view(mask.shape[0], 1, 1, mask.shape[1]);
    }

    private static void Keep(List<Tensor>? states, IList<Tensor>? into)
    {
        if (states is null || into is null) return;
        foreach (var s in states) into.Add(s.MoveToOuterDisposeScope());
    }

    private void CheckIds(Tensor inputIds)
    {
        if (inputIds.dim() != 2) throw new ArgumentException($"expected input ids [B, N], got [{string.Join(", ", inputIds.shape)}]");
        if (inputIds.shape[1] > Config.MaxPositionEmbeddings)
            throw new ArgumentException($"sequence of {inputIds.shape[1]} tokens is longer than the model's {Config.MaxPositionEmbeddings} positions");
    }

    private static void CheckMask(Tensor mask, long b, long n, string name)
    {
        if (mask.dim() != 2 || mask.shape[0] != b || mask.shape[1] != n)
            throw new ArgumentException($"expected {name} [{b}, {n}], got [{string.Join(", ", mask.shape)}]");
    }
}
