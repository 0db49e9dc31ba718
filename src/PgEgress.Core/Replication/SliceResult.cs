namespace PgEgress.Core.Replication;

/// <summary>What one slice did: small enough to pass between orchestrations, never the data itself.</summary>
/// <param name="StartLsn">The staged position before the slice (exclusive).</param>
/// <param name="EndLsn">End LSN of the last transaction staged by the slice (= StartLsn when it staged none).</param>
/// <param name="AcknowledgedLsn">What the slot was acknowledged up to at the end of the slice.</param>
/// <param name="Segment">The staged segment's path, null when the slice staged nothing.</param>
/// <param name="FlushRequested">A flush marker was passed: everything committed before the request is now staged.</param>
/// <param name="ReloadMarkers">Reload requests staged by the slice: their exports can start.</param>
/// <param name="LastCommitAt">Commit time (UTC) of the newest transaction staged by the slice, for the ingest delay.</param>
/// <param name="Behind">The server had not decoded up to where the WAL stood when the slice began: an empty slice is not
/// a quiet source but a walsender still reading (e.g. a new session re-decoding a long open transaction).</param>
public sealed record SliceResult(
    ulong StartLsn,
    ulong EndLsn,
    int Transactions,
    long Changes,
    long Bytes,
    ulong AcknowledgedLsn,
    string? Segment,
    bool FlushRequested,
    DateTime StartedAt,
    TimeSpan Duration,
    int ReloadMarkers = 0,
    DateTime? LastCommitAt = null,
    bool Behind = false)
{
    public bool Idle => Transactions == 0;
}
