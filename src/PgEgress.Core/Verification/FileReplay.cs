using System.Globalization;
using PgEgress.Core.Output;
using PgEgress.Core.Storage;

namespace PgEgress.Core.Verification;

/// <summary>
/// What a loader rebuilds from the files up to a consistent point, in bounded memory: a grace hash join. One pass reads
/// the files in order and spills every row with <c>_lsn</c> ≤ C to the partition of its key's hash (a truncate to every
/// partition); then each partition is replayed alone in memory (I/R insert, U update keeping <c>_unchanged_toast</c>
/// columns, D delete, T clear) and its final rows are written to a second spill file, which the comparison reads by
/// bucket. Partitions and buckets share the key hash's leading hex digits, so a bucket lies in one partition.
/// </summary>
public sealed class FileReplay : IDisposable
{
    private readonly string _folder;
    private readonly int _partitionDigits;
    private readonly IReadOnlyList<string> _columns;
    private readonly IReadOnlyList<int> _key;

    /// <param name="columns">The live table's columns: file rows are mapped onto them by name (a missing one is NULL).</param>
    /// <param name="key">Indexes into <paramref name="columns"/> of the key; all of them for a table without one.</param>
    public FileReplay(string folder, IReadOnlyList<string> columns, IReadOnlyList<int> key, int partitionDigits)
    {
        _folder = folder;
        _columns = columns;
        _key = key;
        _partitionDigits = partitionDigits;
        PrivateFiles.CreateFolder(folder);
    }

    private int Partitions => 1 << (4 * _partitionDigits);

    /// <summary>Rows read from the files with _lsn at or before C.</summary>
    public long FileRows { get; private set; }

    /// <summary>Whether a streaming file holds rows on both sides of C (a repair at C could then not go between files).</summary>
    public bool Straddles { get; private set; }

    private string Spill(int p) => Path.Combine(_folder, $"in-{p:x}");

    private string Final(int p) => Path.Combine(_folder, $"final-{p:x}");

    public int PartitionOf(string keyHash) => int.Parse(keyHash.AsSpan(0, _partitionDigits), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture);

    /// <summary>Reads every file and replays every partition.</summary>
    public async Task BuildAsync(IObjectStore store, IReadOnlyList<ReplayFile> files, ulong consistent, CancellationToken ct)
    {
        var writers = new BinaryWriter[Partitions];
        for (var p = 0; p < writers.Length; p++)
            writers[p] = new BinaryWriter(PrivateFiles.Open(Spill(p), FileMode.Create, FileAccess.Write, 1 << 16));
        // A key change's I naming unchanged TOAST columns takes them from the row its D (the row before) removed,
        // which may sit in another partition: those D rows are captured by a first replay of their partitions.
        var captures = new HashSet<long>();
        var capturePartitions = new HashSet<int>();
        long ordinal = 0;
        try
        {
            (char Op, int Partition)? previous = null;
            foreach (var file in files)
            {
                using var reader = await OutputFileReader.OpenAsync(store, file.Path, ct);
                var header = reader.Header;
                var lsnAt = Array.IndexOf(header, "_lsn");
                var opAt = Array.IndexOf(header, "_op");
                var toastAt = Array.IndexOf(header, "_unchanged_toast");
                var map = _columns.Select(c => Array.IndexOf(header, c)).ToArray();
                if (lsnAt < 0 || opAt < 0) throw new InvalidDataException($"{file.Path} has no _lsn or _op column");
                bool before = false, after = false;
                while (reader.ReadRow() is { } row)
                {
                    ct.ThrowIfCancellationRequested();
                    ordinal++;
                    if (PgText.ParseLsn(row[lsnAt]!) > consistent)
                    {
                        after = true;
                        previous = null;
                        continue;
                    }
                    before = true;
                    FileRows++;
                    var op = row[opAt]![0];
                    var values = new string?[_columns.Count];
                    for (var i = 0; i < map.Length; i++) values[i] = map[i] >= 0 ? row[map[i]] : null;
                    var toast = toastAt >= 0 && row[toastAt] is { Length: > 2 } t ? ToastColumns(t) : [];
                    if (op == 'T')
                    {
                        foreach (var w in writers) Write(w, op, ordinal, "", [], values);
                        previous = null;
                        continue;
                    }
                    var keyHash = RowEncoding.KeyHash(values, _key);
                    var partition = PartitionOf(keyHash);
                    if (op == 'I' && toast.Length > 0 && previous is ('D', var dp))
                    {
                        captures.Add(ordinal - 1);
                        capturePartitions.Add(dp);
                    }
                    Write(writers[partition], op, ordinal, keyHash, toast, values);
                    previous = (op, partition);
                }
                if (before && after && file.FileType == "streaming") Straddles = true;
            }
        }
        finally
        {
            foreach (var w in writers) w.Dispose();
        }

        var captured = new Dictionary<long, string?[]>();
        foreach (var p in capturePartitions) Replay(p, captures, captured, writeFinal: false);
        for (var p = 0; p < Partitions; p++)
        {
            Replay(p, captures, captured, writeFinal: true);
            File.Delete(Spill(p));
        }
    }

    private int[] ToastColumns(string literal) =>
        [.. PgText.ParseTextArray(literal).Select(n => _columns.ToList().IndexOf(n)).Where(i => i >= 0)];

    private static void Write(BinaryWriter w, char op, long ordinal, string keyHash, int[] toast, string?[] values)
    {
        w.Write(op);
        w.Write(ordinal);
        w.Write(keyHash);
        w.Write(toast.Length);
        foreach (var t in toast) w.Write(t);
        foreach (var v in values)
        {
            w.Write(v is not null);
            if (v is not null) w.Write(v);
        }
    }

    private void Replay(int p, HashSet<long> captures, Dictionary<long, string?[]> captured, bool writeFinal)
    {
        var state = new Dictionary<string, (string?[] Values, long Count)>(StringComparer.Ordinal);
        using (var r = new BinaryReader(new FileStream(Spill(p), FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16)))
        {
            var length = r.BaseStream.Length;
            while (r.BaseStream.Position < length)
            {
                var op = r.ReadChar();
                var ordinal = r.ReadInt64();
                var key = r.ReadString();
                var toast = new int[r.ReadInt32()];
                for (var i = 0; i < toast.Length; i++) toast[i] = r.ReadInt32();
                var values = new string?[_columns.Count];
                for (var i = 0; i < values.Length; i++) values[i] = r.ReadBoolean() ? r.ReadString() : null;
                if (op == 'T')
                {
                    state.Clear();
                    continue;
                }
                switch (op)
                {
                    case 'I' or 'R' or 'U':
                        var found = state.TryGetValue(key, out var old);
                        if (op == 'U' && !found) break; // a loader's UPDATE matches nothing
                        if (toast.Length > 0)
                        {
                            var from = op == 'U' ? old.Values : captured.GetValueOrDefault(ordinal - 1);
                            if (from is not null) foreach (var t in toast) values[t] = from[t];
                        }
                        var multiset = _key.Count == _columns.Count && op != 'U';
                        state[key] = (values, multiset && found ? old.Count + 1 : 1);
                        break;
                    case 'D':
                        if (!state.TryGetValue(key, out var gone)) break;
                        if (captures.Contains(ordinal)) captured[ordinal] = gone.Values;
                        if (gone.Count > 1) state[key] = (gone.Values, gone.Count - 1);
                        else state.Remove(key);
                        break;
                    default:
                        throw new InvalidDataException($"unknown _op '{op}' in the files");
                }
            }
        }
        if (!writeFinal) return;
        using var w = new BinaryWriter(PrivateFiles.Open(Final(p), FileMode.Create, FileAccess.Write, 1 << 16));
        foreach (var (key, (values, count)) in state)
        {
            w.Write(key);
            w.Write(RowEncoding.RowHash(values));
            w.Write(count);
            foreach (var v in values)
            {
                w.Write(v is not null);
                if (v is not null) w.Write(v);
            }
        }
    }

    /// <summary>The final rows of the partitions holding <paramref name="prefixes"/> (all when null) whose key hash starts with one of them.</summary>
    public IEnumerable<FileRow> Rows(IReadOnlyCollection<string>? prefixes)
    {
        var set = prefixes is null ? null : new PrefixSet(prefixes);
        var partitions = prefixes is null ? Enumerable.Range(0, Partitions) : prefixes.Select(PartitionOf).Distinct().Order();
        foreach (var p in partitions)
        {
            using var r = new BinaryReader(new FileStream(Final(p), FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16));
            var length = r.BaseStream.Length;
            while (r.BaseStream.Position < length)
            {
                var key = r.ReadString();
                var hash = r.ReadInt64();
                var count = r.ReadInt64();
                var values = new string?[_columns.Count];
                for (var i = 0; i < values.Length; i++) values[i] = r.ReadBoolean() ? r.ReadString() : null;
                if (set is null || set.Contains(key))
                    yield return new FileRow(key, hash, count, values);
            }
        }
    }

    /// <summary>Per bucket of <paramref name="digits"/> hex digits within <paramref name="prefixes"/> (all when null): count and hash sum.</summary>
    public Dictionary<string, BucketStats> Buckets(int digits, IReadOnlyCollection<string>? prefixes)
    {
        var buckets = new Dictionary<string, BucketStats>(StringComparer.Ordinal);
        foreach (var row in Rows(prefixes))
        {
            var b = row.KeyHash[..digits];
            var s = buckets.GetValueOrDefault(b);
            buckets[b] = new BucketStats(s.Count + row.Count, s.Sum + (decimal)row.RowHash * row.Count);
        }
        return buckets;
    }

    public void Dispose()
    {
        if (Directory.Exists(_folder)) Directory.Delete(_folder, recursive: true);
    }
}
