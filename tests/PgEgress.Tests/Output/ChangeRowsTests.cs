using System.Text;
using PgEgress.Core.Output;
using PgEgress.Core.Staging;

namespace PgEgress.Tests.Output;

public class ChangeRowsTests
{
    private static readonly RelationSchema Doc = new(1, "public", "doc", 'd',
    [
        new ColumnSchema("id", 23, -1, "integer", false, true),
        new ColumnSchema("title", 25, -1, "text", true, false),
        new ColumnSchema("body", 25, -1, "text", true, false),
    ]);

    private static TupleValue T(string s) => new(ValueKind.Text, Encoding.UTF8.GetBytes(s));

    [Fact]
    public void An_update_that_keeps_the_key_is_one_U_row()
    {
        var rows = ChangeRows.From(new StagedChange(ChangeKind.Update, Doc, null, false, [T("1"), T("t"), TupleValue.Unchanged])).ToList();
        Assert.Equal('U', Assert.Single(rows).Op);
    }

    [Fact]
    public void An_update_that_changes_the_key_is_a_D_of_the_old_row_then_an_I_of_the_new()
    {
        var rows = ChangeRows.From(new StagedChange(ChangeKind.Update, Doc, [T("1"), TupleValue.Null, TupleValue.Null], true,
            [T("2"), T("t"), T("b")])).ToList();
        Assert.Equal(['D', 'I'], rows.Select(r => r.Op));
        Assert.Equal("1", Encoding.UTF8.GetString(rows[0].Values![0].Text!));
        Assert.Equal("2", Encoding.UTF8.GetString(rows[1].Values![0].Text!));
    }

    [Fact]
    public void Under_replica_identity_full_an_unchanged_toast_value_is_taken_from_the_old_row()
    {
        var rows = ChangeRows.From(new StagedChange(ChangeKind.Update, Doc with { ReplicaIdentity = 'f' },
            [T("1"), T("old"), T("big body")], false, [T("1"), T("new"), TupleValue.Unchanged])).ToList();
        var row = Assert.Single(rows);
        Assert.Equal('U', row.Op);
        Assert.Equal("big body", Encoding.UTF8.GetString(row.Values![2].Text!));
    }

    [Fact]
    public void A_truncate_gives_one_T_row_per_table()
    {
        var other = Doc with { RelationId = 2, Name = "other" };
        var rows = ChangeRows.From(new StagedChange(ChangeKind.Truncate, null, null, false, null, [Doc, other])).ToList();
        Assert.Equal([("doc", 'T'), ("other", 'T')], rows.Select(r => (r.Relation.Name, r.Op)));
    }
}
