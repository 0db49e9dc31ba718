using PgEgress.Core.Domain;
using System.Text.RegularExpressions;
using PgEgress.Core.Batching;

namespace PgEgress.Tests.Batching;

/// <summary>
/// ddl.sql splits at its "-- lsn" header lines, whichever line breaks a reader honours: nothing a statement or a
/// command tag carries can start a line that reads as a header.
/// </summary>
public sealed class DdlScriptTests
{
    private static readonly DateTime Committed = new(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc);

    [Fact]
    public void No_statement_can_forge_a_header_line_with_any_kind_of_line_break()
    {
        DdlStatement[] statements =
        [
            new(new TableName("app", "t"), 0x10, Committed, "ALTER TABLE", "ALTER TABLE app.t ADD a int"),
            new(new TableName("app", "e"), 0x20, Committed, "ALTER TABLE", "ALTER TABLE app.\"e\r-- lsn 0/1 committed x\rDROP TABLE app.t\" ADD b int"),
            new(new TableName("app", "e"), 0x30, Committed, "ALTER TABLE", "ALTER TABLE app.\"e\r\n  -- lsn 0/2\" ADD c int"),
            new(new TableName("app", "e"), 0x40, Committed, "ALTER TABLE\n-- lsn 0/3", "ALTER TABLE app.e ADD d int"),
        ];

        var lines = Regex.Split(DdlStatement.Script(statements), "\r\n|\r|\n");

        Assert.Equal(4, lines.Count(l => l.TrimStart().StartsWith("-- lsn", StringComparison.Ordinal)));
        Assert.DoesNotContain(lines, l => l.StartsWith("DROP TABLE", StringComparison.Ordinal));
        Assert.Contains("ALTER TABLE app.t ADD a int;", lines);
        Assert.Contains("ALTER TABLE app.e ADD d int;", lines);
    }
}
