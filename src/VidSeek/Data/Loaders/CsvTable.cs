using System.Text;

namespace VidSeek.Data.Loaders;

/// <summary>
/// A CSV file with a header row, read per RFC 4180: comma-separated, fields optionally in double quotes,
/// <c>""</c> inside quotes for a quote, commas and line breaks allowed inside quotes.
/// </summary>
/// <remarks>
/// Why not <c>string.Split(',')</c>: the MSR-VTT JSFusion test sentences contain commas inside quoted fields.
/// Why not a package: VidSeek references no CSV library and needs only this much, so a small reader is
/// cheaper than a dependency.
/// </remarks>
internal sealed class CsvTable
{
    /// <summary>One data row and the 1-based line of the file it starts on (for error messages).</summary>
    public sealed record Row(int Line, string[] Fields);

    public string Path { get; }
    public string[] Header { get; }
    public IReadOnlyList<Row> Rows { get; }

    private CsvTable(string path, string[] header, IReadOnlyList<Row> rows) => (Path, Header, Rows) = (path, header, rows);

    /// <summary>Reads <paramref name="path"/>; blank lines are skipped, header names are trimmed.</summary>
    /// <exception cref="VidSeekException">An unterminated quote, no header, or a row whose field count differs from the header's.</exception>
    public static CsvTable Read(string path)
    {
        var records = Parse(path, File.ReadAllText(path));
        if (records.Count == 0) throw new VidSeekException($"{path}: empty CSV file, expected a header row");
        var header = records[0].Fields.Select(h => h.Trim()).ToArray();
        foreach (var row in records.Skip(1))
            if (row.Fields.Length != header.Length)
                throw new VidSeekException($"{path}: line {row.Line}: {row.Fields.Length} fields, the header has {header.Length} ({string.Join(", ", header)})");
        return new CsvTable(path, header, records.Skip(1).ToList());
    }

    /// <summary>The index of the column named <paramref name="name"/>.</summary>
    /// <exception cref="VidSeekException">No such column; the message lists the columns there are.</exception>
    public int Column(string name)
    {
        int i = Array.IndexOf(Header, name);
        return i >= 0 ? i : throw new VidSeekException($"{Path}: missing column '{name}' (the header has: {string.Join(", ", Header)})");
    }

    private static List<Row> Parse(string path, string text)
    {
        var rows = new List<Row>();
        var fields = new List<string>();
        var field = new StringBuilder();
        bool inQuotes = false, rowHadQuotes = false;
        int line = 1, rowLine = 1;

        void EndRow()
        {
            fields.Add(field.ToString());
            field.Clear();
            // A blank line parses as one empty field: not a record (but a line of just "" is one empty value).
            if (fields.Count > 1 || fields[0].Length > 0 || rowHadQuotes) rows.Add(new Row(rowLine, fields.ToArray()));
            fields.Clear();
            rowHadQuotes = false;
        }

        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (inQuotes)
            {
                if (c == '"' && i + 1 < text.Length && text[i + 1] == '"') { field.Append('"'); i++; }
                else if (c == '"') inQuotes = false;
                else { if (c == '\n') line++; field.Append(c); }
            }
            else if (c == '"' && field.Length == 0) inQuotes = rowHadQuotes = true; // a quote opens a field only at its start
            else if (c == ',') { fields.Add(field.ToString()); field.Clear(); }
            else if (c is '\r' or '\n')
            {
                if (c == '\r' && i + 1 < text.Length && text[i + 1] == '\n') i++;
                EndRow();
                rowLine = ++line;
            }
            else field.Append(c);
        }
        if (inQuotes) throw new VidSeekException($"{path}: line {rowLine}: unterminated quoted field");
        if (field.Length > 0 || fields.Count > 0 || rowHadQuotes) EndRow();
        return rows;
    }
}
