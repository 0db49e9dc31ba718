namespace PgEgress.Core.Reload;

/// <summary>Which snapshot a new slot's initial load is exported under; each runtime's composition chooses.</summary>
public enum InitialLoadSnapshotPolicy
{
    /// <summary>
    /// The snapshot the slot exported when it was created, held open (by the idle slot-creating connection) until the
    /// export has imported it: every table is at the slot's consistent point. The Host, a long-lived process, does this.
    /// </summary>
    SlotSnapshot,

    /// <summary>
    /// The slot is created without a snapshot and each table is exported under its own, as a requested reload is: each
    /// table's consistent point is at or after the slot's. The Functions app does this, since an activity cannot hold
    /// the slot-creating replication connection open for the reload activity that runs later, maybe elsewhere.
    /// </summary>
    FreshSnapshotPerTable,
}
