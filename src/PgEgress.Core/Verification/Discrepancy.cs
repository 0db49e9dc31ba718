namespace PgEgress.Core.Verification;

/// <summary>A row where the files and the table differ: <c>missing</c> from the files, <c>extra</c> (only in the files), or <c>different</c> in <paramref name="Columns"/>.</summary>
/// <param name="Key">A JSON object of the key columns' text values (every column for a table without a key).</param>
public sealed record Discrepancy(string Kind, string Key, IReadOnlyList<string>? Columns);
