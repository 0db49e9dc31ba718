using PgEgress.Core.Domain;
using PgEgress.Core.Registry;
using PgEgress.Core.Staging;

namespace PgEgress.Core.Batching;

/// <summary>
/// What the flush may write of a table with a reload, per transaction. From the request marker on, the table's changes
/// are held back while the export runs. Once the reload file is registered and the staged log reaches its consistent
/// point, the held changes that the snapshot already contains (commit before the consistent point) are dropped and the
/// rest are written; a failed reload lets them all through. Either way the operation is released by the flush that writes them. Unflushed changes from before the
/// marker that the reload contains are dropped as well.
/// </summary>
public sealed class ReloadHolds
{
    private readonly Dictionary<uint, List<OperationRecord>> _byTable = [];
    private readonly List<OperationRecord> _finished;
    private readonly HashSet<uint> _heldWhole = [];

    /// <param name="to">Where the flush's staged transactions end. A reload completes for the flush only once the
    /// staged log reaches its consistent point. Before that its file is registered, but some changes the snapshot has
    /// may not be staged yet: the table is held whole (even its changes from before the marker), since any file of it
    /// registered now would follow the reload file while repeating what it contains.</param>
    public ReloadHolds(IReadOnlyList<OperationRecord> operations, ulong to)
    {
        foreach (var op in operations.Where(o => o.State == OperationRecord.Completed && o.ConsistentLsn > to)) _heldWhole.Add(op.TableOid);
        var holds = operations.Where(o => !_heldWhole.Contains(o.TableOid)).ToList();
        foreach (var op in holds.OrderBy(o => o.MarkerLsn))
            (_byTable.TryGetValue(op.TableOid, out var list) ? list : _byTable[op.TableOid] = []).Add(op);
        // A hold's marker transaction is re-read even when the flush cursor is past it: its changes were never written.
        ReadFrom = holds.Where(o => o.Finished).Select(o => o.MarkerLsn!.Value - Math.Min(o.MarkerLsn.Value, 1)).DefaultIfEmpty(ulong.MaxValue).Min();
        _finished = [.. holds.Where(o => o.Finished)];
    }

    /// <summary>Transactions ending after this are read (the flush reads from the lower of this and its cursor).</summary>
    public ulong ReadFrom { get; }

    /// <summary>Finished operations whose held changes this flush writes; released when it commits.</summary>
    public IReadOnlyList<long> Releasable => ReleasableWithout([]);

    /// <summary>The finished operations to release when the flush could not write <paramref name="failed"/>: those tables stay held until a flush writes them.</summary>
    public IReadOnlyList<long> ReleasableWithout(IReadOnlyCollection<TableName> failed) =>
        [.. _finished.Where(o => !failed.Contains(o.Table)).Select(o => o.Id)];

    /// <summary>Whether a row of <paramref name="relationId"/> in <paramref name="txn"/> goes into this flush's files.</summary>
    public bool Writes(uint relationId, TransactionInfo txn, ulong flushCursor)
    {
        if (_heldWhole.Contains(relationId)) return false;
        if (!_byTable.TryGetValue(relationId, out var ops)) return txn.EndLsn > flushCursor;
        // A registered reload contains every change committed before its consistent point, including unflushed ones from
        // before its marker: written too, they would share a file with the changes after the reload, which a loader
        // applies whole on top of it.
        if (ops.Any(o => o.State == OperationRecord.Completed && txn.CommitLsn < o.ConsistentLsn!.Value)) return false;
        var hold = HoldFor(ops, txn.EndLsn);
        if (hold is null) return txn.EndLsn > flushCursor;
        return hold.State is OperationRecord.Completed or OperationRecord.Failed;
    }

    /// <summary>The latest operation on the table whose marker is at or before the transaction.</summary>
    private static OperationRecord? HoldFor(List<OperationRecord> ops, ulong txnEnd)
    {
        OperationRecord? found = null;
        foreach (var op in ops)
        {
            if (op.MarkerLsn > txnEnd) break;
            found = op;
        }
        return found;
    }
}
