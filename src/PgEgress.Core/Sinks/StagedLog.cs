using PgEgress.Core.Output;
using PgEgress.Core.Registry;
using PgEgress.Core.Staging;
using PgEgress.Core.Storage;

namespace PgEgress.Core.Sinks;

/// <summary>
/// The staged log as a consumer reads it: the committed transactions after a position, in LSN order, read from the
/// registered segments one change at a time (a transaction of any size is never held in memory).
/// </summary>
public sealed class StagedLog(IObjectStore store, RegistryStore registry, StagingSignal signal)
{
    /// <summary>How long a consumer that has caught up waits before it looks at the registry again, unless this process stages a segment first.</summary>
    public static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(100);

    /// <summary>Waits for the next segment: returns when this process registers one, or after <see cref="PollInterval"/>.</summary>
    public Task WaitForSegmentAsync(CancellationToken ct) => signal.WaitAsync(PollInterval, ct);

    /// <summary>
    /// Calls <paramref name="onTransaction"/> for each staged transaction ending after <paramref name="after"/>, with its
    /// rows (the output contract's rows, numbered as the files' _seq) as a lazy sequence to read once. Stops early when
    /// <paramref name="onTransaction"/> returns false. Returns the end LSN of the last transaction handed over.
    /// </summary>
    public async Task<ulong> ReadAsync(string slot, ulong after, Func<TransactionInfo, IEnumerable<SinkEvent>, Task<bool>> onTransaction, CancellationToken ct)
    {
        var last = after;
        foreach (var segment in await registry.GetSegmentsAsync(slot, after, ct))
        {
            await using var stream = await store.OpenReadAsync(segment.Path, ct)
                ?? throw new InvalidDataException($"staged segment {segment.Path} is registered but missing from {store.Describe}");
            using var reader = new SegmentReader(stream, segment.Path, segment.Sha256);
            while (reader.NextTransaction(out var txn))
            {
                if (txn.EndLsn <= after)
                {
                    while (reader.NextChange(out _)) { }
                    continue;
                }
                var more = await onTransaction(txn, Events(reader, txn));
                // Whatever the callback left unread is skipped, so the reader is at the next transaction.
                while (reader.InTransaction && reader.NextChange(out _)) { }
                last = txn.EndLsn;
                if (!more) return last;
                ct.ThrowIfCancellationRequested();
            }
        }
        return last;
    }

    private static IEnumerable<SinkEvent> Events(SegmentReader reader, TransactionInfo txn)
    {
        var seq = 0;
        while (reader.NextChange(out var change))
            foreach (var row in ChangeRows.From(change))
                yield return new SinkEvent(txn, ++seq, row);
    }
}
