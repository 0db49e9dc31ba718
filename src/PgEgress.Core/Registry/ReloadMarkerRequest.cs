namespace PgEgress.Core.Registry;

/// <summary>What a reload marker carries of its request: enough to record the operation without reading its row.</summary>
/// <param name="Table">The table's name as the registry stores it ("schema.table").</param>
public sealed record ReloadMarkerRequest(uint TableOid, string Table, string Via, DateTimeOffset RequestedAt);
