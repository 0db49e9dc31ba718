using Npgsql;
using NpgsqlTypes;
using PgEgress.Core.Configuration;
using PgEgress.Core.Replication;

namespace PgEgress.Core.Batching;

/// <summary>
/// A flush on request that includes everything committed before the request: a flush marker goes into the WAL,
/// and once the slot is acknowledged past it (the consumer staged every transaction before it), the flush runs.
/// It needs no line to the running consumer, so it works the same from the Host and from an HTTP function.
/// </summary>
public sealed class ForcedFlush(SourceOptions options, NpgsqlDataSource source, BatchFlusher flusher, TimeProvider time)
{
    /// <param name="upTo">Stop the flush at this LSN (see <see cref="BatchFlusher.FlushAsync"/>).</param>
    public async Task<FlushResult> RunAsync(TimeSpan timeout, CancellationToken ct, ulong upTo = ulong.MaxValue)
    {
        var marker = await PgEgressMessages.EmitAsync(source, PgEgressMessages.Flush, ct);
        var deadline = time.GetUtcNow() + timeout;
        await using var cmd = source.CreateCommand("SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = $1");
        cmd.Parameters.Add(new() { Value = options.Slot });
        while (true)
        {
            var confirmed = await cmd.ExecuteScalarAsync(ct) is NpgsqlLogSequenceNumber lsn ? (ulong)lsn : 0;
            if (confirmed > marker) break;
            if (time.GetUtcNow() > deadline)
                throw new TimeoutException($"ingest did not reach the flush marker within {timeout.TotalSeconds:0} s (slot '{options.Slot}' is at {Output.PgText.Lsn(confirmed)}); is the ingest loop running?");
            await Task.Delay(TimeSpan.FromMilliseconds(100), time, ct);
        }
        return await flusher.FlushAsync(time.GetUtcNow().UtcDateTime, ct, upTo);
    }
}
