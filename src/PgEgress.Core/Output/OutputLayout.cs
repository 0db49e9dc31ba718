using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using PgEgress.Core.Domain;

namespace PgEgress.Core.Output;

/// <summary>Where output files go: {schema}.{table}/{batch}/streaming.csv.gz, schema.yml, ….</summary>
public static class OutputLayout
{
    public const string BatchFormat = "yyyyMMdd'T'HHmmss'Z'";

    public static string Batch(DateTime windowStartUtc) => windowStartUtc.ToString(BatchFormat, CultureInfo.InvariantCulture);

    /// <summary>The longest table folder name, in bytes: file systems allow 255 per path segment; the rest is headroom.</summary>
    public const int MaxTableFolderBytes = 200;

    /// <summary>
    /// The table's folder. Name parts keep letters, digits, '_' and '-' as they are and percent-encode every other byte of
    /// their UTF-8 (including '.', '/' and spaces), so the folder is a single safe path segment and "schema.table" stays
    /// unambiguous. A folder that would be longer than <see cref="MaxTableFolderBytes"/> keeps its first 183 bytes (never
    /// cutting an escape) and ends in '~' and 16 hex digits of the SHA-256 of the table's quoted name, so it stays
    /// readable and unique.
    /// </summary>
    public static string TableFolder(TableName table)
    {
        var folder = $"{Encode(table.Schema)}.{Encode(table.Name)}";
        if (folder.Length <= MaxTableFolderBytes) return folder;
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(table.ToString())))[..16];
        var keep = MaxTableFolderBytes - hash.Length - 1;
        if (folder[keep - 1] == '%') keep -= 1;
        else if (folder[keep - 2] == '%') keep -= 2;
        return $"{folder[..keep]}~{hash}";
    }

    public static string StreamingFile(int part, int parts) => parts == 1 ? "streaming.csv.gz" : $"streaming-{part:D4}.csv.gz";

    public const string SchemaFile = "schema.yml";

    public const string FullReloadFile = "full_reload.csv.gz";

    /// <summary>A reload's batch folder: the snapshot's second plus the operation, so it never collides with a streaming window's folder.</summary>
    public static string ReloadBatch(DateTime snapshotTimeUtc, long operationId) => $"{Batch(snapshotTimeUtc)}_reload-{operationId}";

    public const string DdlFile = "ddl.sql";

    /// <summary>The folder of a window's rows after a shape change: {batch}_v{version}, sorting after {batch} and before the next window.</summary>
    public static string ShapeBatch(string batch, int schemaVersion) => $"{batch}_v{schemaVersion}";

    private static string Encode(string part)
    {
        var sb = new StringBuilder(part.Length);
        foreach (var b in Encoding.UTF8.GetBytes(part))
        {
            if (b is (>= (byte)'a' and <= (byte)'z') or (>= (byte)'A' and <= (byte)'Z') or (>= (byte)'0' and <= (byte)'9') or (byte)'_' or (byte)'-')
                sb.Append((char)b);
            else
                sb.Append('%').Append(b.ToString("X2", CultureInfo.InvariantCulture));
        }
        return sb.ToString();
    }
}
