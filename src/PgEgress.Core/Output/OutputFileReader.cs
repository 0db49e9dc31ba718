using System.IO.Compression;
using System.Text;
using PgEgress.Core.Storage;

namespace PgEgress.Core.Output;

/// <summary>
/// Reads PgEgress's own output files back: a gzip CSV (every member of a multi-member reload file) in PostgreSQL's CSV
/// conventions — an empty unquoted field is NULL, <c>""</c> is the empty string, quotes double, quoted values may hold
/// commas, CR and LF — and the <c>schema.yml</c> beside it. Rows stream one at a time; nothing holds a file.
/// </summary>
public sealed class OutputFileReader : IDisposable
{
    private readonly TextReader _text;
    private readonly StringBuilder _field = new();
    private readonly char[] _buffer = new char[1 << 16];
    private int _length, _position;

    private OutputFileReader(Stream gzip)
    {
        _text = new StreamReader(new GZipStream(gzip, CompressionMode.Decompress), new UTF8Encoding(false, true), false, 1 << 16);
        Header = ReadRow() ?? throw new InvalidDataException("the file has no header row");
    }

    /// <summary>The header row: the metadata columns, then the table's columns as schema.yml names them.</summary>
    public string?[] Header { get; }

    /// <summary>Opens <paramref name="path"/> in the store; the header is read at once.</summary>
    public static async Task<OutputFileReader> OpenAsync(IObjectStore store, string path, CancellationToken ct)
    {
        var stream = await store.OpenReadAsync(path, ct) ?? throw new FileNotFoundException($"{path} is registered but missing from {store.Describe}", path);
        try
        {
            return new OutputFileReader(stream);
        }
        catch
        {
            await stream.DisposeAsync();
            throw;
        }
    }

    /// <summary>The schema.yml of the folder holding <paramref name="dataFile"/>.</summary>
    public static async Task<SchemaDocument> ReadSchemaAsync(IObjectStore store, string dataFile, CancellationToken ct)
    {
        var path = dataFile[..(dataFile.LastIndexOf('/') + 1)] + OutputLayout.SchemaFile;
        await using var stream = await store.OpenReadAsync(path, ct) ?? throw new FileNotFoundException($"{path} is missing from {store.Describe}", path);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return SchemaDocument.Parse(await reader.ReadToEndAsync(ct));
    }

    /// <summary>The next row (null values are NULL), or null at the end of the file.</summary>
    public string?[]? ReadRow()
    {
        var fields = new List<string?>();
        if (Peek() < 0) return null;
        while (true)
        {
            var c = Next();
            if (c == '"')
            {
                // A quoted value: never NULL, even when empty.
                _field.Clear();
                while (true)
                {
                    var q = Next();
                    if (q < 0) throw new InvalidDataException("the file ends inside a quoted value");
                    if (q == '"')
                    {
                        if (Peek() == '"') { Next(); _field.Append('"'); continue; }
                        break;
                    }
                    _field.Append((char)q);
                }
                fields.Add(_field.ToString());
                c = Next();
            }
            else
            {
                _field.Clear();
                while (c >= 0 && c != ',' && c != '\n' && c != '\r')
                {
                    _field.Append((char)c);
                    c = Next();
                }
                fields.Add(_field.Length == 0 ? null : _field.ToString());
            }
            if (c == ',') continue;
            if (c == '\r' && Peek() == '\n') Next();
            if (c is '\n' or '\r' or < 0) return [.. fields];
            throw new InvalidDataException($"unexpected '{(char)c}' after a quoted value");
        }
    }

    private int Peek()
    {
        if (_position == _length && !Fill()) return -1;
        return _buffer[_position];
    }

    private int Next()
    {
        if (_position == _length && !Fill()) return -1;
        return _buffer[_position++];
    }

    private bool Fill()
    {
        _length = _text.Read(_buffer, 0, _buffer.Length);
        _position = 0;
        return _length > 0;
    }

    public void Dispose() => _text.Dispose();
}
