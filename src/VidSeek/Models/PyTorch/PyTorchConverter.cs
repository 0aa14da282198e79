using System.Text.Json;
using TorchSharp;
using VidSeek.Models.Clip;
using VidSeek.Models.DualEncoder;
using VidSeek.Tensors;
using VidSeek.Text;
using static TorchSharp.torch;

namespace VidSeek.Models.PyTorch;

/// <summary>What <see cref="PyTorchConverter"/> needs beyond the checkpoint (<c>vidseek convert</c>'s options).</summary>
public sealed record ConvertOptions
{
    /// <summary>A CLIP <c>config.json</c>, a folder holding one, or a preset name; null = the source folder's config, else inferred from the shapes.</summary>
    public string? ClipConfig { get; init; }

    /// <summary>X-Pool's <c>--num_mha_heads</c>; not stored in its checkpoints. Null = 1, X-Pool's default and that of its released models.</summary>
    public int? XPoolHeads { get; init; }

    /// <summary>A folder with <c>vocab.json</c> + <c>merges.txt</c> to copy into the result; null = the source folder's, else the bundled CLIP vocabulary when the model has CLIP's 49,408 tokens.</summary>
    public string? Tokenizer { get; init; }

    /// <summary>A stable text of the options, part of the conversion cache's key.</summary>
    public string CacheKey() => $"clip_config={ClipConfig}|xpool_heads={XPoolHeads}|tokenizer={Tokenizer}";
}

/// <summary>What a conversion produced.</summary>
/// <param name="Kind">"X-Pool dual encoder (H heads)", "CLIP", or another HF model type whose tensors were copied as stored.</param>
/// <param name="Clip">The CLIP architecture; null for another model type.</param>
/// <param name="Tensors">How many tensors the folder holds.</param>
/// <param name="StoragesRead">The keys of the archive's tensor storages that were read (only those of the state dict's tensors).</param>
public sealed record ConvertResult(string Folder, string Kind, ClipConfig? Clip, int Tensors, IReadOnlyCollection<string> StoragesRead, bool Tokenizer);

/// <summary>
/// Turns a PyTorch checkpoint into a VidSeek model folder (<c>config.json</c> + <c>model.safetensors</c>, written
/// atomically): an X-Pool <c>model_best.pth</c> (HF or openai CLIP keys + <c>pool_frames.*</c>) becomes an X-Pool dual
/// encoder; a CLIP state dict (<c>pytorch_model.bin</c>, a HF folder holding only it, or an openai TorchScript archive
/// such as <c>ViT-B-32.pt</c>) becomes a Hugging Face <c>CLIPModel</c> folder. Key layouts: <see cref="CheckpointLayouts"/>.
/// </summary>
public static class PyTorchConverter
{
    public const string PyTorchBin = "pytorch_model.bin";

    /// <summary>Whether <paramref name="path"/> is something to convert: a HF folder with <c>pytorch_model.bin</c> and no <c>model.safetensors</c>, or a file in a PyTorch format (zip, or a legacy pickle, which then gets its error).</summary>
    public static bool IsPyTorchSource(string path)
    {
        if (Directory.Exists(path))
            return !File.Exists(Path.Combine(path, "model.safetensors")) && (File.Exists(Path.Combine(path, PyTorchBin)) || File.Exists(Path.Combine(path, PyTorchBin + ".index.json")));
        if (!File.Exists(path)) return false;
        using var fs = File.OpenRead(path);
        Span<byte> head = stackalloc byte[2];
        return fs.Read(head) == 2 && (head[0] == 'P' && head[1] == 'K' || head[0] == 0x80 && head[1] <= 5);
    }

    /// <summary>Converts <paramref name="source"/> into the new folder <paramref name="outDir"/> (written beside and renamed into place).</summary>
    /// <exception cref="VidSeekException">Unreadable or refused checkpoint, unknown layout, missing/unexpected/misshapen keys, or <paramref name="outDir"/> exists and is not empty.</exception>
    public static ConvertResult Convert(string source, string outDir, ConvertOptions options)
    {
        outDir = Path.GetFullPath(outDir).TrimEnd(Path.DirectorySeparatorChar);
        if (Directory.Exists(outDir) && Directory.EnumerateFileSystemEntries(outDir).Any())
            throw new VidSeekException($"--out {outDir} already exists and is not empty; remove it or choose another folder");
        if (File.Exists(outDir)) throw new VidSeekException($"--out {outDir} is a file");
        string tmp = $"{outDir}.tmp-{Guid.NewGuid():N}";
        try
        {
            var result = ConvertInto(source, tmp, options);
            if (Directory.Exists(outDir)) Directory.Delete(outDir); // empty, checked above
            Directory.Move(tmp, outDir);
            return result with { Folder = outDir };
        }
        finally
        {
            if (Directory.Exists(tmp)) Directory.Delete(tmp, recursive: true);
        }
    }

    private static ConvertResult ConvertInto(string source, string folder, ConvertOptions options)
    {
        string file = source;
        string? sourceFolder = null;
        if (Directory.Exists(source))
        {
            sourceFolder = source;
            file = Path.Combine(source, PyTorchBin);
            if (!File.Exists(file))
                throw new VidSeekException(File.Exists(file + ".index.json")
                    ? $"{source} holds a sharded pytorch_model.bin (pytorch_model.bin.index.json), which VidSeek does not read; use the repository's model.safetensors"
                    : $"{source}: neither model.safetensors nor {PyTorchBin} is there");
        }
        else if (!File.Exists(source)) throw new VidSeekException($"checkpoint not found: {source}");

        using var archive = TorchArchive.Open(file);
        var (stateDict, where) = FindStateDict(archive);
        if (sourceFolder is not null && PretrainedFolder.ModelType(sourceFolder) is { } type && type != "clip")
            return CopyAsStored(archive, stateDict, sourceFolder, folder, type);
        var plan = Plan(stateDict, file, where);

        var shapes = new Dictionary<string, long[]>();
        foreach (var step in plan)
        {
            var targetShapes = CheckpointLayouts.TargetShapes(step.Op, step.Tensor.Shape, step.Targets.Length);
            for (int i = 0; i < step.Targets.Length; i++) shapes[step.Targets[i]] = targetShapes[i];
        }
        bool xpool = plan.Any(s => s.Targets[0].StartsWith("pool.", StringComparison.Ordinal));
        if (!xpool && options.XPoolHeads is not null)
            throw new VidSeekException($"--xpool-heads was given, but {file} has no X-Pool head (pool_frames.* keys)");
        var clipShapes = shapes.Where(kv => !kv.Key.StartsWith("pool.", StringComparison.Ordinal)).ToDictionary(kv => kv.Key, kv => kv.Value);
        var config = ResolveClipConfig(options.ClipConfig, sourceFolder, clipShapes, file);

        using var scope = torch.NewDisposeScope();
        nn.Module model;
        string kind;
        if (xpool)
        {
            int heads = options.XPoolHeads ?? 1;
            if (heads < 1 || config.ProjectionDim % heads != 0)
                throw new VidSeekException($"--xpool-heads {heads} must be at least 1 and divide the embedding size {config.ProjectionDim}");
            var dual = new DualEncoderModel(new DualEncoderConfig { Pooling = VideoPooling.XPool, Clip = config, XPoolHeads = heads });
            model = dual;
            kind = $"X-Pool dual encoder ({heads} head{(heads == 1 ? "" : "s")})";
        }
        else
        {
            model = new ClipModel(config);
            kind = "CLIP";
        }
        string Ours(string key) => xpool && !key.StartsWith("pool.", StringComparison.Ordinal) ? "clip." + key : key;
        string what = $"the {kind} of {(options.ClipConfig ?? (sourceFolder is null ? "the shapes (inferred)" : Path.Combine(sourceFolder, "config.json")))}";
        // Every key and shape is checked before a single storage is read.
        StateDictLoader.Check(model, shapes.ToDictionary(kv => Ours(kv.Key), kv => kv.Value), file, what);

        var tensors = new Dictionary<string, Tensor>();
        var cache = new Dictionary<string, Tensor>();
        foreach (var step in plan)
        {
            var converted = CheckpointLayouts.Apply(step.Op, archive.Materialize(step.Tensor, cache), step.Source, file);
            for (int i = 0; i < step.Targets.Length; i++) tensors[Ours(step.Targets[i])] = converted[i];
        }
        StateDictLoader.Load(model, tensors, file, what);
        if (model is DualEncoderModel d) d.Save(folder);
        else ((ClipModel)model).SavePretrained(folder);
        bool tokenizer = CopyTokenizer(options.Tokenizer, sourceFolder, config, folder);
        int count = model.state_dict().Count;
        model.Dispose();
        return new ConvertResult(folder, kind, config, count, archive.StoragesRead.ToArray(), tokenizer);
    }

    /// <summary>
    /// A Hugging Face folder of another model type (a BERT with only <c>pytorch_model.bin</c>): its tensors are written to
    /// <c>model.safetensors</c> under their stored names and dtypes, and its other files (config, tokenizer) are copied, so
    /// the model's own loader checks the keys.
    /// </summary>
    private static ConvertResult CopyAsStored(TorchArchive archive, List<KeyValuePair<string, TensorRef>> stateDict, string sourceFolder, string folder, string type)
    {
        Directory.CreateDirectory(folder);
        using (var scope = torch.NewDisposeScope())
        {
            var cache = new Dictionary<string, Tensor>();
            var tensors = stateDict.Select(kv => new KeyValuePair<string, Tensor>(kv.Key, archive.Materialize(kv.Value, cache))).ToList();
            SafeTensors.Save(Path.Combine(folder, "model.safetensors"), tensors, new Dictionary<string, string> { ["format"] = "pt" });
        }
        foreach (var f in Directory.GetFiles(sourceFolder))
        {
            string name = Path.GetFileName(f);
            if (name.StartsWith(PyTorchBin, StringComparison.Ordinal) || name.EndsWith(".safetensors", StringComparison.Ordinal) || name.EndsWith(".pth", StringComparison.Ordinal) || name.EndsWith(".pt", StringComparison.Ordinal))
                continue;
            File.Copy(f, Path.Combine(folder, name));
        }
        return new ConvertResult(folder, $"{type} (tensors as stored)", null, stateDict.Count, archive.StoragesRead.ToArray(), File.Exists(Path.Combine(folder, "vocab.txt")) || File.Exists(Path.Combine(folder, ClipTokenizer.VocabFile)));
    }

    /// <summary>A planned step: one source tensor, the operation, our key(s) (without the <c>clip.</c> of a dual encoder).</summary>
    private sealed record Step(string Source, TensorRef Tensor, KeyOp Op, string[] Targets);

    /// <summary>
    /// The state dict: the top-level object when it is a dict of tensors, else its <c>state_dict</c> or <c>model</c>
    /// entry; for a TorchScript archive, the module tree's tensors. Nothing else of the file (an optimizer) is touched.
    /// A TorchScript archive is read as data (its <c>data.pkl</c>, module classes as attribute bags) rather than with
    /// <c>torch.jit.load</c>, which would parse and compile the archive's code from an untrusted file just to reach the weights.
    /// </summary>
    public static (List<KeyValuePair<string, TensorRef>> StateDict, string Where) FindStateDict(TorchArchive archive)
    {
        switch (archive.Root)
        {
            case ScriptObject module:
                var flat = new List<KeyValuePair<string, TensorRef>>();
                Flatten(module, "", flat, 0);
                return (flat, "the TorchScript module");
            case PickleDict dict:
                if (TensorDict(dict) is { } top) return (top, "the top-level dict");
                foreach (string key in new[] { "state_dict", "model" })
                    if (dict.TryGetValue(key, out var sub) && sub is PickleDict d && TensorDict(d) is { } inner)
                        return (inner, $"'{key}'");
                var keys = string.Join(", ", dict.Keys.Take(10).Select(k => $"'{k}'"));
                throw new VidSeekException($"{archive.Path}: no state dict found: the file holds a dict with keys {keys}, and neither it nor its 'state_dict' or 'model' entry is a dict of tensors");
            default:
                throw new VidSeekException($"{archive.Path}: no state dict found: the file holds a {Describe(archive.Root)}, not a dict of tensors");
        }
    }

    private static List<KeyValuePair<string, TensorRef>>? TensorDict(PickleDict d)
    {
        if (d.Count == 0 || !d.Values.Any(v => v is TensorRef)) return null;
        var result = new List<KeyValuePair<string, TensorRef>>();
        foreach (var (k, v) in d)
        {
            if (k is not string key) return null;
            if (v is TensorRef t) result.Add(new(key, t));
            else if (!CheckpointLayouts.Ignored(key)) return null;
        }
        return result;
    }

    private static void Flatten(ScriptObject obj, string prefix, List<KeyValuePair<string, TensorRef>> into, int depth)
    {
        if (depth > 64) throw new VidSeekException("TorchScript module nesting is too deep");
        foreach (var (k, v) in obj.Attributes)
        {
            if (k is not string name) continue;
            if (v is TensorRef t) into.Add(new(prefix + name, t));
            else if (v is ScriptObject child) Flatten(child, prefix + name + ".", into, depth + 1);
        }
    }

    private static string Describe(object? o) => o switch
    {
        null => "None",
        List<object?> => "list",
        PickleTuple => "tuple",
        TensorRef => "single tensor",
        _ => o.GetType().Name,
    };

    /// <summary>
    /// Detects the layout (HF or openai keys, found by an anchor key whatever the prefix) and maps every key; a key that no
    /// table row takes is an error that names it.
    /// </summary>
    private static List<Step> Plan(List<KeyValuePair<string, TensorRef>> stateDict, string file, string where)
    {
        const string hfAnchor = "text_model.embeddings.token_embedding.weight", openAiAnchor = "token_embedding.weight";
        string? prefix = null;
        KeyRule[]? clipTable = null;
        foreach (var (key, _) in stateDict)
        {
            if (key.EndsWith(hfAnchor, StringComparison.Ordinal)) { prefix = key[..^hfAnchor.Length]; clipTable = CheckpointLayouts.HuggingFaceClip; break; }
            if (key.EndsWith(openAiAnchor, StringComparison.Ordinal)) { prefix = key[..^openAiAnchor.Length]; clipTable = CheckpointLayouts.OpenAiClip; }
        }
        if (prefix is null || clipTable is null)
            throw new VidSeekException($"{file}: {where} holds no CLIP weights (neither Hugging Face '{hfAnchor}' nor openai '{openAiAnchor}'; first keys: {string.Join(", ", stateDict.Take(5).Select(kv => kv.Key))})");
        if (stateDict.Any(kv => kv.Key.StartsWith(prefix + "visual.layer1.", StringComparison.Ordinal)))
            throw new VidSeekException($"{file}: a ResNet CLIP (visual.layer1.*); only ViT CLIP models are supported");
        // X-Pool's pool_frames sits beside its clip (CLIPTransformer.clip / .pool_frames).
        string outer = prefix.EndsWith("clip.", StringComparison.Ordinal) ? prefix[..^"clip.".Length] : prefix;

        var plan = new List<Step>();
        var unexpected = new List<string>();
        foreach (var (key, tensor) in stateDict)
        {
            string? rest = key.StartsWith(prefix, StringComparison.Ordinal) ? key[prefix.Length..] : null;
            string? headRest = key.StartsWith(outer + "pool_frames.", StringComparison.Ordinal) ? key[outer.Length..] : null;
            if (rest is not null && CheckpointLayouts.Ignored(rest)) continue;
            var match = Match(clipTable, rest) ?? Match(CheckpointLayouts.XPoolHead, headRest);
            if (match is not { } m) { unexpected.Add(key); continue; }
            plan.Add(new Step(key, tensor, m.Rule.Op, m.Targets));
        }
        if (unexpected.Count > 0)
            throw new VidSeekException($"{file} ({where}, {(clipTable == CheckpointLayouts.OpenAiClip ? "openai" : "Hugging Face")} CLIP layout, prefix '{prefix}'): {unexpected.Count} unexpected key(s): {string.Join(", ", unexpected.Take(8))}{(unexpected.Count > 8 ? ", ..." : "")}");
        return plan;
    }

    private static (KeyRule Rule, string[] Targets)? Match(KeyRule[] table, string? key)
    {
        if (key is null) return null;
        foreach (var rule in table)
            if (rule.Apply(key) is { } targets) return (rule, targets);
        return null;
    }

    /// <summary>The CLIP architecture: <c>--clip-config</c> (file, folder or preset), else the source folder's config.json, else inferred.</summary>
    private static ClipConfig ResolveClipConfig(string? option, string? sourceFolder, IReadOnlyDictionary<string, long[]> shapes, string file)
    {
        if (option is not null)
            return Directory.Exists(option) ? ClipConfig.Load(Path.Combine(option, "config.json")) : ClipPresets.Resolve(option);
        if (sourceFolder is not null) return ClipConfig.Load(Path.Combine(sourceFolder, "config.json"));
        return InferClipConfig(shapes, file);
    }

    /// <summary>
    /// The architecture from the weight shapes, as openai's <c>clip.model.build_model</c> infers it: widths, layers,
    /// patch size, resolution, context length and vocabulary from the tensors, and attention heads = width / 64, which holds
    /// for every released CLIP (ViT-B/32: 768/12 and 512/8). Keys are ours (HF names) here.
    /// </summary>
    public static ClipConfig InferClipConfig(IReadOnlyDictionary<string, long[]> shapes, string file)
    {
        long[] S(string key) => shapes.TryGetValue(key, out var s) ? s : throw new VidSeekException($"{file}: cannot infer the CLIP architecture: {key} is missing");
        int Layers(string tower) => shapes.Keys.Count(k => k.StartsWith($"{tower}.encoder.layers.", StringComparison.Ordinal) && k.EndsWith(".self_attn.q_proj.weight", StringComparison.Ordinal));
        int Heads(long width, string tower) => width % 64 == 0 && width >= 64
            ? (int)(width / 64)
            : throw new VidSeekException($"{file}: cannot infer the {tower} tower's attention heads: width {width} is not a multiple of 64 (openai's rule heads = width / 64); pass --clip-config with the model's config.json");

        var patch = S("vision_model.embeddings.patch_embedding.weight");          // [width, channels, p, p]
        long positions = S("vision_model.embeddings.position_embedding.weight")[0];  // 1 + grid^2
        int grid = (int)Math.Round(Math.Sqrt(positions - 1));
        if (grid * grid != positions - 1) throw new VidSeekException($"{file}: the vision position embedding has {positions} rows, not 1 + a square number of patches");
        var token = S("text_model.embeddings.token_embedding.weight");            // [vocab, width]
        int vocab = (int)token[0];
        bool clipVocab = vocab == 49408;
        return new ClipConfig
        {
            ProjectionDim = (int)S("text_projection.weight")[0],
            TextConfig = new ClipTextConfig
            {
                VocabSize = vocab,
                HiddenSize = (int)token[1],
                IntermediateSize = (int)S("text_model.encoder.layers.0.mlp.fc1.weight")[0],
                NumAttentionHeads = Heads(token[1], "text"),
                NumHiddenLayers = Layers("text_model"),
                MaxPositionEmbeddings = (int)S("text_model.embeddings.position_embedding.weight")[0],
                // openai pools at argmax(ids); the end-of-text token is the largest id, so HF's eos pooling picks the same position.
                BosTokenId = clipVocab ? 49406 : vocab - 2,
                EosTokenId = clipVocab ? 49407 : vocab - 1,
            },
            VisionConfig = new ClipVisionConfig
            {
                HiddenSize = (int)patch[0],
                IntermediateSize = (int)S("vision_model.encoder.layers.0.mlp.fc1.weight")[0],
                NumAttentionHeads = Heads(patch[0], "vision"),
                NumHiddenLayers = Layers("vision_model"),
                NumChannels = (int)patch[1],
                PatchSize = (int)patch[3],
                ImageSize = (int)patch[3] * grid,
            },
        };
    }

    /// <summary>Copies <c>vocab.json</c> + <c>merges.txt</c> so that the folder carries its tokenizer; false when none is known.</summary>
    private static bool CopyTokenizer(string? option, string? sourceFolder, ClipConfig config, string folder)
    {
        static bool Has(string? dir) => dir is not null && File.Exists(Path.Combine(dir, ClipTokenizer.VocabFile)) && File.Exists(Path.Combine(dir, ClipTokenizer.MergesFile));
        string? from = option;
        if (from is not null && !Has(from)) throw new VidSeekException($"--tokenizer {from}: {ClipTokenizer.VocabFile} and {ClipTokenizer.MergesFile} not found there");
        if (from is null && Has(sourceFolder)) from = sourceFolder;
        // X-Pool and openai CLIP tokenize with openai's BPE, the vocabulary VidSeek bundles.
        if (from is null && config.TextConfig.VocabSize == 49408 && Has(BundledTokenizer.Folder)) from = BundledTokenizer.Folder;
        if (from is null) return false;
        var tokenizer = ClipTokenizer.FromFolder(from); // refuse a broken tokenizer now, not at the first search
        int maxId = Math.Max(tokenizer.StartOfTextId, tokenizer.EndOfTextId);
        if (maxId >= config.TextConfig.VocabSize)
            throw new VidSeekException($"the tokenizer in {from} has ids up to {maxId}, beyond the model's vocabulary of {config.TextConfig.VocabSize}");
        foreach (var f in new[] { ClipTokenizer.VocabFile, ClipTokenizer.MergesFile })
            File.Copy(Path.Combine(from, f), Path.Combine(folder, f));
        return true;
    }
}
