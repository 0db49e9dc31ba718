using PgEgress.Core.Domain;

namespace PgEgress.Core.Registry;

/// <param name="RetryFrom">The table's changes in transactions ending after this are not in any registered file.</param>
public sealed record TableFailure(ulong RetryFrom, string Error);

/// <summary>The tables a flush failed to write, and those it wrote again after an earlier failure.</summary>
public sealed record FlushOutcome(IReadOnlyDictionary<TableName, TableFailure> Failed, IReadOnlyList<TableName> Recovered)
{
    public static readonly FlushOutcome None = new(new Dictionary<TableName, TableFailure>(), []);
}
