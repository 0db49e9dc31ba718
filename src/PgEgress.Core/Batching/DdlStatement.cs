using System.Text;
using PgEgress.Core.Domain;
using PgEgress.Core.Output;
using PgEgress.Core.Replication;
using PgEgress.Core.Staging;

namespace PgEgress.Core.Batching;

/// <summary>A DDL statement on a published table, as the event trigger put it into the stream, for the window's ddl.sql.</summary>
public sealed record DdlStatement(TableName Table, ulong Lsn, DateTime CommitTimestamp, string CommandTag, string Statement)
{
    /// <summary>The DDL marker of this pipeline carried by <paramref name="change"/>, or null.</summary>
    public static DdlStatement? From(StagedChange change, TransactionInfo txn, string slot)
    {
        if (change.MessagePrefix != PgEgressMessages.Prefix || change.MessageContent is null) return null;
        if (PgEgressMessages.Read(change.MessageContent) is not { Type: PgEgressMessages.Ddl, Table: { } table, Statement: { } statement } m
            || m.Slot != slot)
            return null;
        return new DdlStatement(TableName.ParseStored(table), txn.EndLsn, txn.CommitTimestamp, m.CommandTag ?? "", statement);
    }

    /// <summary>ddl.sql: the statements in LSN order, each after a comment with its position and commit time.</summary>
    public static string Script(IEnumerable<DdlStatement> statements)
    {
        var sb = new StringBuilder();
        foreach (var s in statements)
        {
            sb.Append("-- lsn ").Append(PgText.Lsn(s.Lsn)).Append(" committed ").Append(PgText.TimestampTz(s.CommitTimestamp))
              .Append(' ').Append(s.CommandTag).Append('\n');
            var text = s.Statement.TrimEnd();
            sb.Append(text);
            if (!text.EndsWith(';')) sb.Append(';');
            sb.Append("\n\n");
        }
        return sb.ToString();
    }
}
