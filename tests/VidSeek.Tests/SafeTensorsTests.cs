using System.Buffers.Binary;
using System.Text;
using TorchSharp;
using VidSeek.Tensors;
using static TorchSharp.torch;

namespace VidSeek.Tests;

public class SafeTensorsTests
{
    [Fact]
    public void RoundTripsEveryDtypeAndScalars()
    {
        using var tmp = TestPaths.NewTempDir();
        string path = Path.Combine(tmp.Path, "t.safetensors");
        var tensors = new Dictionary<string, Tensor>
        {
            ["f32"] = torch.randn(2, 3),
            ["f16"] = torch.randn(4).to(ScalarType.Float16),
            ["bf16"] = torch.randn(3, 1).to(ScalarType.BFloat16),
            ["i64"] = torch.tensor(new long[] { long.MinValue, -1, 0, long.MaxValue }),
            ["i32"] = torch.tensor(new[] { int.MinValue, 7, int.MaxValue }),
            ["u8"] = torch.tensor(new byte[] { 0, 128, 255 }),
            ["bool"] = torch.tensor(new[] { true, false, true }),
            ["scalar"] = torch.tensor(2.5f),
            ["empty"] = torch.zeros(0, 4),
        };
        SafeTensors.Save(path, tensors, new Dictionary<string, string> { ["format"] = "pt" });
        var back = SafeTensors.Load(path, out var meta);
        Assert.Equal("pt", meta["format"]);
        Assert.Equal(tensors.Keys.Order(), back.Keys.Order());
        foreach (var (k, t) in tensors)
        {
            Assert.Equal(t.dtype, back[k].dtype);
            Assert.Equal(t.shape, back[k].shape);
            Assert.Equal(t.bytes.ToArray(), back[k].bytes.ToArray());
        }
        Assert.Empty(back["scalar"].shape);
        // The data section starts on an 8-byte boundary.
        Assert.Equal(0, SafeTensors.ReadHeader(path).DataStart % 8);
        Assert.Empty(Directory.GetFiles(tmp.Path, "*.tmp-*"));
    }

    [Fact]
    public void ReadsTheGoldenFilesWrittenByAnotherCodec()
    {
        var inputs = SafeTensors.Load(Path.Combine(TestPaths.Golden, "clip-tiny", "inputs.safetensors"));
        Assert.Equal(ScalarType.Int64, inputs["input_ids"].dtype);
        // Row 0 is SOT, 3 ids, EOT, then zero padding (the ids themselves differ from the README's example listing).
        var row0 = inputs["input_ids"][0].data<long>().ToArray();
        Assert.Equal(16, row0.Length);
        Assert.Equal((998L, 999L), (row0[0], row0[4]));
        Assert.All(row0[1..4], id => Assert.InRange(id, 1L, 990L));
        Assert.All(row0[5..], id => Assert.Equal(0L, id));
        var model = SafeTensors.Load(Path.Combine(TestPaths.Golden, "clip-tiny", "model.safetensors"));
        Assert.Equal(78, model.Count);
        Assert.Empty(model["logit_scale"].shape);
        Assert.Equal(2.6592600345611572, model["logit_scale"].item<float>(), 6);
    }

    public static TheoryData<string, string> BrokenFiles() => new()
    {
        { "truncated", "truncated?" },
        { "short", "too short" },
        { "header-too-long", "runs past the end of the file" },
        { "bad-json", "not valid JSON" },
        { "size-lies", "claims 8 bytes but shape [3] of F32 needs 12" },
        { "bad-dtype", "unsupported dtype 'Q7'" },
        { "overlap", "overlaps" },
        { "gap", "gap in the data section" },
        { "extra-data", "cover" },
    };

    [Theory]
    [MemberData(nameof(BrokenFiles))]
    public void BrokenFilesGiveErrorsNamingTheFile(string kind, string expectedText)
    {
        using var tmp = TestPaths.NewTempDir();
        string path = Path.Combine(tmp.Path, kind + ".safetensors");
        byte[] Build(string json, int dataBytes)
        {
            var h = Encoding.UTF8.GetBytes(json);
            var b = new byte[8 + h.Length + dataBytes];
            BinaryPrimitives.WriteUInt64LittleEndian(b, (ulong)h.Length);
            h.CopyTo(b, 8);
            return b;
        }
        const string one = "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]}}";
        byte[] bytes = kind switch
        {
            "truncated" => Build(one, 12)[..^4],
            "short" => new byte[5],
            "header-too-long" => Build(one, 12).Select((x, i) => i == 0 ? (byte)0xff : i < 8 ? (byte)0 : x).ToArray(),
            "bad-json" => Build("{\"a\":", 0),
            "size-lies" => Build("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8),
            "bad-dtype" => Build("{\"a\":{\"dtype\":\"Q7\",\"shape\":[3],\"data_offsets\":[0,12]}}", 12),
            "overlap" => Build("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12),
            "gap" => Build("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12),
            "extra-data" => Build(one, 16),
            _ => throw new ArgumentException(kind),
        };
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<VidSeekException>(() => SafeTensors.Load(path));
        Assert.Contains(path, e.Message);
        Assert.Contains(expectedText, e.Message);
    }

    [Fact]
    public void MissingFileIsNamed()
    {
        var e = Assert.Throws<VidSeekException>(() => SafeTensors.Load("/nonexistent/x.safetensors"));
        Assert.Contains("/nonexistent/x.safetensors", e.Message);
    }
}
