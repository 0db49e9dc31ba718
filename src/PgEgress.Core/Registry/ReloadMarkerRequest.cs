using PgEgress.Core.Domain;

namespace PgEgress.Core.Registry;

/// <summary>What a reload marker carries of its request: enough to record the operation without reading its row.</summary>
public sealed record ReloadMarkerRequest(uint TableOid, TableName Table, string Via, DateTimeOffset RequestedAt);
