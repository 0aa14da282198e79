using System.Buffers.Binary;
using System.Text;
using System.Text.Json.Nodes;
using TorchSharp;
using VidSeek.Models.Clip;
using VidSeek.Tensors;

namespace VidSeek.Tests.Reliability;

/// <summary>
/// Damaged model folders: the golden tiny CLIP (<c>../shared/golden/clip-tiny</c>) with its <c>model.safetensors</c> header,
/// data or <c>config.json</c> changed. Loading must succeed or end in one <see cref="VidSeekException"/>: targeted cases for
/// each failure the issue found, then seeded random mutations.
/// </summary>
public sealed class ModelFolderFuzzTests
{
    private static string Tiny => Path.Combine(TestPaths.Golden, "clip-tiny");

    /// <summary>A copy of the tiny CLIP folder whose files the caller may change.</summary>
    private sealed class Folder : IDisposable
    {
        private readonly TestPaths.TempDir tmp = TestPaths.NewTempDir();
        public string Path => tmp.Path;
        public string Weights => System.IO.Path.Combine(Path, "model.safetensors");
        public string Config => System.IO.Path.Combine(Path, "config.json");
        public Folder() { foreach (var f in new[] { "config.json", "model.safetensors" }) File.Copy(System.IO.Path.Combine(Tiny, f), System.IO.Path.Combine(Path, f)); }
        public void Dispose() => tmp.Dispose();
    }

    private static (JsonObject Header, byte[] Data) Split(byte[] file)
    {
        long n = (long)BinaryPrimitives.ReadUInt64LittleEndian(file);
        return ((JsonObject)JsonNode.Parse(file.AsSpan(8, (int)n))!, file[(8 + (int)n)..]);
    }

    private static byte[] Join(string headerJson, byte[] data)
    {
        var header = Encoding.UTF8.GetBytes(headerJson);
        var file = new byte[8 + header.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(file, (ulong)header.Length);
        header.CopyTo(file, 8);
        data.CopyTo(file, 8 + header.Length);
        return file;
    }

    private static string LoadError(Folder folder) => Assert.IsType<string>(FuzzHarness.CleanError(() => ClipModel.FromPretrained(folder.Path).Dispose()));

    [Fact]
    public void ANaNWeightIsRefusedWithTheTensorsName()
    {
        using var folder = new Folder();
        var (header, data) = Split(File.ReadAllBytes(folder.Weights));
        var entry = header["text_model.final_layer_norm.weight"]!;
        long begin = entry["data_offsets"]![0]!.GetValue<long>();
        BinaryPrimitives.WriteSingleLittleEndian(data.AsSpan((int)begin + 4), float.NaN);
        File.WriteAllBytes(folder.Weights, Join(header.ToJsonString(), data));
        Assert.Contains("tensor 'text_model.final_layer_norm.weight' has non-finite values", LoadError(folder));

        BinaryPrimitives.WriteSingleLittleEndian(data.AsSpan((int)begin + 4), float.NegativeInfinity);
        File.WriteAllBytes(folder.Weights, Join(header.ToJsonString(), data));
        Assert.Contains("'text_model.final_layer_norm.weight' has non-finite values", LoadError(folder));
    }

    [Theory]
    [InlineData("[\"0\", \"4\"]")]
    [InlineData("[0.5, 4]")]
    [InlineData("{\"a\": 0}")]
    [InlineData("\"0-4\"")]
    [InlineData("[null, 4]")]
    [InlineData("[0, 99999999999999999999999]")]
    public void DataOffsetsOfTheWrongJsonTypeAreAnError(string offsets)
    {
        using var folder = new Folder();
        var (header, data) = Split(File.ReadAllBytes(folder.Weights));
        header["logit_scale"]!["data_offsets"] = JsonNode.Parse(offsets);
        File.WriteAllBytes(folder.Weights, Join(header.ToJsonString(), data));
        Assert.Contains("entry 'logit_scale' has bad data_offsets", LoadError(folder));
    }

    [Fact]
    public void ADuplicateKeyInTheHeaderIsAnError()
    {
        using var folder = new Folder();
        var (header, data) = Split(File.ReadAllBytes(folder.Weights));
        string json = header.ToJsonString();
        string dup = "\"logit_scale\":" + header["logit_scale"]!.ToJsonString();
        File.WriteAllBytes(folder.Weights, Join(json.Insert(1, dup + ","), data));
        Assert.Contains("key 'logit_scale' appears twice in the header", LoadError(folder));
    }

    [Theory]
    [InlineData("I32")]
    [InlineData("U8")]
    public void AnIntegerDtypeForAFloatWeightIsAnErrorEvenWithTheSameByteCount(string dtype)
    {
        using var folder = new Folder();
        var (header, data) = Split(File.ReadAllBytes(folder.Weights));
        var entry = header["text_projection.weight"]!;
        entry["dtype"] = dtype;
        if (dtype == "U8") // 4x the elements in the same bytes
        {
            var shape = entry["shape"]!.AsArray();
            shape[1] = shape[1]!.GetValue<long>() * 4;
        }
        File.WriteAllBytes(folder.Weights, Join(header.ToJsonString(), data));
        string error = LoadError(folder);
        Assert.Contains("text_projection.weight", error);
    }

    [Fact]
    public void AShapeWhoseProductOverflowsIsAnError()
    {
        using var folder = new Folder();
        var (header, data) = Split(File.ReadAllBytes(folder.Weights));
        header["logit_scale"]!["shape"] = new JsonArray(4294967296L, 4294967296L, 4L);
        File.WriteAllBytes(folder.Weights, Join(header.ToJsonString(), data));
        Assert.Contains("entry 'logit_scale'", LoadError(folder));
    }

    [Theory]
    [InlineData("text_config", "num_hidden_layers", 100000, "text_config.num_hidden_layers is 100000 but the weights have 2 layers")]
    [InlineData("vision_config", "num_hidden_layers", 100000, "vision_config.num_hidden_layers is 100000 but the weights have 2 layers")]
    [InlineData("text_config", "hidden_size", 1 << 20, "text_model.embeddings.token_embedding.weight is [1000, 48] in the weights but the config makes it [1000, 1048576]")]
    [InlineData("vision_config", "image_size", 1 << 20, "vision_model.embeddings.position_embedding.weight")]
    [InlineData("text_config", "num_attention_heads", 0, "must be positive")]
    public void AConfigThatDisagreesWithTheWeightsFailsBeforeAnythingIsBuilt(string tower, string key, int value, string message)
    {
        using var folder = new Folder();
        var config = JsonNode.Parse(File.ReadAllText(folder.Config))!;
        config[tower]![key] = value;
        File.WriteAllText(folder.Config, config.ToJsonString());
        long before = System.Diagnostics.Process.GetCurrentProcess().WorkingSet64;
        Assert.Contains(message, LoadError(folder));
        Assert.True(System.Diagnostics.Process.GetCurrentProcess().WorkingSet64 - before < 200L << 20, "no large allocation happened");
    }

    [Fact]
    public void NonFiniteScoresAreWrittenAsNamedLiteralsNotACrash()
    {
        // The CLI's JSON options: a NaN score (which finite weights make unlikely, but overflow can produce) is text.
        string json = System.Text.Json.JsonSerializer.Serialize(new { score = float.NaN, other = double.PositiveInfinity }, Cli.Commands.CommonOptions.JsonIndented);
        Assert.Contains("\"NaN\"", json);
        Assert.Contains("\"Infinity\"", json);
    }

    // ---- seeded random mutations ----

    private static readonly string[] DTypes = ["F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "BOOL", "F8", "", "f32"];

    private static JsonNode? RandomValue(Random r) => r.Next(14) switch
    {
        0 => JsonValue.Create(0),
        1 => JsonValue.Create(-1),
        2 => JsonValue.Create(100000),
        3 => JsonValue.Create(int.MaxValue),
        4 => JsonValue.Create(long.MaxValue),
        5 => JsonValue.Create(1e300),
        6 => JsonValue.Create(0.5),
        7 => JsonValue.Create("x"),
        8 => null,
        9 => JsonValue.Create(true),
        10 => new JsonArray(),
        11 => new JsonObject(),
        12 => JsonValue.Create(r.Next(1, 5000)),
        _ => JsonValue.Create(-r.Next(1, 5000)),
    };

    /// <summary>One random change to a safetensors file: a header field, the header's bytes, its length, the data, or the size.</summary>
    private static (string What, byte[] File) MutateWeights(Random r, byte[] original)
    {
        var (header, data) = Split(original);
        var names = header.Select(kv => kv.Key).Where(k => k != "__metadata__").ToList();
        string name = names[r.Next(names.Count)];
        var entry = header[name]!.AsObject();
        switch (r.Next(12))
        {
            case 0: entry["dtype"] = DTypes[r.Next(DTypes.Length)]; return ($"dtype of {name} = {entry["dtype"]}", Join(header.ToJsonString(), data));
            case 1:
            {
                var shape = entry["shape"]!.AsArray();
                if (shape.Count == 0) shape.Add(RandomValue(r)); else shape[r.Next(shape.Count)] = RandomValue(r);
                return ($"a dimension of {name} = {shape.ToJsonString()}", Join(header.ToJsonString(), data));
            }
            case 2:
            {
                var offsets = entry["data_offsets"]!.AsArray();
                offsets[r.Next(2)] = RandomValue(r);
                return ($"data_offsets of {name} = {offsets.ToJsonString()}", Join(header.ToJsonString(), data));
            }
            case 3: entry[new[] { "dtype", "shape", "data_offsets" }[r.Next(3)]] = RandomValue(r); return ($"a field of {name} replaced", Join(header.ToJsonString(), data));
            case 4: header.Remove(name); return ($"{name} removed", Join(header.ToJsonString(), data));
            case 5:
            {
                string json = header.ToJsonString();
                return ($"{name} twice", Join(json.Insert(1, $"\"{name}\":{entry.ToJsonString()},"), data));
            }
            case 6: header["__metadata__"] = RandomValue(r); return ("__metadata__ replaced", Join(header.ToJsonString(), data));
            case 7:
            {
                var bytes = (byte[])original.Clone();
                int headerLength = (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
                int flips = r.Next(1, 8);
                for (int f = 0; f < flips; f++) bytes[8 + r.Next(headerLength)] = (byte)r.Next(256);
                return ($"{flips} header bytes changed", bytes);
            }
            case 8:
            {
                var bytes = (byte[])original.Clone();
                ulong length = r.Next(4) switch { 0 => 0, 1 => ulong.MaxValue, 2 => (ulong)r.Next(1, 200_000), _ => BinaryPrimitives.ReadUInt64LittleEndian(bytes) + (ulong)r.Next(-8, 8) };
                BinaryPrimitives.WriteUInt64LittleEndian(bytes, length);
                return ($"header length {length}", bytes);
            }
            case 9:
            {
                // A non-finite or huge value in a float tensor's data.
                var dtype = entry["dtype"]!.GetValue<string>();
                long begin = entry["data_offsets"]![0]!.GetValue<long>(), end = entry["data_offsets"]![1]!.GetValue<long>();
                if (dtype != "F32" || end - begin < 4) return ("unchanged", original);
                float value = new[] { float.NaN, float.PositiveInfinity, float.NegativeInfinity, 1e38f, -0f }[r.Next(5)];
                long at = begin + 4 * r.NextInt64((end - begin) / 4);
                BinaryPrimitives.WriteSingleLittleEndian(data.AsSpan((int)at), value);
                return ($"{name}[{(at - begin) / 4}] = {value}", Join(header.ToJsonString(), data));
            }
            case 10: return ($"truncated", original[..r.Next(original.Length)]);
            default:
            {
                var extra = new byte[r.Next(1, 64)];
                r.NextBytes(extra);
                return ($"{extra.Length} bytes appended", [.. original, .. extra]);
            }
        }
    }

    /// <summary>One random change to config.json: a number, a string, a type, a missing key, or its bytes.</summary>
    private static (string What, string Text) MutateConfig(Random r, string original)
    {
        if (r.Next(8) == 0)
        {
            var chars = original.ToCharArray();
            for (int f = r.Next(1, 4); f > 0; f--) chars[r.Next(chars.Length)] = "{}[]\":,0a-9e."[r.Next(13)];
            return ("characters changed", new string(chars));
        }
        if (r.Next(16) == 0) return ("truncated", original[..r.Next(original.Length)]);
        var root = JsonNode.Parse(original)!.AsObject();
        var parent = r.Next(3) switch { 0 => root, 1 => root["text_config"]!.AsObject(), _ => root["vision_config"]!.AsObject() };
        var keys = parent.Select(kv => kv.Key).ToList();
        string key = keys[r.Next(keys.Count)];
        if (r.Next(6) == 0) { parent.Remove(key); return ($"{key} removed", root.ToJsonString()); }
        var value = RandomValue(r);
        parent[key] = value;
        return ($"{key} = {value?.ToJsonString() ?? "null"}", root.ToJsonString());
    }

    [Fact]
    public void FuzzedWeightsFilesLoadOrFailCleanly()
    {
        using var folder = new Folder();
        var original = File.ReadAllBytes(folder.Weights);
        var outcome = FuzzHarness.Run("model.safetensors", FuzzHarness.Iterations(100), (r, _) =>
        {
            var (what, bytes) = MutateWeights(r, original);
            return (what, () =>
            {
                File.WriteAllBytes(folder.Weights, bytes);
                using var scope = torch.NewDisposeScope();
                ClipModel.FromPretrained(folder.Path).Dispose();
            });
        });
        Assert.True(outcome.CleanErrors > outcome.Cases / 2, outcome.ToString()); // the mutations do reach the checks
        Assert.True(outcome.ErrorKinds.Count >= 8, $"{outcome}: error kinds {string.Join(" | ", outcome.ErrorKinds.Keys)}");
    }

    [Fact]
    public void FuzzedConfigsLoadOrFailCleanly()
    {
        using var folder = new Folder();
        string original = File.ReadAllText(folder.Config);
        var outcome = FuzzHarness.Run("config.json", FuzzHarness.Iterations(40), (r, _) =>
        {
            var (what, text) = MutateConfig(r, original);
            return (what, () =>
            {
                File.WriteAllText(folder.Config, text);
                using var scope = torch.NewDisposeScope();
                ClipModel.FromPretrained(folder.Path).Dispose();
            });
        });
        Assert.True(outcome.CleanErrors > outcome.Cases / 3, outcome.ToString());
    }
}
