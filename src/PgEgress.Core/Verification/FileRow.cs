namespace PgEgress.Core.Verification;

/// <summary>A row of the table as the files rebuild it (or as the database has it): its bucket hash, row hash, multiplicity and values.</summary>
public sealed record FileRow(string KeyHash, long RowHash, long Count, string?[] Values);
