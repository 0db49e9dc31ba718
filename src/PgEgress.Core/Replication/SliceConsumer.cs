using System.Collections.Concurrent;
using System.Diagnostics;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Npgsql;
using Npgsql.Replication.PgOutput;
using Npgsql.Replication.PgOutput.Messages;
using PgEgress.Core.Configuration;
using PgEgress.Core.Diagnostics;
using PgEgress.Core.Pipeline;
using PgEgress.Core.Registry;
using PgEgress.Core.Staging;
using PgEgress.Core.Storage;

namespace PgEgress.Core.Replication;

/// <summary>
/// Reads the slot in slices. A slice streams committed transactions into one staged segment and ends on a
/// transaction boundary when its time, byte or transaction bound is reached, or a flush or reload marker passes (so
/// the request does not wait for the time bound). The segment is uploaded and registered before the slot is
/// acknowledged, up to the last transaction's end LSN;
/// a quiet slice acknowledges the server's keepalive position instead, so idle tables never hold WAL.
/// </summary>
public sealed class SliceConsumer(
    PgEgressOptions options,
    NpgsqlDataSource source,
    IObjectStore store,
    RegistryStore registry,
    StagingSignal staging,
    ShutdownBudget shutdown,
    ILogger<SliceConsumer> logger) : IAsyncDisposable
{
    // Idle time per slot for the whole process: a consumer may live for one slice only (a Functions activity),
    // and the heartbeat must still come once the published tables have been quiet for the interval.
    private static readonly ConcurrentDictionary<string, DateTime> LastActivity = new();

    private readonly RelationCatalog _catalog = new(source);
    private readonly Dictionary<uint, RelationSchema> _relations = [];
    // Streamed transactions of the session still open (they span slices); the one whose chunk is being received.
    private readonly Dictionary<uint, StreamedTransaction> _streams = [];
    private StreamedTransaction? _streaming;
    private ReplicationSession? _session;
    private ulong _staged;
    private ulong _acknowledged;
    private byte[] _valueBuffer = new byte[8192];

    private string Slot => options.Source.Slot;

    /// <summary>Spool and spill files of this slot's slices; only one consumer per slot writes here.</summary>
    private string IngestFolder => Path.Combine(options.WorkDirectory, Slot, "ingest");

    /// <summary>
    /// Consumes one slice. Cancelling <paramref name="stop"/> ends it at the next message: committed transactions are
    /// staged and acknowledged, an open one is left for the next run. The message being read is read to its end (within
    /// the shutdown budget): a read torn in the middle of a tuple would leave the stream, and the slice, unusable.
    /// </summary>
    public async Task<SliceResult> ConsumeSliceAsync(CancellationToken stop)
    {
        var read = shutdown.Token;
        var started = DateTime.UtcNow;
        var clock = Stopwatch.StartNew();
        if (_session is null) await OpenAsync(stop);
        var session = _session!;
        var startLsn = _staged;
        var walAtStart = await FlushedWalAsync(read);

        PrivateFiles.CreateFolder(IngestFolder);
        var spool = Path.Combine(IngestFolder, $"{Guid.NewGuid():N}.seg");
        using var segment = new SegmentWriter(spool, Slot, startLsn, IngestFolder);
        var flushRequested = false;
        var inTransaction = false;
        var skipTransaction = false;
        var seenAcknowledgeable = 0UL;
        var abandoned = false;
        TimeSpan? firstStaged = null; // when the slice's first transaction was staged (its wait bounds the slice: MaxLatency)
        (uint Xid, DateTime CommitTime) begin = default;
        // Reload markers of the open transaction, and those of the slice's committed ones with their transaction's end LSN.
        var txnMarkers = new List<PgEgressMarker>();
        var markers = new List<StagedReloadMarker>();

        // Where a change goes: inside a streamed chunk (the message then carries its subtransaction's xid) to that streamed
        // transaction, else to the open transaction unless it was staged before.
        TransactionBuffer? Target(TransactionalMessage message) =>
            message.TransactionXid is { } subxid && _streaming is not null ? _streaming.Before(subxid)
            : inTransaction && !skipTransaction ? segment.Open : null;

        try
        {
            while (true)
            {
                if ((inTransaction || _streaming is not null) && stop.IsCancellationRequested)
                {
                    // Shutting down inside a transaction or a streamed chunk: drop it (the server sends it again, whole, to the next
                    // session) and stage the rest.
                    segment.AbandonTransaction();
                    txnMarkers.Clear();
                    inTransaction = false;
                    abandoned = true;
                    break;
                }
                if (segment.TransactionCount > 0) firstStaged ??= clock.Elapsed;
                if (!inTransaction && _streaming is null && (flushRequested || markers.Count > 0 || stop.IsCancellationRequested || clock.Elapsed >= options.Slice.MaxDuration
                                       || clock.Elapsed - firstStaged >= options.Slice.MaxLatency
                                       || segment.Bytes >= options.Slice.MaxBytes || segment.TransactionCount >= options.Slice.MaxTransactions))
                    break;
                // Inside a transaction, wait for its next message however long it takes (only stop ends the wait); outside
                // one, until the slice's time bound. Only the remaining time is clamped: InfiniteTimeSpan is -1 ms, and clamping
                // it to zero turned every wait for the network inside a transaction into a busy poll.
                var remaining = options.Slice.MaxDuration - clock.Elapsed;
                if (options.Slice.MaxLatency - (clock.Elapsed - firstStaged) is { } latencyLeft && latencyLeft < remaining) remaining = latencyLeft;
                // Once a transaction is staged, a quiet stream ends the slice: under light load a change reaches the sinks
                // within tens of milliseconds, under heavy load the stream is never quiet that long and slices stay large.
                var quietEnds = !inTransaction && _streaming is null && segment.TransactionCount > 0 && options.Slice.QuietAfterCommit > TimeSpan.Zero;
                if (quietEnds && remaining > options.Slice.QuietAfterCommit) remaining = options.Slice.QuietAfterCommit;
                var wait = inTransaction || _streaming is not null ? Timeout.InfiniteTimeSpan : remaining > TimeSpan.Zero ? remaining : TimeSpan.Zero;
                bool got;
                try
                {
                    got = await session.NextAsync(wait, stop);
                }
                catch (OperationCanceledException) when (stop.IsCancellationRequested)
                {
                    got = false;
                }
                if (!got)
                {
                    if (quietEnds) break;
                    continue;
                }

                switch (session.Current)
                {
                    case BeginMessage b:
                        inTransaction = true;
                        // A transaction is replayed when its commit starts before the restart point; skip what is staged.
                        skipTransaction = (ulong)b.TransactionFinalLsn < _staged;
                        begin = (b.TransactionXid, b.TransactionCommitTimestamp);
                        break;
                    case StreamStartMessage m:
                        if (!_streams.TryGetValue(m.TransactionXid, out _streaming))
                            _streams[m.TransactionXid] = _streaming = new StreamedTransaction(m.TransactionXid, IngestFolder);
                        break;
                    case StreamStopMessage:
                        _streaming = null;
                        break;
                    case StreamAbortMessage m:
                        if (_streams.Remove(m.TransactionXid, out var aborted))
                        {
                            if (m.SubtransactionXid == aborted.Xid) aborted.Dispose();
                            else
                            {
                                aborted.AbortSubtransaction(m.SubtransactionXid);
                                _streams[aborted.Xid] = aborted;
                            }
                        }
                        break;
                    case StreamCommitMessage c:
                        if (_streams.Remove(c.TransactionXid, out var streamed))
                        {
                            using (streamed)
                            {
                                var streamEnd = (ulong)c.TransactionEndLsn;
                                if ((ulong)c.CommitLsn >= _staged && streamed.Changes.Changes > 0)
                                {
                                    segment.CommitTransaction(new TransactionInfo(streamEnd, (ulong)c.CommitLsn, streamed.Xid, c.TransactionCommitTimestamp), streamed.Changes);
                                    markers.AddRange(streamed.Markers.Select(m => m.StagedAt(streamEnd)));
                                }
                                seenAcknowledgeable = Math.Max(seenAcknowledgeable, streamEnd);
                            }
                        }
                        break;
                    case RelationMessage r:
                        var schema = await _catalog.DescribeAsync(r, read);
                        _relations[r.RelationId] = schema;
                        Target(r)?.AddRelation(schema);
                        break;
                    case InsertMessage m when Target(m) is { } txn:
                        txn.StartInsert(Relation(m.Relation));
                        await WriteTupleAsync(segment, txn, m.NewRow, read);
                        if (segment.TransactionCount > 0) CrashPoint.Hit(CrashPoint.MidTransaction);
                        break;
                    case FullUpdateMessage m when Target(m) is { } txn:
                        txn.StartUpdate(Relation(m.Relation), SegmentFormat.OldFull);
                        await WriteTupleAsync(segment, txn, m.OldRow, read);
                        await WriteTupleAsync(segment, txn, m.NewRow, read);
                        break;
                    case IndexUpdateMessage m when Target(m) is { } txn:
                        txn.StartUpdate(Relation(m.Relation), SegmentFormat.OldKey);
                        await WriteTupleAsync(segment, txn, m.Key, read);
                        await WriteTupleAsync(segment, txn, m.NewRow, read);
                        break;
                    case UpdateMessage m when Target(m) is { } txn:
                        txn.StartUpdate(Relation(m.Relation), SegmentFormat.OldNone);
                        await WriteTupleAsync(segment, txn, m.NewRow, read);
                        break;
                    case FullDeleteMessage m when Target(m) is { } txn:
                        txn.StartDelete(Relation(m.Relation), SegmentFormat.OldFull);
                        await WriteTupleAsync(segment, txn, m.OldRow, read);
                        break;
                    case KeyDeleteMessage m when Target(m) is { } txn:
                        txn.StartDelete(Relation(m.Relation), SegmentFormat.OldKey);
                        await WriteTupleAsync(segment, txn, m.Key, read);
                        break;
                    case TruncateMessage m when Target(m) is { } txn:
                        txn.WriteTruncate([.. m.Relations.Select(Relation)], (byte)m.Options);
                        break;
                    case LogicalDecodingMessage m when m.Prefix == PgEgressMessages.Prefix:
                        byte[] content;
                        using (var buffer = new MemoryStream())
                        {
                            await m.Data.CopyToAsync(buffer, read);
                            content = buffer.ToArray();
                        }
                        var marker = PgEgressMessages.Read(content);
                        if (marker?.Type == PgEgressMessages.Flush) flushRequested = true;
                        // Heartbeats and flush markers only move positions, and other pipelines' markers are theirs; the rest
                        // (reload requests, DDL) belongs in the stream at its position.
                        else if (marker?.Type != PgEgressMessages.Heartbeat && (marker?.Slot is null || marker.Slot == Slot)
                                 && Target(m) is { } txn)
                        {
                            txn.WriteMessage(m.Prefix, content);
                            if (marker is { Type: PgEgressMessages.Reload, Operation: not null })
                                (m.TransactionXid is null ? txnMarkers : _streaming!.Markers).Add(marker);
                        }
                        break;
                    case CommitMessage c:
                        var end = (ulong)c.TransactionEndLsn;
                        if (!skipTransaction && segment.Open.Changes > 0)
                        {
                            segment.CommitTransaction(new TransactionInfo(end, (ulong)c.CommitLsn, begin.Xid, begin.CommitTime));
                            markers.AddRange(txnMarkers.Select(m => m.StagedAt(end)));
                        }
                        else segment.AbandonTransaction();
                        txnMarkers.Clear();
                        seenAcknowledgeable = Math.Max(seenAcknowledgeable, end);
                        inTransaction = false;
                        skipTransaction = false;
                        break;
                }
            }

            // While a streamed transaction is open its start must stay unacknowledged, so the next session is sent it again whole.
            var result = await FinishAsync(segment, spool, startLsn, seenAcknowledgeable, flushRequested, started, clock.Elapsed,
                abandoned || _streams.Count > 0, markers, walAtStart);
            // The stream stopped inside a transaction; a new session restarts it from the acknowledged position.
            if (abandoned) await DropSessionAsync();
            var now = DateTime.UtcNow;
            var lastActivity = LastActivity.GetOrAdd(Slot, now);
            if (!result.Idle) LastActivity[Slot] = now;
            else if (now - lastActivity >= options.Slice.HeartbeatInterval)
            {
                await PgEgressMessages.EmitAsync(source, PgEgressMessages.Heartbeat, shutdown.Token);
                LastActivity[Slot] = now;
            }
            return result;
        }
        catch
        {
            await DropSessionAsync();
            throw;
        }
        finally
        {
            File.Delete(spool);
        }
    }

    private async Task<SliceResult> FinishAsync(SegmentWriter segment, string spool, ulong startLsn, ulong seenAcknowledgeable,
        bool flushRequested, DateTime started, TimeSpan elapsed, bool midTransaction, List<StagedReloadMarker> markers, ulong walAtStart)
    {
        // The final writes must not be torn by shutdown (they are short, and abandoning them costs a replay), only bounded.
        var ct = shutdown.Token;
        string? path = null;
        var acknowledge = Math.Max(_acknowledged, seenAcknowledgeable);
        if (segment.TransactionCount > 0)
        {
            segment.Finish();
            path = SegmentFormat.Path(Slot, startLsn, segment.EndLsn);
            string sha;
            long bytes;
            await using (var file = File.OpenRead(spool))
            {
                sha = Convert.ToHexStringLower(await SHA256.HashDataAsync(file, ct));
                bytes = file.Length;
                file.Position = 0;
                await store.PutAsync(path, file, ct);
            }
            CrashPoint.Hit(CrashPoint.SegmentUploaded);
            await registry.RegisterSegmentAsync(new SegmentRecord(Slot, startLsn, segment.EndLsn, path, segment.TransactionCount,
                segment.ChangeCount, bytes, sha), markers, ct);
            CrashPoint.Hit(CrashPoint.SegmentRegistered);
            staging.Registered();
            _staged = segment.EndLsn;
            acknowledge = Math.Max(acknowledge, segment.EndLsn);
            logger.LogInformation("Staged {Transactions} transaction(s), {Changes} change(s) to {Segment} ({Bytes} bytes)",
                segment.TransactionCount, segment.ChangeCount, path, bytes);
        }
        else if (_session is not null && !midTransaction)
        {
            // Nothing open: the keepalive position is safe to acknowledge (any later transaction commits after it).
            acknowledge = Math.Max(acknowledge, _session.LastReceivedLsn);
        }

        if (_session is not null && acknowledge > _acknowledged)
        {
            await _session.AcknowledgeAsync(acknowledge, ct);
            _acknowledged = acknowledge;
        }
        // The server reports how far it has decoded (keepalives, data); short of where the WAL stood when the slice began, a
        // walsender is still reading its way there (a new session decodes again from restart_lsn).
        var behind = Math.Max(_session?.LastReceivedLsn ?? 0, _acknowledged) < walAtStart;
        return new SliceResult(startLsn, segment.TransactionCount > 0 ? segment.EndLsn : startLsn, segment.TransactionCount,
            segment.ChangeCount, segment.Bytes, _acknowledged, path, flushRequested, started, elapsed, markers.Count, segment.LastCommitTimestamp, behind);
    }

    private async Task<ulong> FlushedWalAsync(CancellationToken ct)
    {
        await using var cmd = source.CreateCommand("SELECT pg_current_wal_flush_lsn()");
        return (ulong)(NpgsqlTypes.NpgsqlLogSequenceNumber)(await cmd.ExecuteScalarAsync(ct))!;
    }

    private async Task OpenAsync(CancellationToken ct)
    {
        // No slice is being written while the session is closed: anything in the folder was left by a killed process.
        if (Directory.Exists(IngestFolder)) Directory.Delete(IngestFolder, recursive: true);
        _staged = await registry.GetStagedLsnAsync(Slot, ct);
        await SweepOrphanSegmentsAsync(ct);
        try
        {
            _session = await ReplicationSession.StartAsync(options.Source.ConnectionString, Slot, options.Source.Publication, _staged,
                options.Source.Streaming, ct);
        }
        catch (PostgresException e) when (e.SqlState == "55006")
        {
            throw new PipelineSetupException($"replication slot '{Slot}' is in use by another process: {e.MessageText}", e);
        }
        _acknowledged = _staged;
        logger.LogInformation("Streaming slot {Slot} from {Lsn} (protocol {Protocol})", Slot, Output.PgText.Lsn(_staged),
            _session.Streaming ? "2, large transactions streamed in progress" : "1");
    }

    /// <summary>A crash between upload and registration leaves a segment nobody knows; only one consumer runs per slot, so any such object is an orphan.</summary>
    private async Task SweepOrphanSegmentsAsync(CancellationToken ct)
    {
        var known = await registry.GetSegmentPathsAsync(Slot, ct);
        await foreach (var path in store.ListAsync(SegmentFormat.Prefix(Slot), ct))
        {
            if (known.Contains(path)) continue;
            await store.DeleteAsync(path, ct);
            logger.LogInformation("Deleted unregistered segment {Segment} left by an interrupted slice", path);
        }
    }

    private RelationSchema Relation(RelationMessage message) =>
        _relations.TryGetValue(message.RelationId, out var r) ? r
            : throw new InvalidDataException($"change for relation {message.RelationId} before its RelationMessage");

    private async Task WriteTupleAsync(SegmentWriter segment, TransactionBuffer txn, ReplicationTuple tuple, CancellationToken ct)
    {
        txn.StartTuple(tuple.NumColumns);
        var first = true;
        await foreach (var value in tuple)
        {
            if (!first && segment.TransactionCount > 0) await CrashPoint.PauseAsync(CrashPoint.MidTuple, "", ct);
            first = false;
            if (value.IsDBNull) txn.WriteNull();
            else if (value.IsUnchangedToastedValue) txn.WriteUnchangedToast();
            else
            {
                var length = value.Length;
                if (_valueBuffer.Length < length) _valueBuffer = new byte[Math.Max(length, _valueBuffer.Length * 2)];
                await using var stream = value.GetStream();
                await stream.ReadExactlyAsync(_valueBuffer.AsMemory(0, length), ct);
                txn.StartText(length);
                txn.ValueSink.Write(_valueBuffer, 0, length);
            }
        }
        // Keep the value buffer from pinning a huge allocation after one outsized value.
        if (_valueBuffer.Length > 1 << 20) _valueBuffer = new byte[8192];
    }

    private async Task DropSessionAsync()
    {
        if (_session is null) return;
        var session = _session;
        _session = null;
        // The server streams the open ones again, whole, to the next session.
        foreach (var streamed in _streams.Values) streamed.Dispose();
        _streams.Clear();
        _streaming = null;
        await session.DisposeAsync();
    }

    public ValueTask DisposeAsync() => new(DropSessionAsync());
}
