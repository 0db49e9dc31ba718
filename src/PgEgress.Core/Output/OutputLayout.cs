using System.Globalization;
using System.Text;

namespace PgEgress.Core.Output;

/// <summary>Where output files go: {schema}.{table}/{batch}/streaming.csv.gz, schema.yml, ….</summary>
public static class OutputLayout
{
    public const string BatchFormat = "yyyyMMdd'T'HHmmss'Z'";

    public static string Batch(DateTime windowStartUtc) => windowStartUtc.ToString(BatchFormat, CultureInfo.InvariantCulture);

    /// <summary>
    /// The table's folder. Name parts keep letters, digits, '_' and '-' as they are and percent-encode everything else
    /// (including '.', '/' and spaces), so the folder is a single safe path segment and "schema.table" stays unambiguous.
    /// </summary>
    public static string TableFolder(string schema, string table) => $"{Encode(schema)}.{Encode(table)}";

    /// <summary>
    /// The schema and table of a registry table name ("schema.table", parts unquoted). The first '.' is the boundary:
    /// the registry's name cannot tell a '.' inside a schema name apart, so such a schema is not supported there.
    /// </summary>
    public static (string Schema, string Table) SplitTableName(string qualified)
    {
        var dot = qualified.IndexOf('.');
        return dot < 0 ? ("", qualified) : (qualified[..dot], qualified[(dot + 1)..]);
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
