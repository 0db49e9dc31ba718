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

    /// <summary>The comment line that starts each statement in ddl.sql; readers split the file at it.</summary>
    public const string HeaderStart = "-- lsn ";

    /// <summary>
    /// ddl.sql: the statements in LSN order, each after a comment with its position and commit time. The header's
    /// parts are kept to one line, and a statement none of whose lines may begin like a header: one that would (a name
    /// holding a line break and "-- lsn") is replaced by a comment, so the file always splits into its statements.
    /// </summary>
    public static string Script(IEnumerable<DdlStatement> statements)
    {
        var sb = new StringBuilder();
        foreach (var s in statements)
        {
            sb.Append(HeaderStart).Append(PgText.Lsn(s.Lsn)).Append(" committed ").Append(PgText.TimestampTz(s.CommitTimestamp))
              .Append(' ').Append(OneLine(s.CommandTag)).Append('\n');
            var text = s.Statement.TrimEnd();
            if (text.Split(LineBreaks, StringSplitOptions.None).Any(line => line.TrimStart().StartsWith(HeaderStart.TrimEnd(), StringComparison.Ordinal)))
                text = $"-- {OneLine(s.CommandTag)} {OneLine(s.Table.ToString())} (statement not written: a line of it begins like a \"{HeaderStart.TrimEnd()}\" header; see cdc_registry.ddl_history)";
            sb.Append(text);
            if (!text.EndsWith(';')) sb.Append(';');
            sb.Append("\n\n");
        }
        return sb.ToString();
    }

    private static readonly string[] LineBreaks = ["\r\n", "\r", "\n"];

    /// <summary>Line breaks shown as \r and \n, so a value cannot end the comment line it is part of.</summary>
    private static string OneLine(string value) => value.Replace("\r", "\\r", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);
}
