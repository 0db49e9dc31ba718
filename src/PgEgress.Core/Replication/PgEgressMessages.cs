using System.Text;
using System.Text.Json;
using Npgsql;

namespace PgEgress.Core.Replication;

/// <summary>
/// PgEgress's own markers in the WAL (pg_logical_emit_message with prefix "pgegress"). A marker is seen by the
/// stream at its exact position, so whoever writes one learns when the consumer has passed that point.
/// </summary>
public static class PgEgressMessages
{
    public const string Prefix = "pgegress";
    public const string Heartbeat = "heartbeat";
    public const string Flush = "flush";

    /// <summary>Writes a transactional marker and returns its LSN; the consumer has passed it once the slot's confirmed_flush_lsn is beyond it.</summary>
    public static async Task<ulong> EmitAsync(NpgsqlDataSource source, string type, CancellationToken ct)
    {
        await using var cmd = source.CreateCommand("SELECT pg_logical_emit_message(true, $1, $2)::text");
        cmd.Parameters.Add(new() { Value = Prefix });
        cmd.Parameters.Add(new() { Value = JsonSerializer.Serialize(new { type }) });
        return Output.PgText.ParseLsn((string)(await cmd.ExecuteScalarAsync(ct))!);
    }

    /// <summary>The marker's type, or null when the content is not a PgEgress marker.</summary>
    public static string? TypeOf(ReadOnlySpan<byte> content)
    {
        try
        {
            using var doc = JsonDocument.Parse(Encoding.UTF8.GetString(content));
            return doc.RootElement.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
