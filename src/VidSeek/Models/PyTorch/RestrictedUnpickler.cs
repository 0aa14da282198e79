using System.Buffers.Binary;
using System.Numerics;
using System.Text;
using static TorchSharp.torch;

namespace VidSeek.Models.PyTorch;

// What the restricted unpickler returns. Nothing else can come out of it: no Python object is ever constructed.
//   dict (also OrderedDict)          -> PickleDict (insertion-ordered)
//   list                             -> List<object?>
//   tuple                            -> PickleTuple
//   int / float / str / bytes / bool -> long or BigInteger / double / string / byte[] / bool
//   None                             -> null
//   torch tensor / parameter         -> TensorRef (shape, strides and where its bytes are; never the bytes)
//   TorchScript module (__torch__.*) -> ScriptObject (its attributes), only in TorchScript archives

/// <summary>An insertion-ordered Python dict (or <c>collections.OrderedDict</c>).</summary>
public sealed class PickleDict : Dictionary<object, object?>;

/// <summary>A Python tuple.</summary>
public sealed record PickleTuple(object?[] Items);

/// <summary>A tensor storage of the archive: the zip entry <c>data/KEY</c>, <paramref name="Numel"/> elements of <paramref name="DType"/>.</summary>
public sealed record StorageRef(string Key, ScalarType DType, long Numel);

/// <summary>A tensor as <c>torch._utils._rebuild_tensor_v2</c> describes it: a strided view of a storage. Its data is read only on request.</summary>
public sealed record TensorRef(StorageRef Storage, long Offset, long[] Shape, long[] Stride);

/// <summary>A TorchScript module or object (<c>__torch__.*</c> class): only its attributes, as a bag. No code of the archive runs.</summary>
public sealed record ScriptObject(string TypeName, PickleDict Attributes);

/// <summary>
/// A pickle virtual machine for the subset of protocols 2-5 that <c>torch.save</c> and <c>torch.jit.save</c> write,
/// with an allow-list of globals. Python's pickle runs whatever callable a file names (<c>os.system</c>,
/// <c>builtins.eval</c>, ...); here a GLOBAL that is not on the list is refused by name the moment it is read, before
/// anything else happens, and the allowed ones are interpreted by this class (never called by name, never reflected),
/// so the result can only be dicts, lists, tuples, numbers, strings, bytes, None, bools and tensor descriptions.
/// <para>
/// Hand-written rather than TorchSharp.PyBridge (Razorvine.Pickle): that unpickler builds a generic object for any class
/// it has no constructor for instead of refusing it, and reads every tensor of the file into memory while unpickling,
/// so a checkpoint's optimizer state (two thirds of X-Pool's 1.8 GB files) would be loaded too. Here tensors stay
/// <see cref="TensorRef"/>s until the caller materialises the ones it uses.
/// </para>
/// </summary>
public sealed class RestrictedUnpickler
{
    /// <summary>Storage classes by their pickled name (<c>torch.FloatStorage</c>), and the element type they hold.</summary>
    private static readonly Dictionary<string, ScalarType> StorageTypes = new()
    {
        ["torch.FloatStorage"] = ScalarType.Float32,
        ["torch.DoubleStorage"] = ScalarType.Float64,
        ["torch.HalfStorage"] = ScalarType.Float16,
        ["torch.BFloat16Storage"] = ScalarType.BFloat16,
        ["torch.LongStorage"] = ScalarType.Int64,
        ["torch.IntStorage"] = ScalarType.Int32,
        ["torch.ShortStorage"] = ScalarType.Int16,
        ["torch.CharStorage"] = ScalarType.Int8,
        ["torch.ByteStorage"] = ScalarType.Byte,
        ["torch.BoolStorage"] = ScalarType.Bool,
    };

    /// <summary>The callables a checkpoint may name besides storage classes; each is interpreted in <see cref="Reduce"/>.</summary>
    private static readonly HashSet<string> Callables =
    [
        "collections.OrderedDict",
        "torch._utils._rebuild_tensor_v2",
        "torch._utils._rebuild_parameter",
        "torch._utils._rebuild_parameter_with_state",
        "_codecs.encode",                       // how protocol 2 pickles a Python 3 bytes object
        "torch.jit._pickle.restore_type_tag",   // TorchScript typed containers: the value itself
        "torch.jit._pickle.build_intlist",
        "torch.jit._pickle.build_doublelist",
        "torch.jit._pickle.build_boollist",
        "torch.jit._pickle.build_tensorlist",
    ];

    private sealed record Global(string Name);
    private sealed class Mark { public static readonly Mark Instance = new(); }

    private readonly byte[] data;
    private readonly string source;
    private readonly bool allowScriptObjects;
    private int pos;
    private readonly List<object?> stack = [];
    private readonly Stack<int> marks = new();
    private readonly Dictionary<long, object?> memo = [];

    private RestrictedUnpickler(byte[] data, string source, bool allowScriptObjects)
    {
        this.data = data;
        this.source = source;
        this.allowScriptObjects = allowScriptObjects;
    }

    /// <summary>Reads one pickle.</summary>
    /// <param name="pickle">The bytes of <c>data.pkl</c>.</param>
    /// <param name="source">What to name in errors (the checkpoint file).</param>
    /// <param name="allowScriptObjects">Accept <c>__torch__.*</c> classes as attribute bags (TorchScript archives only).</param>
    /// <exception cref="VidSeekException">A refused global, an unsupported opcode or a malformed pickle.</exception>
    public static object? Load(byte[] pickle, string source, bool allowScriptObjects = false) =>
        new RestrictedUnpickler(pickle, source, allowScriptObjects).Run();

    private VidSeekException Bad(string what) => new($"{source}: {what}");

    private object? Run()
    {
        try
        {
            while (true)
            {
                byte op = ReadByte();
                switch (op)
                {
                    case 0x80: ReadByte(); break;                                          // PROTO
                    case 0x95: Take(8); break;                                             // FRAME (length only)
                    case (byte)'.': return stack.Count == 1 ? stack[0] : throw Bad("malformed pickle (stack at STOP)");
                    case (byte)'(': marks.Push(stack.Count); break;                        // MARK
                    case (byte)'0': Pop(); break;                                          // POP
                    case (byte)'1': PopMark(); break;                                      // POP_MARK
                    case (byte)'2': stack.Add(Peek()); break;                              // DUP
                    case (byte)'N': stack.Add(null); break;
                    case 0x88: stack.Add(true); break;                                     // NEWTRUE
                    case 0x89: stack.Add(false); break;                                    // NEWFALSE
                    case (byte)'J': stack.Add((long)BinaryPrimitives.ReadInt32LittleEndian(Take(4))); break;   // BININT
                    case (byte)'K': stack.Add((long)ReadByte()); break;                                        // BININT1
                    case (byte)'M': stack.Add((long)BinaryPrimitives.ReadUInt16LittleEndian(Take(2))); break;  // BININT2
                    case 0x8a: stack.Add(ReadLong(ReadByte())); break;                                         // LONG1
                    case 0x8b: stack.Add(ReadLong(ReadLength(BinaryPrimitives.ReadInt32LittleEndian(Take(4))))); break; // LONG4
                    case (byte)'I': stack.Add(ParseInt(ReadLine())); break;                // INT (text; "01"/"00" are bools)
                    case (byte)'L': stack.Add(ParseLongText(ReadLine())); break;           // LONG (text)
                    case (byte)'G': stack.Add(BinaryPrimitives.ReadDoubleBigEndian(Take(8))); break;          // BINFLOAT
                    case (byte)'F': stack.Add(double.Parse(ReadLine(), System.Globalization.CultureInfo.InvariantCulture)); break;
                    case (byte)'X': stack.Add(Utf8(ReadLength(BinaryPrimitives.ReadUInt32LittleEndian(Take(4))))); break; // BINUNICODE
                    case 0x8c: stack.Add(Utf8(ReadByte())); break;                         // SHORT_BINUNICODE
                    case 0x8d: stack.Add(Utf8(ReadLength(BinaryPrimitives.ReadInt64LittleEndian(Take(8))))); break; // BINUNICODE8
                    case (byte)'T': stack.Add(Latin1(ReadLength(BinaryPrimitives.ReadInt32LittleEndian(Take(4))))); break; // BINSTRING
                    case (byte)'U': stack.Add(Latin1(ReadByte())); break;                  // SHORT_BINSTRING
                    case (byte)'B': stack.Add(Take(ReadLength(BinaryPrimitives.ReadUInt32LittleEndian(Take(4)))).ToArray()); break; // BINBYTES
                    case (byte)'C': stack.Add(Take(ReadByte()).ToArray()); break;          // SHORT_BINBYTES
                    case 0x8e: stack.Add(Take(ReadLength(BinaryPrimitives.ReadInt64LittleEndian(Take(8)))).ToArray()); break; // BINBYTES8
                    case (byte)'}': stack.Add(new PickleDict()); break;                    // EMPTY_DICT
                    case (byte)']': stack.Add(new List<object?>()); break;                 // EMPTY_LIST
                    case (byte)')': stack.Add(new PickleTuple([])); break;                 // EMPTY_TUPLE
                    case (byte)'t': stack.Add(new PickleTuple(PopMark())); break;          // TUPLE
                    case 0x85: stack.Add(new PickleTuple(PopN(1))); break;                 // TUPLE1
                    case 0x86: stack.Add(new PickleTuple(PopN(2))); break;                 // TUPLE2
                    case 0x87: stack.Add(new PickleTuple(PopN(3))); break;                 // TUPLE3
                    case (byte)'l': stack.Add(PopMark().ToList()); break;                  // LIST
                    case (byte)'d': stack.Add(ToDict(PopMark())); break;                   // DICT
                    case (byte)'a': { var item = Pop(); AsList(Peek()).Add(item); break; } // APPEND
                    case (byte)'e': { var items = PopMark(); AsList(Peek()).AddRange(items); break; } // APPENDS
                    case (byte)'s': { var v = Pop(); var k = Pop(); SetItem(Peek(), k, v); break; } // SETITEM
                    case (byte)'u': { var items = PopMark(); var d = Peek(); for (int i = 0; i + 1 < items.Length; i += 2) SetItem(d, items[i], items[i + 1]); break; } // SETITEMS
                    case (byte)'p': memo[ParseInt(ReadLine()) is long lp ? lp : throw Bad("bad PUT")] = Peek(); break;   // PUT
                    case (byte)'q': memo[ReadByte()] = Peek(); break;                      // BINPUT
                    case (byte)'r': memo[BinaryPrimitives.ReadUInt32LittleEndian(Take(4))] = Peek(); break; // LONG_BINPUT
                    case 0x94: memo[memo.Count] = Peek(); break;                           // MEMOIZE
                    case (byte)'g': stack.Add(Recall(ParseInt(ReadLine()) is long lg ? lg : throw Bad("bad GET"))); break;
                    case (byte)'h': stack.Add(Recall(ReadByte())); break;                  // BINGET
                    case (byte)'j': stack.Add(Recall(BinaryPrimitives.ReadUInt32LittleEndian(Take(4)))); break; // LONG_BINGET
                    case (byte)'c': stack.Add(ResolveGlobal(ReadLine(), ReadLine())); break;                  // GLOBAL
                    case 0x93: { var name = Pop(); var module = Pop(); stack.Add(ResolveGlobal(AsString(module), AsString(name))); break; } // STACK_GLOBAL
                    case (byte)'R': { var args = Pop(); var func = Pop(); stack.Add(Reduce(func, args)); break; } // REDUCE
                    case 0x81: { var args = Pop(); var cls = Pop(); stack.Add(NewObject(cls, args)); break; }   // NEWOBJ
                    case (byte)'b': { var state = Pop(); Build(Peek(), state); break; }   // BUILD
                    case (byte)'Q': stack.Add(PersistentLoad(Pop())); break;               // BINPERSID
                    case 0x8f: stack.Add(new List<object?>()); break;                      // EMPTY_SET (kept as a list)
                    case 0x90: { var items = PopMark(); AsList(Peek()).AddRange(items); break; } // ADDITEMS
                    case 0x91: stack.Add(PopMark().ToList()); break;                       // FROZENSET
                    default:
                        // INST, OBJ, EXT1/2/4, NEWOBJ_EX, PERSID and the rest build arbitrary objects or are never written by torch.
                        throw Bad($"unsupported pickle opcode 0x{op:x2} at byte {pos - 1} (not something torch.save writes)");
                }
            }
        }
        catch (IndexOutOfRangeException) { throw Bad("malformed pickle (truncated or corrupt data.pkl)"); }
        catch (ArgumentOutOfRangeException) { throw Bad("malformed pickle (truncated or corrupt data.pkl)"); }
        catch (InvalidCastException) { throw Bad("malformed pickle (unexpected value types)"); }
    }

    // ---- the allow-list ---------------------------------------------------------------------------------------

    private object ResolveGlobal(string module, string name)
    {
        string full = $"{module}.{name}";
        if (StorageTypes.ContainsKey(full) || Callables.Contains(full)) return new Global(full);
        if (allowScriptObjects && module.StartsWith("__torch__.", StringComparison.Ordinal)) return new Global(full);
        throw Bad($"refused to load the pickle global '{full}': a checkpoint may only hold tensors, dicts, lists, tuples, numbers and strings (nothing was executed)");
    }

    private object? Reduce(object? func, object? args)
    {
        if (func is not Global g) throw Bad("malformed pickle (REDUCE of a non-callable)");
        var a = AsTuple(args).Items;
        switch (g.Name)
        {
            case "collections.OrderedDict":
                var dict = new PickleDict();
                if (a.Length == 1 && a[0] is List<object?> pairs)
                    foreach (var p in pairs) { var kv = AsTuple(p).Items; SetItem(dict, kv[0], kv[1]); }
                else if (a.Length != 0) throw Bad("malformed pickle (OrderedDict arguments)");
                return dict;
            case "torch._utils._rebuild_tensor_v2": // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
                if (a.Length < 4 || a[0] is not StorageRef storage) throw Bad("malformed pickle (_rebuild_tensor_v2 arguments)");
                var shape = Ints(a[2]);
                var stride = Ints(a[3]);
                if (shape.Length != stride.Length) throw Bad("malformed pickle (tensor size and stride differ in length)");
                return new TensorRef(storage, AsLong(a[1]), shape, stride);
            case "torch._utils._rebuild_parameter":            // (data, requires_grad, backward_hooks)
            case "torch._utils._rebuild_parameter_with_state": // (data, requires_grad, backward_hooks, state)
                return a.Length >= 1 && a[0] is TensorRef t ? t : throw Bad("malformed pickle (_rebuild_parameter arguments)");
            case "_codecs.encode":                             // (text, 'latin1')
                return a.Length >= 1 && a[0] is string s ? Encoding.Latin1.GetBytes(s) : throw Bad("malformed pickle (_codecs.encode arguments)");
            case "torch.jit._pickle.restore_type_tag":
                return a.Length >= 1 ? a[0] : throw Bad("malformed pickle (restore_type_tag arguments)");
            case "torch.jit._pickle.build_intlist":
            case "torch.jit._pickle.build_doublelist":
            case "torch.jit._pickle.build_boollist":
            case "torch.jit._pickle.build_tensorlist":
                return a.Length == 1 && a[0] is List<object?> list ? list : throw Bad("malformed pickle (TorchScript list arguments)");
            default:
                throw Bad($"refused to call '{g.Name}' while unpickling (nothing was executed)");
        }
    }

    private object NewObject(object? cls, object? args)
    {
        if (cls is Global g && g.Name.StartsWith("__torch__.", StringComparison.Ordinal) && AsTuple(args).Items.Length == 0)
            return new ScriptObject(g.Name, new PickleDict());
        throw Bad($"refused to construct '{(cls as Global)?.Name ?? "?"}' while unpickling (nothing was executed)");
    }

    private void Build(object? target, object? state)
    {
        switch (target)
        {
            case ScriptObject obj when state is PickleDict attrs:
                foreach (var (k, v) in attrs) obj.Attributes[k] = v;
                break;
            case PickleDict:
                break; // an OrderedDict's instance attributes (a state_dict's _metadata): not needed
            case TensorRef:
                break; // _rebuild_parameter_with_state's extra state
            default:
                throw Bad("malformed pickle (BUILD of an object that is not a TorchScript module)");
        }
    }

    /// <summary><c>('storage', storage_type, key, location, numel)</c>, as torch's <c>persistent_id</c> writes it.</summary>
    private StorageRef PersistentLoad(object? pid)
    {
        var t = AsTuple(pid).Items;
        if (t.Length != 5 || t[0] is not "storage" || t[1] is not Global g || t[2] is not string key)
            throw Bad("malformed pickle (persistent id is not a tensor storage)");
        if (!StorageTypes.TryGetValue(g.Name, out var dtype)) throw Bad($"unsupported storage type '{g.Name}'");
        if (key.Length == 0 || key.Contains('/') || key.Contains('\\') || key.Contains("..")) throw Bad($"malformed storage key '{key}'");
        return new StorageRef(key, dtype, AsLong(t[4]));
    }

    // ---- helpers -------------------------------------------------------------------------------------------

    private byte ReadByte() => pos < data.Length ? data[pos++] : throw Bad("malformed pickle (ends before STOP: truncated?)");

    private ReadOnlySpan<byte> Take(long n)
    {
        if (n < 0 || n > data.Length - pos) throw Bad("malformed pickle (ends inside a value: truncated?)");
        var span = data.AsSpan(pos, (int)n);
        pos += (int)n;
        return span;
    }

    private long ReadLength(long n) => n >= 0 && n <= data.Length - pos ? n : throw Bad("malformed pickle (a length runs past the end: truncated?)");

    private string ReadLine()
    {
        int end = Array.IndexOf(data, (byte)'\n', pos);
        if (end < 0) throw Bad("malformed pickle (unterminated line)");
        string s = Encoding.UTF8.GetString(data, pos, end - pos);
        pos = end + 1;
        return s;
    }

    private string Utf8(long n) => Encoding.UTF8.GetString(Take(n));
    private string Latin1(long n) => Encoding.Latin1.GetString(Take(n));

    private object ReadLong(long n)
    {
        if (n == 0) return 0L;
        var value = new BigInteger(Take(n), isUnsigned: false, isBigEndian: false);
        return value >= long.MinValue && value <= long.MaxValue ? (long)value : value;
    }

    private object ParseInt(string s) => s switch
    {
        "01" => true,
        "00" => false,
        _ => long.TryParse(s, out long v) ? v : throw Bad($"malformed pickle (INT '{s}')"),
    };

    private object ParseLongText(string s)
    {
        var value = BigInteger.Parse(s.TrimEnd('L'));
        return value >= long.MinValue && value <= long.MaxValue ? (long)value : value;
    }

    private object? Pop()
    {
        if (stack.Count == 0 || (marks.Count > 0 && marks.Peek() >= stack.Count)) throw Bad("malformed pickle (stack underflow)");
        var v = stack[^1];
        stack.RemoveAt(stack.Count - 1);
        return v;
    }

    private object? Peek() => stack.Count > 0 ? stack[^1] : throw Bad("malformed pickle (stack underflow)");

    private object?[] PopN(int n)
    {
        if (stack.Count < n) throw Bad("malformed pickle (stack underflow)");
        var items = stack.GetRange(stack.Count - n, n).ToArray();
        stack.RemoveRange(stack.Count - n, n);
        return items;
    }

    private object?[] PopMark()
    {
        if (marks.Count == 0) throw Bad("malformed pickle (no MARK)");
        int at = marks.Pop();
        return PopN(stack.Count - at);
    }

    private object? Recall(long id) => memo.TryGetValue(id, out var v) ? v : throw Bad($"malformed pickle (memo {id} is not set)");

    private PickleDict ToDict(object?[] items)
    {
        var d = new PickleDict();
        for (int i = 0; i + 1 < items.Length; i += 2) SetItem(d, items[i], items[i + 1]);
        return d;
    }

    private void SetItem(object? dict, object? key, object? value)
    {
        if (dict is not PickleDict d) throw Bad("malformed pickle (SETITEM on a non-dict)");
        if (key is null or List<object?> or PickleDict) throw Bad("malformed pickle (unhashable dict key)");
        d[key] = value;
    }

    private List<object?> AsList(object? o) => o as List<object?> ?? throw Bad("malformed pickle (APPEND to a non-list)");
    private PickleTuple AsTuple(object? o) => o as PickleTuple ?? throw Bad("malformed pickle (expected a tuple)");
    private string AsString(object? o) => o as string ?? throw Bad("malformed pickle (expected a string)");
    private long AsLong(object? o) => o is long l ? l : throw Bad("malformed pickle (expected an integer)");

    private long[] Ints(object? o) => o switch
    {
        PickleTuple t => t.Items.Select(AsLong).ToArray(),
        List<object?> l => l.Select(AsLong).ToArray(),
        _ => throw Bad("malformed pickle (tensor size is not a tuple)"),
    };
}
