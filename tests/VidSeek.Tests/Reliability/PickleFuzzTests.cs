using System.IO.Compression;
using System.Text;
using TorchSharp;
using VidSeek.Models.PyTorch;

namespace VidSeek.Tests.Reliability;

/// <summary>
/// Fuzzing the PyTorch checkpoint reader (<see cref="TorchArchive"/> and <see cref="RestrictedUnpickler"/>) with mutations of a
/// small real checkpoint (the golden tiny CLIP's <c>pytorch_model.bin</c>): the pickle alone, and the whole zip. Each case
/// must load or end in one clean error; nothing in a pickle is ever executed (a refused global is an error, never a call).
/// </summary>
[Collection(ProcessStateCollection.Name)]
public sealed class PickleFuzzTests
{
    private static string Checkpoint => Path.Combine(TestPaths.Golden, "clip-tiny-bin", "pytorch_model.bin");

    private static byte[] DataPkl()
    {
        using var zip = ZipFile.OpenRead(Checkpoint);
        var entry = zip.Entries.Single(e => e.FullName.EndsWith("/data.pkl", StringComparison.Ordinal));
        using var s = entry.Open();
        using var m = new MemoryStream();
        s.CopyTo(m);
        return m.ToArray();
    }

    /// <summary>Globals an attacker would name: each must be refused by name, never resolved.</summary>
    private static readonly string[] Hostile = ["os\nsystem", "posix\nsystem", "builtins\neval", "builtins\nexec", "subprocess\nPopen", "__builtin__\ngetattr", "torch\nload", "numpy.core.multiarray\n_reconstruct"];

    private static byte[] Mutate(byte[] original, Random r)
    {
        var b = original.ToList();
        int kind = r.Next(7);
        switch (kind)
        {
            case 0: // flip a few bytes
                for (int i = 0, n = 1 + r.Next(8); i < n; i++) b[r.Next(b.Count)] ^= (byte)(1 << r.Next(8));
                break;
            case 1: // random bytes at a random place
                for (int i = 0, at = r.Next(b.Count), n = 1 + r.Next(16); i < n && at + i < b.Count; i++) b[at + i] = (byte)r.Next(256);
                break;
            case 2: // truncate
                return original[..r.Next(original.Length)];
            case 3: // insert a hostile GLOBAL + REDUCE after the header
                var global = Encoding.ASCII.GetBytes("c" + Hostile[r.Next(Hostile.Length)] + "\n").Concat("(S'touch /tmp/vidseek-pwned'\ntR"u8.ToArray());
                b.InsertRange(Math.Min(b.Count, 2 + r.Next(Math.Max(1, b.Count / 4))), global);
                break;
            case 4: // duplicate a slice (repeated opcodes, deep nesting)
                int from = r.Next(b.Count), len = Math.Min(b.Count - from, 1 + r.Next(64));
                var slice = b.GetRange(from, len);
                for (int i = 0, n = 1 + r.Next(50); i < n; i++) b.InsertRange(from, slice);
                break;
            case 5: // delete a slice
                int at5 = r.Next(b.Count);
                b.RemoveRange(at5, Math.Min(b.Count - at5, 1 + r.Next(64)));
                break;
            default: // a length field or number made huge
                int at6 = r.Next(Math.Max(1, b.Count - 8));
                for (int i = 0; i < 4; i++) b[at6 + i] = 0xff;
                break;
        }
        return b.ToArray();
    }

    [Fact]
    public void FuzzedPicklesLoadOrFailCleanly()
    {
        var pkl = DataPkl();
        Assert.NotNull(RestrictedUnpickler.Load(pkl, "data.pkl"));
        var outcome = FuzzHarness.Run("PyTorch data.pkl", FuzzHarness.Iterations(300), (r, i) =>
        {
            var mutated = Mutate(pkl, r);
            return ($"{mutated.Length} bytes", () => RestrictedUnpickler.Load(mutated, "fuzz/data.pkl", allowScriptObjects: r.Next(2) == 0));
        });
        Assert.True(outcome.CleanErrors > 0 && outcome.Succeeded > 0, outcome.ToString());
        Assert.False(File.Exists("/tmp/vidseek-pwned"), "a pickle ran a command");
    }

    [Fact]
    public void FuzzedCheckpointZipsLoadOrFailCleanly()
    {
        var original = File.ReadAllBytes(Checkpoint);
        using var tmp = TestPaths.NewTempDir();
        var outcome = FuzzHarness.Run("PyTorch checkpoint zip", FuzzHarness.Iterations(60), (r, i) =>
        {
            byte[] bytes;
            if (r.Next(3) == 0)
            {
                // Rewrite the archive with a mutated data.pkl: the zip stays valid, the pickle does not.
                using var m = new MemoryStream();
                m.Write(original);
                using (var zip = new ZipArchive(m, ZipArchiveMode.Update, leaveOpen: true))
                {
                    var entry = zip.Entries.Single(e => e.FullName.EndsWith("/data.pkl", StringComparison.Ordinal));
                    byte[] pkl;
                    using (var s = entry.Open()) { using var c = new MemoryStream(); s.CopyTo(c); pkl = c.ToArray(); }
                    string name = entry.FullName;
                    entry.Delete();
                    using var w = zip.CreateEntry(name, CompressionLevel.NoCompression).Open();
                    w.Write(Mutate(pkl, r));
                }
                bytes = m.ToArray();
            }
            else bytes = Mutate(original, r);
            string file = Path.Combine(tmp.Path, $"case{i}.bin");
            File.WriteAllBytes(file, bytes);
            return ($"{bytes.Length} bytes", () =>
            {
                using var scope = torch.NewDisposeScope();
                using var archive = TorchArchive.Open(file);
                var (state, _) = PyTorchConverter.FindStateDict(archive);
                var cache = new Dictionary<string, torch.Tensor>();
                foreach (var (_, t) in state) archive.Materialize(t, cache);
            });
        });
        Assert.True(outcome.CleanErrors > 0, outcome.ToString());
        Assert.False(File.Exists("/tmp/vidseek-pwned"), "a pickle ran a command");
    }

    [Theory]
    [InlineData("os\nsystem")]
    [InlineData("builtins\neval")]
    [InlineData("subprocess\nPopen")]
    public void AHostileGlobalIsRefusedByNameAndNeverCalled(string global)
    {
        string canary = Path.Combine(Path.GetTempPath(), $"vidseek-canary-{Guid.NewGuid():N}");
        var pickle = Encoding.ASCII.GetBytes($"\u0080\u0002c{global}\n(S'touch {canary}'\ntR.").Select(c => (byte)c).ToArray();
        pickle[0] = 0x80;
        var e = Assert.Throws<VidSeekException>(() => RestrictedUnpickler.Load(pickle, "evil.pkl"));
        Assert.Contains(global.Replace('\n', '.'), e.Message);
        Assert.False(File.Exists(canary));
    }
}
