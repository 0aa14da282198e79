using System.Text.Json;

namespace VidSeek.Data.Loaders;

/// <summary>
/// Reading annotation JSON with errors that name the file and the entry: every accessor takes the file and a
/// description of where the element is (<c>sentences[12]</c>, <c>entry 3</c>, <c>video 'abc'</c>).
/// </summary>
internal static class JsonAnnotation
{
    /// <summary>Parses <paramref name="path"/> (a UTF-8 byte order mark is allowed).</summary>
    /// <exception cref="VidSeekException">Invalid JSON; the message names the file, line and byte.</exception>
    public static JsonDocument Parse(string path)
    {
        byte[] bytes = File.ReadAllBytes(path);
        int start = bytes.AsSpan().StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF]) ? 3 : 0;
        // JsonDocument checks UTF-8 only when a string is read, and then throws InvalidOperationException: check it here.
        if (!System.Text.Unicode.Utf8.IsValid(bytes.AsSpan(start))) throw new VidSeekException($"{path}: not valid UTF-8 text");
        try
        {
            return JsonDocument.Parse(bytes.AsMemory(start));
        }
        catch (JsonException e)
        {
            // The message ends with the 0-based position; it is restated 1-based, as editors count.
            int cut = e.Message.IndexOf(" LineNumber:", StringComparison.Ordinal);
            string reason = cut >= 0 ? e.Message[..cut] : e.Message;
            string at = e.LineNumber is long line ? $" at line {line + 1}, byte {e.BytePositionInLine + 1}" : "";
            throw new VidSeekException($"{path}: invalid JSON{at}: {reason}", e);
        }
    }

    /// <summary>Checks that <paramref name="element"/> is of <paramref name="kind"/>.</summary>
    public static JsonElement Expect(JsonElement element, JsonValueKind kind, string file, string where, string what)
    {
        if (element.ValueKind != kind)
            throw new VidSeekException($"{file}: {where}: {what} must be {Describe(kind)}, found {Describe(element.ValueKind)}");
        return element;
    }

    /// <summary>The array property <paramref name="name"/> of an object.</summary>
    public static JsonElement RequireArray(JsonElement obj, string name, string file, string where) =>
        Expect(RequireProperty(obj, name, file, where), JsonValueKind.Array, file, where, $"'{name}'");

    /// <summary>The string property <paramref name="name"/> of an object.</summary>
    public static string RequireString(JsonElement obj, string name, string file, string where) =>
        Expect(RequireProperty(obj, name, file, where), JsonValueKind.String, file, where, $"'{name}'").GetString()!;

    /// <summary>The string property <paramref name="name"/>, or null when it is absent or JSON null.</summary>
    public static string? OptionalString(JsonElement obj, string name, string file, string where)
    {
        if (!obj.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null) return null;
        return Expect(value, JsonValueKind.String, file, where, $"'{name}'").GetString();
    }

    /// <summary>A caption field: one string, or a list of strings.</summary>
    public static List<string> StringOrStrings(JsonElement value, string file, string where, string what)
    {
        if (value.ValueKind == JsonValueKind.String) return [value.GetString()!];
        if (value.ValueKind != JsonValueKind.Array)
            throw new VidSeekException($"{file}: {where}: {what} must be a string or a list of strings, found {Describe(value.ValueKind)}");
        var list = new List<string>();
        int i = 0;
        foreach (var item in value.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.String)
                throw new VidSeekException($"{file}: {where}: {what}[{i}] must be a string, found {Describe(item.ValueKind)}");
            list.Add(item.GetString()!);
            i++;
        }
        return list;
    }

    /// <summary>The property <paramref name="name"/> of an object, of any kind.</summary>
    public static JsonElement RequireProperty(JsonElement obj, string name, string file, string where)
    {
        Expect(obj, JsonValueKind.Object, file, where, "the entry");
        return obj.TryGetProperty(name, out var value)
            ? value
            : throw new VidSeekException($"{file}: {where}: missing field '{name}'");
    }

    private static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "a list",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => kind.ToString(),
    };
}
