namespace PgEgress.Core.Clients;

/// <summary>A row of cdc_registry.clients with its cursor (null once released) and the staged log's view of its lag.</summary>
/// <param name="Tables">Tables in quote_ident form; empty: all published tables.</param>
/// <param name="Operations">insert, update, delete, truncate; empty: all.</param>
/// <param name="OldestPendingSegment">Registration time of the oldest staged segment past its cursor; null when caught up.</param>
public sealed record ClientRecord(
    ClientId Id, string Name, IReadOnlyList<string> Tables, IReadOnlyList<string> Operations, string SecretSha256, TimeSpan Ttl,
    string State, string? StateReason, DateTime CreatedAt, DateTime LastSeen, DateTime? EndedAt, ulong? Cursor, DateTime? OldestPendingSegment)
{
    public bool IsActive => State == ClientState.Active;
}
