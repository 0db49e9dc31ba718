using PgEgress.Core.Domain;
using PgEgress.Core.Batching;
using PgEgress.Core.Registry;
using PgEgress.Core.Staging;

namespace PgEgress.Tests.Batching;

/// <summary>Which of a reloaded table's changes a flush writes, from the request marker to the reload's consistent point and after.</summary>
public sealed class ReloadHoldsTests
{
    private const uint Table = 42, Other = 7;

    private static OperationRecord Op(string state, ulong marker, ulong? consistent, long id = 1) =>
        new(id, "s", "reload", "sql", Table, new TableName("app", "t"), state, marker, consistent, 1, null, null, null, null, DateTime.UtcNow, null, null, null);

    /// <summary>A transaction whose commit record starts at <paramref name="commit"/> and ends 0x30 later.</summary>
    private static TransactionInfo Txn(ulong commit) => new(commit + 0x30, commit, 1, DateTime.UtcNow);

    [Fact]
    public void While_exporting_the_table_is_held_from_its_marker_and_other_tables_flow()
    {
        var holds = new ReloadHolds([Op(OperationRecord.Exporting, marker: 0x1000, consistent: 0x2000)], to: 0x5000);
        Assert.True(holds.Writes(Table, Txn(0x0800), flushCursor: 0));   // before the marker
        Assert.False(holds.Writes(Table, Txn(0x1800), flushCursor: 0));  // held
        Assert.True(holds.Writes(Other, Txn(0x1800), flushCursor: 0));
        Assert.Empty(holds.Releasable);
    }

    [Fact]
    public void A_completed_reload_drops_what_its_snapshot_has_and_writes_the_rest_once_the_staged_log_reaches_its_consistent_point()
    {
        var done = Op(OperationRecord.Completed, marker: 0x1000, consistent: 0x2000);
        var early = new ReloadHolds([done], to: 0x1F00);
        // Not staged up to C yet: a change the snapshot has may still arrive, so the table stays held.
        Assert.False(early.Writes(Table, Txn(0x2100), flushCursor: 0x1F00));
        Assert.Empty(early.Releasable);

        var holds = new ReloadHolds([done], to: 0x3000);
        Assert.False(holds.Writes(Table, Txn(0x0800), flushCursor: 0));  // unflushed, before the marker: the reload has it
        Assert.False(holds.Writes(Table, Txn(0x1800), flushCursor: 0x3000)); // held, committed before C
        Assert.True(holds.Writes(Table, Txn(0x2000), flushCursor: 0x3000));  // committed at C
        Assert.True(holds.Writes(Table, Txn(0x2800), flushCursor: 0x3000));
        Assert.Equal([1L], holds.Releasable);
        Assert.Equal(0x0FFFUL, holds.ReadFrom);
    }

    [Fact]
    public void A_finished_reload_of_a_table_the_flush_could_not_write_stays_held()
    {
        var holds = new ReloadHolds([Op(OperationRecord.Completed, marker: 0x1000, consistent: 0x2000)], to: 0x3000);
        // Released, its held changes would be read from the flush cursor on, past the ones that were never written.
        Assert.Empty(holds.ReleasableWithout([new TableName("app", "t")]));
        Assert.Equal([1L], holds.ReleasableWithout([new TableName("app", "other")]));
    }

    [Fact]
    public void A_completed_reload_not_yet_reached_by_the_staged_log_holds_the_whole_table()
    {
        // The reload file is registered: anything of the table written now would be registered after it.
        var holds = new ReloadHolds([Op(OperationRecord.Completed, marker: 0x1000, consistent: 0x2000)], to: 0x1F00);
        Assert.False(holds.Writes(Table, Txn(0x0800), flushCursor: 0));      // before the marker, unflushed
        Assert.False(holds.Writes(Table, Txn(0x1800), flushCursor: 0x0900)); // after the marker
        Assert.True(holds.Writes(Other, Txn(0x0800), flushCursor: 0));
        Assert.Empty(holds.Releasable);
        Assert.Equal(ulong.MaxValue, holds.ReadFrom);
    }

    [Fact]
    public void A_failed_reload_lets_every_held_change_through()
    {
        var holds = new ReloadHolds([Op(OperationRecord.Failed, marker: 0x1000, consistent: 0x2000)], to: 0x1500);
        Assert.True(holds.Writes(Table, Txn(0x1100), flushCursor: 0x1500));
        Assert.Equal([1L], holds.Releasable);
    }
}
