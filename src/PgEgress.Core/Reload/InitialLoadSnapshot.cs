using Npgsql.Replication;
using PgEgress.Core.Registry;

namespace PgEgress.Core.Reload;

/// <summary>
/// The snapshot the main slot exported when it was created, kept alive (its replication connection idle) until the
/// coordinator's export workers have imported it. Only the process that created the slot has it; after a restart the
/// initial load's operations are exported again under a fresh snapshot like any other interrupted reload. Under
/// <see cref="InitialLoadSnapshotPolicy.FreshSnapshotPerTable"/> no lease is ever offered.
/// </summary>
public sealed class InitialLoadSnapshot(InitialLoadSnapshotPolicy policy)
{
    private readonly Lock _gate = new();
    private Lease? _lease;

    public sealed record Lease(LogicalReplicationConnection Connection, string SnapshotName, ulong ConsistentLsn, IReadOnlyList<OperationRecord> Operations);

    public InitialLoadSnapshotPolicy Policy => policy;

    public void Offer(Lease lease)
    {
        lock (_gate) _lease = lease;
    }

    /// <summary>The lease, once: the caller disposes its connection after importing the snapshot.</summary>
    public Lease? Take()
    {
        lock (_gate)
        {
            var lease = _lease;
            _lease = null;
            return lease;
        }
    }
}
