namespace PgEgress.Core.Reload;

/// <summary>
/// Counts the rows of PostgreSQL's CSV output as it streams past: a '\n' outside double quotes ends a row (COPY quotes
/// every value holding a newline, and a doubled quote toggles twice, so it needs no special case).
/// </summary>
internal sealed class CsvRowCounter
{
    private bool _inQuotes;
    private bool _atRowStart = true;

    public long Rows { get; private set; }

    /// <summary>True when the bytes so far end on a row boundary: COPY's output is then whole.</summary>
    public bool Complete => _atRowStart && !_inQuotes;

    public void Count(ReadOnlySpan<byte> csv)
    {
        if (csv.IsEmpty) return;
        _atRowStart = false;
        while (true)
        {
            var i = _inQuotes ? csv.IndexOf((byte)'"') : csv.IndexOfAny((byte)'"', (byte)'\n');
            if (i < 0) return;
            if (csv[i] == '"')
            {
                _inQuotes = !_inQuotes;
            }
            else
            {
                Rows++;
                _atRowStart = i == csv.Length - 1;
            }
            csv = csv[(i + 1)..];
        }
    }
}
