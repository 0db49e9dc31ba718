namespace PgEgress.Core.Clients;

/// <summary>A client as <c>GET /api/clients/{id}</c> and <c>/api/status</c> show it (never its secret).</summary>
/// <param name="Cursor">The acknowledged offset (null once the client ended: its cursor is released).</param>
/// <param name="LagBytes">Staged WAL past its cursor, whatever its filter takes of it.</param>
/// <param name="LagSeconds">Age of the oldest staged segment past its cursor; 0 when caught up.</param>
public sealed record ClientStatus(
    string Id, string Name, IReadOnlyList<string> Tables, IReadOnlyList<string> Operations, string State, string? StateReason,
    string? Cursor, string? CursorLsn, long? LagBytes, double? LagSeconds, double TtlSeconds, DateTime LastSeen, DateTime CreatedAt, DateTime? EndedAt)
{
    public static ClientStatus From(ClientRecord c, ulong staged, DateTime now) => new(
        c.Id.ToString(), c.Name, c.Tables, c.Operations, c.State, c.StateReason,
        c.Cursor is { } cursor ? new FeedOffset(cursor).ToString() : null, c.Cursor is { } lsn ? Output.PgText.Lsn(lsn) : null,
        c.Cursor is { } at ? (long)(staged > at ? staged - at : 0) : null,
        c.Cursor is null ? null : c.OldestPendingSegment is { } oldest ? Math.Max(0, (now - oldest).TotalSeconds) : 0,
        c.Ttl.TotalSeconds, c.LastSeen, c.CreatedAt, c.EndedAt);
}
