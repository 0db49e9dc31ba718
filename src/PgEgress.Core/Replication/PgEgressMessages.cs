using System.Text.Json;
using Npgsql;
using PgEgress.Core.Registry;

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
    public const string Reload = "reload";
    public const string Ddl = "ddl";

    /// <summary>Writes a transactional marker and returns its LSN; the consumer has passed it once the slot's confirmed_flush_lsn is beyond it.</summary>
    public static async Task<ulong> EmitAsync(NpgsqlDataSource source, string type, CancellationToken ct)
    {
        await using var cmd = source.CreateCommand("SELECT pg_logical_emit_message(true, $1, $2)::text");
        cmd.Parameters.Add(new() { Value = Prefix });
        cmd.Parameters.Add(new() { Value = JsonSerializer.Serialize(new { type }) });
        return Output.PgText.ParseLsn((string)(await cmd.ExecuteScalarAsync(ct))!);
    }

    /// <summary>The marker, or null when the content is not a PgEgress marker.</summary>
    public static PgEgressMarker? Read(ReadOnlySpan<byte> content)
    {
        try
        {
            return JsonSerializer.Deserialize<PgEgressMarker>(content, MarkerJson) is { Type: not null } m ? m : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static readonly JsonSerializerOptions MarkerJson = new(JsonSerializerDefaults.Web) { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };
}

/// <summary>
/// A marker's content. Reload markers (written by cdc_registry.request_reload_for) name the pipeline's slot and the
/// operation, and since registry version 4 carry the whole request (<paramref name="Schema"/>, <paramref name="Name"/>,
/// <paramref name="Oid"/>, <paramref name="Via"/>, <paramref name="RequestedAt"/>), as the operation row may not be
/// visible yet when the marker is decoded; DDL markers (written by the event triggers) the slot, the table and the statement.
/// <paramref name="Table"/> is the registry's name of the table (<see cref="Domain.TableName"/>'s quoted form).
/// </summary>
public sealed record PgEgressMarker(string? Type, string? Slot = null, long? Operation = null, string? Table = null,
    string? CommandTag = null, string? Statement = null, string? Schema = null, string? Name = null, uint? Oid = null,
    string? Via = null, DateTimeOffset? RequestedAt = null)
{
    /// <summary>A reload marker as staged in a transaction ending at <paramref name="endLsn"/>.</summary>
    public StagedReloadMarker StagedAt(ulong endLsn) => new(Operation ?? throw new InvalidOperationException("not a reload marker"), endLsn,
        Oid is { } oid && Schema is { Length: > 0 } schema && Name is { Length: > 0 } name && Via is not null && RequestedAt is { } at
            ? new ReloadMarkerRequest(oid, new Domain.TableName(schema, name), Via, at) : null);
}
