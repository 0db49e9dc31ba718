namespace PgEgress.Core.Staging;

public enum ChangeKind : byte
{
    Insert = (byte)'I',
    Update = (byte)'U',
    Delete = (byte)'D',
    Truncate = (byte)'T',
    Message = (byte)'M',
}

public enum ValueKind : byte
{
    Null = (byte)'n',
    UnchangedToast = (byte)'u',
    Text = (byte)'t',
}

/// <summary>One column value as PostgreSQL sent it: its text output in UTF-8, NULL, or "unchanged TOAST, not sent".</summary>
public readonly record struct TupleValue(ValueKind Kind, byte[]? Text)
{
    public static readonly TupleValue Null = new(ValueKind.Null, null);
    public static readonly TupleValue Unchanged = new(ValueKind.UnchangedToast, null);

    public bool SameAs(TupleValue other) =>
        Kind == other.Kind && (Kind != ValueKind.Text || Text.AsSpan().SequenceEqual(other.Text));
}

/// <summary>A committed transaction's identity, as known at its commit.</summary>
/// <param name="EndLsn">End of the commit record: the position to acknowledge, and the _lsn of its rows.</param>
public sealed record TransactionInfo(ulong EndLsn, ulong CommitLsn, uint Xid, DateTime CommitTimestamp);

/// <summary>One change read back from a segment.</summary>
/// <param name="OldRow">The old row or key: the replica-identity key (other columns NULL), or the whole row under REPLICA IDENTITY FULL; null when not sent.</param>
/// <param name="OldIsKeyOnly">The old tuple carries only the key columns (a 'K' tuple).</param>
/// <param name="Truncated">For a TRUNCATE, the tables it emptied.</param>
public sealed record StagedChange(
    ChangeKind Kind,
    RelationSchema? Relation,
    TupleValue[]? OldRow,
    bool OldIsKeyOnly,
    TupleValue[]? NewRow,
    IReadOnlyList<RelationSchema>? Truncated = null,
    string? MessagePrefix = null,
    byte[]? MessageContent = null);
