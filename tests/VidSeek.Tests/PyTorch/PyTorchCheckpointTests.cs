using System.IO.Compression;
using System.Text;
using TorchSharp;
using VidSeek.Models;
using VidSeek.Models.Clip;
using VidSeek.Models.DualEncoder;
using VidSeek.Models.PyTorch;
using VidSeek.Tensors;

namespace VidSeek.Tests.PyTorch;

/// <summary>Reading PyTorch checkpoints: refusing what is unsafe, clean errors for what is broken, and not reading what is not used.</summary>
public class PyTorchCheckpointTests
{
    private static string XPoolHf => Path.Combine(TestPaths.Golden, "xpool-ckpt-hf", "model_best.pth");
    private static string XPoolOpenAi => Path.Combine(TestPaths.Golden, "xpool-ckpt-openai", "model_best.pth");
    private static string ClipConfigOf(string checkpoint) => Path.Combine(Path.GetDirectoryName(checkpoint)!, "clip_config.json");

    /// <summary>A zip laid out as torch.save lays it out (<c>archive/data.pkl</c>, <c>archive/version</c>) holding <paramref name="pickle"/>.</summary>
    public static void WriteArchive(string path, byte[] pickle, params (string Name, byte[] Data)[] extra)
    {
        using var zip = ZipFile.Open(path, ZipArchiveMode.Create);
        void Add(string name, byte[] data)
        {
            using var s = zip.CreateEntry(name, CompressionLevel.NoCompression).Open();
            s.Write(data);
        }
        Add("archive/data.pkl", pickle);
        Add("archive/version", "3\n"u8.ToArray());
        foreach (var (name, data) in extra) Add(name, data);
    }

    /// <summary>Protocol 2: GLOBAL module name, a one-string argument tuple, REDUCE, as <c>__reduce__</c> returning (func, (arg,)) pickles.</summary>
    private static byte[] ReducePickle(string module, string name, string arg)
    {
        var b = new List<byte> { 0x80, 0x02, (byte)'c' };
        b.AddRange(Encoding.ASCII.GetBytes($"{module}\n{name}\n"));
        b.Add((byte)'X');
        var s = Encoding.UTF8.GetBytes(arg);
        b.AddRange(BitConverter.GetBytes(s.Length));
        b.AddRange(s);
        b.AddRange([0x85, (byte)'R', (byte)'.']); // TUPLE1 REDUCE STOP
        return [.. b];
    }

    [Theory]
    [InlineData("posix", "system")]
    [InlineData("os", "system")]
    [InlineData("builtins", "eval")]
    [InlineData("builtins", "exec")]
    [InlineData("subprocess", "Popen")]
    public void APickleThatWouldRunCodeIsRefusedByNameAndNothingRuns(string module, string name)
    {
        using var tmp = TestPaths.NewTempDir();
        string marker = Path.Combine(tmp.Path, "pwned");
        string arg = name == "eval" || name == "exec" ? $"__import__('os').system('touch {marker}')" : $"touch {marker}";
        string pth = Path.Combine(tmp.Path, "model_best.pth");
        WriteArchive(pth, ReducePickle(module, name, arg));

        var e = Assert.Throws<VidSeekException>(() => TorchArchive.Open(pth));
        Assert.Contains($"'{module}.{name}'", e.Message);
        Assert.Contains(pth, e.Message);

        // The same through the CLI: one line, exit 1, no output folder, nothing executed.
        string outDir = Path.Combine(tmp.Path, "out");
        var (code, _, err) = CliRunner.Run("convert", pth, "--out", outDir);
        Assert.Equal(1, code);
        Assert.Contains($"refused to load the pickle global '{module}.{name}'", err);
        Assert.Single(err.Trim().Split('\n'));
        Assert.False(Directory.Exists(outDir));
        Assert.Empty(Directory.GetDirectories(tmp.Path));
        Assert.False(File.Exists(marker));
        // And where a model folder is expected (ModelSource converts .pth files).
        Assert.Contains($"'{module}.{name}'", Assert.Throws<VidSeekException>(() => ModelSource.Resolve(pth)).Message);
        Assert.False(File.Exists(marker));
    }

    [Fact]
    public void StackGlobalAndObjectBuildingOpcodesAreRefusedToo()
    {
        using var tmp = TestPaths.NewTempDir();
        string pth = Path.Combine(tmp.Path, "a.pth");
        // Protocol 4: SHORT_BINUNICODE 'posix', SHORT_BINUNICODE 'system', STACK_GLOBAL.
        byte[] stackGlobal = [0x80, 0x04, 0x8c, 5, .. "posix"u8, 0x8c, 6, .. "system"u8, 0x93, 0x8c, 4, .. "true"u8, 0x85, (byte)'R', (byte)'.'];
        WriteArchive(pth, stackGlobal);
        Assert.Contains("'posix.system'", Assert.Throws<VidSeekException>(() => TorchArchive.Open(pth)).Message);

        // INST (protocol 0) names and calls a class in one opcode: refused as an opcode torch never writes.
        File.Delete(pth);
        WriteArchive(pth, [(byte)'(', (byte)'i', .. "os\nsystem\n"u8, (byte)'.']);
        Assert.Contains("unsupported pickle opcode 0x69", Assert.Throws<VidSeekException>(() => TorchArchive.Open(pth)).Message);

        // A TorchScript class name outside a TorchScript archive (no code/ folder) is not an attribute bag but a refusal.
        File.Delete(pth);
        WriteArchive(pth, [0x80, 0x02, (byte)'c', .. "__torch__.evil\nModule\n"u8, (byte)')', 0x81, (byte)'.']);
        Assert.Contains("'__torch__.evil.Module'", Assert.Throws<VidSeekException>(() => TorchArchive.Open(pth)).Message);
    }

    [Fact]
    public void TruncatedAndCorruptFilesAreOneClearError()
    {
        using var tmp = TestPaths.NewTempDir();
        byte[] bytes = File.ReadAllBytes(XPoolHf);

        string truncated = Path.Combine(tmp.Path, "truncated.pth");
        File.WriteAllBytes(truncated, bytes[..(bytes.Length / 2)]);
        var e = Assert.Throws<VidSeekException>(() => TorchArchive.Open(truncated));
        Assert.Contains(truncated, e.Message);
        Assert.Contains("truncated or corrupt", e.Message);

        // The central directory intact but the pickle's bytes garbled: the pickle VM stops with a message, no crash.
        using (var zip = new ZipArchive(new MemoryStream(bytes)))
        {
            var pkl = zip.Entries.Single(en => en.FullName.EndsWith("data.pkl"));
            using var ms = new MemoryStream();
            pkl.Open().CopyTo(ms);
            var garbled = ms.ToArray();
            for (int i = 40; i < garbled.Length; i += 7) garbled[i] ^= 0x5a;
            string corrupt = Path.Combine(tmp.Path, "corrupt.pth");
            WriteArchive(corrupt, garbled);
            var ce = Assert.ThrowsAny<VidSeekException>(() => PyTorchConverter.Convert(corrupt, Path.Combine(tmp.Path, "o1"), new ConvertOptions()));
            Assert.Contains(corrupt, ce.Message);
        }

        string notZip = Path.Combine(tmp.Path, "junk.pth");
        File.WriteAllBytes(notZip, "PK\u0003\u0004 this is not really a zip file at all"u8.ToArray());
        Assert.Contains("not a complete PyTorch zip archive", Assert.Throws<VidSeekException>(() => TorchArchive.Open(notZip)).Message);

        // Through the CLI: one line, non-zero exit, no folder left behind.
        string outDir = Path.Combine(tmp.Path, "out");
        var (code, _, err) = CliRunner.Run("convert", truncated, "--out", outDir);
        Assert.Equal(1, code);
        Assert.StartsWith("error: ", err);
        Assert.Contains(truncated, err);
        Assert.DoesNotContain("   at ", err);
        Assert.Single(err.Trim().Split('\n'));
        Assert.False(Directory.Exists(outDir));
    }

    [Fact]
    public void AStorageEntryThatIsCutShortIsNamed()
    {
        using var tmp = TestPaths.NewTempDir();
        string pth = Path.Combine(tmp.Path, "short.bin");
        using (var src = ZipFile.OpenRead(Path.Combine(TestPaths.Golden, "clip-tiny-bin", "pytorch_model.bin")))
        using (var dst = ZipFile.Open(pth, ZipArchiveMode.Create))
            foreach (var entry in src.Entries)
            {
                using var ms = new MemoryStream();
                entry.Open().CopyTo(ms);
                var data = ms.ToArray();
                if (entry.FullName.EndsWith("/data/2")) data = data[..100]; // the token embedding's storage
                using var s = dst.CreateEntry(entry.FullName, CompressionLevel.NoCompression).Open();
                s.Write(data);
            }
        var e = Assert.Throws<VidSeekException>(() => PyTorchConverter.Convert(pth, Path.Combine(tmp.Path, "o"), new ConvertOptions { ClipConfig = Path.Combine(TestPaths.Golden, "clip-tiny-bin") }));
        Assert.Contains("pytorch_model/data/2 holds 100 bytes", e.Message);
        Assert.False(Directory.Exists(Path.Combine(tmp.Path, "o")));
    }

    [Fact]
    public void ALegacyPickleGetsTheWayToResaveIt()
    {
        using var tmp = TestPaths.NewTempDir();
        string legacy = Path.Combine(tmp.Path, "old.pth");
        // What torch < 1.6 writes first: the pickled magic number 0x1950a86a20f9469cfc6c (LONG1), protocol 2.
        File.WriteAllBytes(legacy, [0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, (byte)'.']);
        var e = Assert.Throws<VidSeekException>(() => TorchArchive.Open(legacy));
        Assert.Contains("legacy (pre-1.6, non-zip) PyTorch pickle", e.Message);
        Assert.Contains("torch.save(torch.load('OLD', map_location='cpu'), 'NEW')", e.Message);
        Assert.Contains("_use_new_zipfile_serialization=True", e.Message);
        Assert.Contains("re-save", Assert.Throws<VidSeekException>(() => ModelSource.Resolve(legacy)).Message);
    }

    /// <summary>
    /// X-Pool's checkpoint holds AdamW state (exp_avg, exp_avg_sq per parameter) beside the model: conversion reads only
    /// the state dict's storages. The optimizer's storage keys are found by walking its (unread) pickle subtree.
    /// </summary>
    [Fact]
    public void OptimizerStateIsNeverRead()
    {
        using var archive = TorchArchive.Open(XPoolHf);
        Assert.Empty(archive.StoragesRead); // opening reads the pickle only
        var root = Assert.IsType<PickleDict>(archive.Root);
        var optimizerKeys = new HashSet<string>();
        void Walk(object? o)
        {
            switch (o)
            {
                case TensorRef t: optimizerKeys.Add(t.Storage.Key); break;
                case PickleDict d: foreach (var v in d.Values) Walk(v); break;
                case List<object?> l: foreach (var v in l) Walk(v); break;
                case PickleTuple t: foreach (var v in t.Items) Walk(v); break;
            }
        }
        Walk(root["optimizer"]);
        Assert.True(optimizerKeys.Count >= 2 * 94, $"the optimizer holds {optimizerKeys.Count} storages");

        using var tmp = TestPaths.NewTempDir();
        var result = PyTorchConverter.Convert(XPoolHf, Path.Combine(tmp.Path, "out"), new ConvertOptions { ClipConfig = ClipConfigOf(XPoolHf), XPoolHeads = 2 });
        Assert.Equal(94, result.StoragesRead.Count); // 96 keys less the two position_ids buffers, which are ignored unread
        Assert.DoesNotContain(result.StoragesRead, optimizerKeys.Contains);
        int entries;
        using (var zip = ZipFile.OpenRead(XPoolHf)) entries = zip.Entries.Count(e => e.FullName.Contains("/data/"));
        Assert.True(entries >= 94 + optimizerKeys.Count, $"{entries} storages in the file");
    }

    [Fact]
    public void StateDictIsFoundAtTopLevelOrUnderAKey()
    {
        using (var bin = TorchArchive.Open(Path.Combine(TestPaths.Golden, "clip-tiny-bin", "pytorch_model.bin")))
        {
            var (sd, where) = PyTorchConverter.FindStateDict(bin);
            Assert.Equal("the top-level dict", where);
            Assert.Equal(80, sd.Count);
        }
        using (var x = TorchArchive.Open(XPoolOpenAi))
        {
            var (sd, where) = PyTorchConverter.FindStateDict(x);
            Assert.Equal("'state_dict'", where);
            Assert.Equal(62 + 16, sd.Count); // openai CLIP keys + pool_frames.*
        }
        using (var jit = TorchArchive.Open(Path.Combine(TestPaths.Golden, "clip-tiny-jit", "ViT-tiny.pt")))
        {
            Assert.True(jit.IsTorchScript);
            var (sd, _) = PyTorchConverter.FindStateDict(jit);
            Assert.Equal(62, sd.Count); // the openai state_dict() keys; TorchScript constants (the causal mask) are not attributes
            Assert.Contains(sd, kv => kv.Key == "visual.transformer.resblocks.1.attn.in_proj_weight");
        }
    }

    /// <summary>Rewrites one key of the openai-layout X-Pool checkpoint (same length, so the pickle stays valid) and checks the error names it.</summary>
    [Fact]
    public void MissingUnexpectedAndMisshapenKeysAreNamed()
    {
        using var tmp = TestPaths.NewTempDir();
        string renamed = Path.Combine(tmp.Path, "renamed.pth");
        using (var src = ZipFile.OpenRead(XPoolOpenAi))
        using (var dst = ZipFile.Open(renamed, ZipArchiveMode.Create))
            foreach (var entry in src.Entries)
            {
                using var ms = new MemoryStream();
                entry.Open().CopyTo(ms);
                var data = ms.ToArray();
                if (entry.FullName.EndsWith("data.pkl"))
                    data = Encoding.Latin1.GetBytes(Encoding.Latin1.GetString(data).Replace("clip.ln_final.bias", "clip.ln_finax.bias"));
                using var s = dst.CreateEntry(entry.FullName, CompressionLevel.NoCompression).Open();
                s.Write(data);
            }
        var e = Assert.Throws<VidSeekException>(() => PyTorchConverter.Convert(renamed, Path.Combine(tmp.Path, "o"), new ConvertOptions { ClipConfig = ClipConfigOf(XPoolOpenAi) }));
        Assert.Contains("unexpected key(s): clip.ln_finax.bias", e.Message);
        Assert.Contains("openai CLIP layout", e.Message);

        // A config whose vocabulary differs from the weights: the shape mismatch names our key and both shapes.
        string config = Path.Combine(tmp.Path, "config.json");
        File.WriteAllText(config, File.ReadAllText(ClipConfigOf(XPoolOpenAi)).Replace("\"vocab_size\": 1000", "\"vocab_size\": 999"));
        Assert.Contains("\"vocab_size\": 999", File.ReadAllText(config));
        e = Assert.Throws<VidSeekException>(() => PyTorchConverter.Convert(XPoolOpenAi, Path.Combine(tmp.Path, "o"), new ConvertOptions { ClipConfig = config, XPoolHeads = 2 }));
        Assert.Contains("clip.text_model.embeddings.token_embedding.weight is [1000, 48] in the file but [999, 48] in the model", e.Message);

        // A CLIP-only checkpoint told it has an X-Pool head.
        e = Assert.Throws<VidSeekException>(() => PyTorchConverter.Convert(Path.Combine(TestPaths.Golden, "clip-tiny-bin"), Path.Combine(tmp.Path, "o"), new ConvertOptions { XPoolHeads = 2 }));
        Assert.Contains("no X-Pool head", e.Message);
        Assert.False(Directory.Exists(Path.Combine(tmp.Path, "o")));
    }

    /// <summary>
    /// Both layouts give the same model: the openai conversion (q|k|v split, projections transposed) equals the HF keys
    /// tensor for tensor. A transposed or mis-split weight would differ here even where shapes agree (the 64 x 64 visual.proj).
    /// </summary>
    [Fact]
    public void OpenAiAndHuggingFaceLayoutsConvertToTheSameTensors()
    {
        using var tmp = TestPaths.NewTempDir();
        PyTorchConverter.Convert(XPoolHf, Path.Combine(tmp.Path, "hf"), new ConvertOptions { ClipConfig = ClipConfigOf(XPoolHf), XPoolHeads = 2 });
        PyTorchConverter.Convert(XPoolOpenAi, Path.Combine(tmp.Path, "oa"), new ConvertOptions { ClipConfig = ClipConfigOf(XPoolOpenAi), XPoolHeads = 2 });
        var hf = SafeTensors.Load(Path.Combine(tmp.Path, "hf", "model.safetensors"));
        var oa = SafeTensors.Load(Path.Combine(tmp.Path, "oa", "model.safetensors"));
        Assert.Equal(hf.Keys.Order(), oa.Keys.Order());
        foreach (var (k, t) in hf) TensorAssert.Close(t, oa[k], 0, k);
        // And the CLIP part equals clip-tiny's own safetensors.
        var tiny = SafeTensors.Load(Path.Combine(TestPaths.Golden, "clip-tiny", "model.safetensors"));
        foreach (var (k, t) in tiny) TensorAssert.Close(t, oa["clip." + k], 0, k);
        Assert.Equal(2, DualEncoderConfig.Load(Path.Combine(tmp.Path, "oa", "config.json")).XPoolHeads);
    }

    [Fact]
    public void ArchitectureIsInferredFromShapesAsOpenAiDoes()
    {
        // ViT-B/32's shapes (HF names), as the openai checkpoint's tensors give them.
        var shapes = new Dictionary<string, long[]>
        {
            ["vision_model.embeddings.patch_embedding.weight"] = [768, 3, 32, 32],
            ["vision_model.embeddings.position_embedding.weight"] = [50, 768],
            ["vision_model.encoder.layers.0.mlp.fc1.weight"] = [3072, 768],
            ["text_model.embeddings.token_embedding.weight"] = [49408, 512],
            ["text_model.embeddings.position_embedding.weight"] = [77, 512],
            ["text_model.encoder.layers.0.mlp.fc1.weight"] = [2048, 512],
            ["text_projection.weight"] = [512, 512],
        };
        for (int i = 0; i < 12; i++)
        {
            shapes[$"vision_model.encoder.layers.{i}.self_attn.q_proj.weight"] = [768, 768];
            shapes[$"text_model.encoder.layers.{i}.self_attn.q_proj.weight"] = [512, 512];
        }
        var c = PyTorchConverter.InferClipConfig(shapes, "ViT-B-32.pt");
        Assert.Equal((224, 32, 12, 12, 768, 3072), (c.VisionConfig.ImageSize, c.VisionConfig.PatchSize, c.VisionConfig.NumAttentionHeads, c.VisionConfig.NumHiddenLayers, c.VisionConfig.HiddenSize, c.VisionConfig.IntermediateSize));
        Assert.Equal((49408, 77, 8, 12, 512, 2048, 49407), (c.TextConfig.VocabSize, c.TextConfig.MaxPositionEmbeddings, c.TextConfig.NumAttentionHeads, c.TextConfig.NumHiddenLayers, c.TextConfig.HiddenSize, c.TextConfig.IntermediateSize, c.TextConfig.EosTokenId));
        Assert.Equal(512, c.ProjectionDim);
        // The tiny golden model's 48-wide text tower does not follow width / 64: an error that says to pass the config.
        var e = Assert.Throws<VidSeekException>(() => PyTorchConverter.Convert(Path.Combine(TestPaths.Golden, "clip-tiny-jit", "ViT-tiny.pt"), Path.Combine(Path.GetTempPath(), $"vidseek-never-{Guid.NewGuid():N}"), new ConvertOptions()));
        Assert.Contains("width 48 is not a multiple of 64", e.Message);
        Assert.Contains("--clip-config", e.Message);
    }

    [Fact]
    public void AHuggingFaceFolderWithOnlyPytorchModelBinIsConvertedOnceAndReused()
    {
        using var tmp = TestPaths.NewTempDir();
        string folder = Path.Combine(tmp.Path, "clip");
        Directory.CreateDirectory(folder);
        foreach (var f in new[] { "config.json", "pytorch_model.bin" }) File.Copy(Path.Combine(TestPaths.Golden, "clip-tiny-bin", f), Path.Combine(folder, f));
        string converted = ModelSource.Resolve(folder);
        Assert.StartsWith(ConvertedModelCache.Root, converted);
        var stamp = File.GetLastWriteTimeUtc(Path.Combine(converted, "model.safetensors"));
        Assert.Equal(converted, ModelSource.Resolve(folder));
        Assert.Equal(stamp, File.GetLastWriteTimeUtc(Path.Combine(converted, "model.safetensors")));
        Assert.Empty(Directory.GetDirectories(ConvertedModelCache.Root).Where(d => d.Contains(".tmp-")));
        using var model = ClipModel.FromPretrained(converted);
        Assert.Equal(1000, model.Config.TextConfig.VocabSize);
    }
    /// <summary>A HF folder of another model type (here a "bert" config over clip-tiny's tensors) is copied key for key, dtype for dtype, with its other files.</summary>
    [Fact]
    public void AnotherModelTypesPytorchModelBinIsCopiedAsStored()
    {
        using var tmp = TestPaths.NewTempDir();
        string folder = Path.Combine(tmp.Path, "bert");
        Directory.CreateDirectory(folder);
        File.Copy(Path.Combine(TestPaths.Golden, "clip-tiny-bin", "pytorch_model.bin"), Path.Combine(folder, "pytorch_model.bin"));
        File.WriteAllText(Path.Combine(folder, "config.json"), "{\"model_type\": \"bert\"}");
        File.WriteAllText(Path.Combine(folder, "vocab.txt"), "[PAD]\n[UNK]\n");
        string converted = ModelSource.Resolve(folder, "--init-text");
        Assert.Equal(["config.json", "model.safetensors", "vocab.txt"], Directory.GetFiles(converted).Select(Path.GetFileName).Order());
        var tensors = SafeTensors.Load(Path.Combine(converted, "model.safetensors"));
        Assert.Equal(80, tensors.Count);
        Assert.Equal(torch.ScalarType.Int64, tensors["text_model.embeddings.position_ids"].dtype);
        foreach (var (k, t) in SafeTensors.Load(Path.Combine(TestPaths.Golden, "clip-tiny", "model.safetensors")))
            TensorAssert.Close(t, tensors[k], 0, k);
    }
}
