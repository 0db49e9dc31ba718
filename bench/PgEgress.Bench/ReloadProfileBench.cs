using System.Diagnostics;
using System.IO.Compression;
using Npgsql;
using PgEgress.Core.Reload;
using PgEgress.Core.Storage;
using static PgEgress.Bench.BenchLog;

namespace PgEgress.Bench;

/// <summary>
/// Where a reload's time goes: the same COPY of one table (the export's own statement and read loop, one connection)
/// repeated with one more stage each time — COPY alone (the floor), + CSV row counting, + gzip to nowhere, + the spool
/// file with fsync (the folder store's upload is then a rename) — and the compression choices: GZipStream Fastest vs
/// Optimal, ZLibStream, and the read buffer (64 KiB vs 1 MiB).
/// </summary>
public static class ReloadProfileBench
{
    private sealed record Stage(string Name, bool Count, Func<Stream, Stream>? Compress, bool File, int Buffer = 1 << 16);

    public static async Task RunAsync(ReloadSettings settings, CancellationToken ct)
    {
        await using var session = await BenchSession.StartAsync(settings, ct);
        var db = session.Db;
        await BenchWorkload.CreateSchemaAsync(db, ct);
        Log($"loading {settings.Rows:N0} rows into {BenchWorkload.Table}");
        await BenchWorkload.LoadAsync(db, BenchWorkload.Table, settings.Rows, 1, ct);
        await BenchWorkload.ExecuteAsync(db, "VACUUM (FREEZE, ANALYZE); CHECKPOINT", ct);
        var copy = $"COPY (SELECT * FROM {BenchWorkload.Table}) TO STDOUT (FORMAT csv)";

        Stage[] stages =
        [
            new("COPY alone (read and drop)", false, null, false),
            new("+ CSV row counting", true, null, false),
            new("+ GZipStream Fastest to nowhere", true, s => new GZipStream(s, CompressionLevel.Fastest, leaveOpen: true), false),
            new("+ spool file with fsync (the export)", true, s => new GZipStream(s, CompressionLevel.Fastest, leaveOpen: true), true),
            new("GZipStream Optimal instead", true, s => new GZipStream(s, CompressionLevel.Optimal, leaveOpen: true), false),
            new("ZLibStream Fastest instead", true, s => new ZLibStream(s, CompressionLevel.Fastest, leaveOpen: true), false),
            new("1 MiB reads instead of 64 KiB", true, s => new GZipStream(s, CompressionLevel.Fastest, leaveOpen: true), false, 1 << 20),
        ];
        await RunStageAsync(db, copy, stages[2], session.WorkRoot, ct); // warm-up: JIT, page cache
        var lines = new List<string>();
        foreach (var stage in stages)
        {
            var (elapsed, cpu, rows, csv, gz) = await RunStageAsync(db, copy, stage, session.WorkRoot, ct);
            if (stage.Count && rows != settings.Rows) throw new InvalidOperationException($"{stage.Name}: counted {rows} rows of {settings.Rows}");
            var line = $"| {stage.Name} | {elapsed.TotalSeconds:0.00} | {csv / 1e6 / elapsed.TotalSeconds:0.0} | {cpu.TotalSeconds:0.00} | {(gz > 0 ? $"{gz / 1e6:0.0}" : "—")} |";
            Log(line);
            lines.Add(line);
        }
        Console.WriteLine();
        Console.WriteLine($"Reload profile: {settings.Rows:N0} rows, one connection, one COPY per stage");
        Console.WriteLine();
        Console.WriteLine("| stage | s | CSV MB/s | process CPU s | gzip MB |");
        Console.WriteLine("| --- | ---: | ---: | ---: | ---: |");
        foreach (var line in lines) Console.WriteLine(line);
        Console.WriteLine($"Total bench time {session.Elapsed.TotalSeconds:0} s; load average before {session.LoadBefore:0.00}, after {ProcStats.LoadAverage():0.00}");
    }

    private static async Task<(TimeSpan Elapsed, TimeSpan Cpu, long Rows, long CsvBytes, long GzipBytes)> RunStageAsync(
        NpgsqlDataSource db, string copySql, Stage stage, string workRoot, CancellationToken ct)
    {
        var counter = new CsvRowCounter();
        var buffer = new byte[stage.Buffer];
        var path = Path.Combine(workRoot, $"profile-{Guid.NewGuid():N}.csv.gz");
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        long csv = 0, gz;
        await using (var conn = await db.OpenConnectionAsync(ct))
        {
            Stream sink = stage.File ? PrivateFiles.Open(path, FileMode.CreateNew, FileAccess.Write, 1 << 16, FileOptions.Asynchronous) : new CountingStream();
            var compressed = stage.Compress?.Invoke(sink);
            using (var reader = (NpgsqlCopyTextReader)await conn.BeginTextExportAsync(copySql, ct))
            {
                reader.Timeout = Timeout.Infinite;
                int read;
                while ((read = await reader.BaseStream.ReadAtLeastAsync(buffer, buffer.Length, throwOnEndOfStream: false, ct)) > 0)
                {
                    csv += read;
                    if (stage.Count) counter.Count(buffer.AsSpan(0, read));
                    if (compressed is not null) await compressed.WriteAsync(buffer.AsMemory(0, read), ct);
                }
            }
            if (compressed is not null) await compressed.DisposeAsync();
            gz = sink is CountingStream c ? c.Length : new FileInfo(path).Length;
            if (sink is FileStream f) f.Flush(flushToDisk: true);
            await sink.DisposeAsync();
        }
        clock.Stop();
        File.Delete(path);
        return (clock.Elapsed, Process.GetCurrentProcess().TotalProcessorTime - cpu, counter.Rows, csv, compressedBytes(stage, gz));

        static long compressedBytes(Stage stage, long bytes) => stage.Compress is null ? 0 : bytes;
    }

    /// <summary>Stream.Null that remembers how much was written.</summary>
    private sealed class CountingStream : Stream
    {
        private long _length;
        public override long Length => _length;
        public override void Write(byte[] buffer, int offset, int count) => _length += count;
        public override void Write(ReadOnlySpan<byte> buffer) => _length += buffer.Length;
        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken ct = default)
        {
            _length += buffer.Length;
            return ValueTask.CompletedTask;
        }
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Position { get => _length; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
