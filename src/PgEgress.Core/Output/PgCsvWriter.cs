using System.Buffers;
using System.Text;

namespace PgEgress.Core.Output;

/// <summary>
/// Writes CSV exactly as PostgreSQL's COPY … (FORMAT csv) reads it: NULL is an empty unquoted field, the empty
/// string is "", a field is quoted when it holds a comma, quote, CR or LF (or is the end marker \.), and quotes
/// double. Values arrive as UTF-8 bytes (PostgreSQL's own text output), so nothing is re-encoded.
/// </summary>
public sealed class PgCsvWriter(Stream output) : IDisposable
{
    private static readonly SearchValues<byte> NeedsQuoting = SearchValues.Create(",\"\r\n"u8);
    private readonly BufferedStream _out = new(output, 1 << 16);
    private bool _atLineStart = true;

    /// <summary>Uncompressed bytes written so far.</summary>
    public long BytesWritten { get; private set; }

    public void WriteNull() => Separate();

    public void WriteValue(ReadOnlySpan<byte> utf8)
    {
        Separate();
        if (utf8.Length == 0 || utf8.IndexOfAny(NeedsQuoting) >= 0 || utf8.SequenceEqual("\\."u8))
        {
            Put((byte)'"');
            var rest = utf8;
            int quote;
            while ((quote = rest.IndexOf((byte)'"')) >= 0)
            {
                Put(rest[..(quote + 1)]);
                Put((byte)'"');
                rest = rest[(quote + 1)..];
            }
            Put(rest);
            Put((byte)'"');
        }
        else
        {
            Put(utf8);
        }
    }

    public void WriteValue(string text)
    {
        var max = Encoding.UTF8.GetMaxByteCount(text.Length);
        if (max <= 512)
        {
            Span<byte> buffer = stackalloc byte[max];
            WriteValue(buffer[..Encoding.UTF8.GetBytes(text, buffer)]);
        }
        else
        {
            WriteValue(Encoding.UTF8.GetBytes(text));
        }
    }

    public void EndRow()
    {
        Put((byte)'\n');
        _atLineStart = true;
    }

    private void Separate()
    {
        if (!_atLineStart) Put((byte)',');
        _atLineStart = false;
    }

    private void Put(byte b)
    {
        _out.WriteByte(b);
        BytesWritten++;
    }

    private void Put(ReadOnlySpan<byte> bytes)
    {
        _out.Write(bytes);
        BytesWritten += bytes.Length;
    }

    public void Flush() => _out.Flush();

    public void Dispose() => _out.Dispose();
}
