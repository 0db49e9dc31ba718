namespace PgEgress.Core.Health;

/// <summary>
/// The failure a component of this process is in now: <c>ingest</c>, <c>flush</c>, <c>reload:{table}</c> or
/// <c>sink:{name}</c>, since its first failed attempt in a row; gone at its next success.
/// </summary>
/// <param name="Kind"><c>transient</c> or <c>permanent</c> (the latest attempt's).</param>
/// <param name="SqlState">PostgreSQL's SQLSTATE when the failure is a database error.</param>
public sealed record ComponentFailure(string Component, string Kind, string? SqlState, string Message, DateTime Since, DateTime LastAt, int Attempts);
