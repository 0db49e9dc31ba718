namespace PgEgress.Core.Verification;

/// <summary>The live table's columns (as pgoutput sends them: not dropped, not generated) and which of them are its key.</summary>
/// <param name="Key">Indexes of the key columns: the primary key, else the replica-identity index, else every column.</param>
public sealed record TableShape(IReadOnlyList<string> Columns, IReadOnlyList<string> Types, IReadOnlyList<bool> Nullable, IReadOnlyList<int> Key, bool HasKey);
