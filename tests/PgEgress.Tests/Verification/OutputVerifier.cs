using System.Globalization;
using System.IO.Compression;
using System.Text;
using Npgsql;
using NpgsqlTypes;
using PgEgress.Core.Replication;
using PgEgress.Core.Storage;

namespace PgEgress.Tests.Verification;

/// <summary>
/// Plays the downstream loader of the output contract and compares what it rebuilds with the live table:
/// <list type="bullet">
/// <item>it takes the table's newest <c>full_reload</c> (highest end_lsn, then highest id), if any, starts from an empty
/// table and inserts its rows, then applies every <c>streaming</c> and <c>repair</c> file whose end_lsn is after the
/// reload's, in (end_lsn, path) order, a repair after the streaming files with its end_lsn; files before the newest reload are ignored, <c>ddl</c> files are only counted;</item>
/// <item>each file is loaded with <c>COPY … (FORMAT csv, HEADER)</c> (HEADER MATCH where the server has it) into a
/// scratch table shaped from the schema.yml of the file's own folder;</item>
/// <item>the rebuilt table starts with the first applied file's columns and evolves like a loader's would: before a file
/// whose columns differ, a dropped column is dropped, a column in the same place with another name and the same type
/// is renamed, a column with another type is altered (<c>USING col::type</c>), a new column is added;</item>
/// <item>reload rows go in with one INSERT … SELECT; a streaming file with only inserts and truncates applies set-wise,
/// any other row by row in (_lsn, _seq) order, U and D matching on the schema.yml key columns; an I naming columns in
/// _unchanged_toast (the new half of a key change) takes them from the row the D just before it removed;</item>
/// <item>schema.yml is read as plain YAML under the documented key names, and the metadata columns are the contract's,
/// spelled out here: nothing is taken from the product's own parser or constants;</item>
/// <item>DuckDB reads every registered data file too: its row count must be file_log's, and in files of up to
/// 20,000 rows every value must equal PostgreSQL's reading of the same file. Any disagreement is a difference.</item>
/// </list>
/// At the end the rebuilt table must have the live table's columns and types, and the same rows (compared column by
/// column by name, as text).
/// </summary>
public sealed class OutputVerifier(NpgsqlDataSource db, IObjectStore store)
{
    private const int Timeout = 900;

    /// <summary>The output contract's metadata columns, spelled out here rather than taken from the product.</summary>
    private static readonly string[] MetadataColumns = ["_lsn", "_seq", "_op", "_commit_ts", "_xid", "_unchanged_toast"];

    /// <summary>Files up to this many rows have every value DuckDB reads compared with PostgreSQL's; larger ones their count only.</summary>
    private const long DuckDbValueRows = 20_000;

    /// <param name="Files">Files applied: the newest reload, if any, plus the streaming files after it.</param>
    /// <param name="Rows">Rows in the applied files.</param>
    /// <param name="Differences">Rows (and columns) where the rebuilt table and the live table differ, then "note:" lines with what
    /// may explain them (stale rows, files out of order, registry disagreements); empty when exact.</param>
    /// <param name="DuplicatePositions">(_lsn, _seq) pairs found in more than one row of the applied streaming files.</param>
    /// <param name="Ops">Rows per _op across the applied files.</param>
    /// <param name="UnchangedToastRows">Rows whose _unchanged_toast names at least one column.</param>
    /// <param name="ReloadFiles">full_reload files registered for the table (the newest is applied, older ones ignored).</param>
    /// <param name="DdlFiles">ddl files registered for the table.</param>
    /// <param name="SchemaVersions">Distinct schema_version values among the schema.yml of the applied files.</param>
    public sealed record Rebuild(string Table, int Files, long Rows, List<string> Differences, List<string> DuplicatePositions,
        Dictionary<char, long> Ops, long UnchangedToastRows, int ReloadFiles = 0, int DdlFiles = 0, int SchemaVersions = 0)
    {
        /// <summary>The path of the reload the rebuild started from, or null.</summary>
        public string? Reload { get; init; }

        /// <summary>Streaming files ignored because they end at or before the newest reload.</summary>
        public int IgnoredFiles { get; init; }

        /// <summary>Rows of applied streaming files whose _lsn is at or before the reload's LSN (already in the reload).</summary>
        public long StaleRows { get; init; }

        /// <summary>An applied file whose first (_lsn, _seq) is not after the previous applied streaming file's last one.</summary>
        public List<string> OutOfOrder { get; init; } = [];

        /// <summary>Where a file and its file_log row disagree: row count, LSN range, schema version, or a reload's _lsn/_op.</summary>
        public List<string> RegistryMismatches { get; init; } = [];

        /// <summary>The ALTER TABLE statements the rebuild ran on its table, in order.</summary>
        public List<string> SchemaChanges { get; init; } = [];
    }

    private sealed record FileEntry(long Id, string Path, string Type, ulong StartLsn, ulong EndLsn, long Rows, int SchemaVersion);

    private sealed record Column(string Name, string Type, bool Key, bool Nullable);

    /// <summary>Rebuilds each table and asserts it equals the source with no change position written twice.</summary>
    public async Task AssertExactAsync(params (string Schema, string Table)[] tables)
    {
        foreach (var (schema, table) in tables)
        {
            var rebuild = await RebuildAsync(schema, table);
            Assert.True(rebuild.Differences.Count == 0, $"{rebuild.Table}: {string.Join("; ", rebuild.Differences.Take(10))}");
            Assert.Empty(rebuild.DuplicatePositions);
        }
    }

    public async Task<Rebuild> RebuildAsync(string schema, string table)
    {
        var id = Math.Abs($"{schema}\0{table}".GetHashCode()).ToString(CultureInfo.InvariantCulture);
        // The contract names a table as PostgreSQL's quote_ident prints each part; PostgreSQL says what that is.
        string qualified;
        await using (var quote = db.CreateCommand("SELECT quote_ident($1) || '.' || quote_ident($2)"))
        {
            quote.Parameters.Add(new() { Value = schema });
            quote.Parameters.Add(new() { Value = table });
            qualified = (string)(await quote.ExecuteScalarAsync())!;
        }
        var rebuilt = $"verify.\"rebuilt_{id}\"";
        var positions = $"verify.\"pos_{id}\"";
        var keyIndex = $"\"rebuilt_{id}_key\"";
        var source = $"{Sql.Ident(schema)}.{Sql.Ident(table)}";

        var registered = new List<FileEntry>();
        await using (var cmd = db.CreateCommand("""
            SELECT id, path, file_type, start_lsn, end_lsn, rows, schema_version FROM cdc_registry.file_log
            WHERE table_name = $1 ORDER BY id
            """))
        {
            cmd.Parameters.Add(new() { Value = qualified });
            await using var r = await cmd.ExecuteReaderAsync();
            while (await r.ReadAsync())
                registered.Add(new FileEntry(r.GetInt64(0), r.GetString(1), r.GetString(2),
                    (ulong)r.GetFieldValue<NpgsqlLogSequenceNumber>(3), (ulong)r.GetFieldValue<NpgsqlLogSequenceNumber>(4), r.GetInt64(5), r.GetInt32(6)));
        }

        var reloads = registered.Where(f => f.Type == "full_reload").ToList();
        var ddlFiles = registered.Count(f => f.Type == "ddl");
        var reload = reloads.OrderByDescending(f => f.EndLsn).ThenByDescending(f => f.Id).FirstOrDefault();
        // A repair file (start_lsn = end_lsn = its point) goes after the streaming files ending at or before its point.
        var streaming = registered.Where(f => f.Type is "streaming" or "repair")
            .OrderBy(f => f.EndLsn).ThenBy(f => f.Type == "repair" ? 1 : 0).ThenBy(f => f.Path, StringComparer.Ordinal).ToList();
        var applied = streaming.Where(f => reload is null || f.EndLsn > reload.EndLsn).ToList();
        var ignored = streaming.Count - applied.Count;
        if (reload is not null) applied.Insert(0, reload);

        var contract = new List<string>();  // what breaks the output contract: reported as differences
        // Every registered data file is also read by DuckDB: the files before the newest reload for their row count only.
        using var duck = new DuckDbCheck(store);
        foreach (var skipped in registered.Where(f => f.Type is "streaming" or "full_reload" && !applied.Contains(f)))
        {
            var doc = await SchemaAsync(skipped.Path[..skipped.Path.LastIndexOf('/')]);
            contract.AddRange(await duck.CheckAsync(skipped.Path, skipped.Rows, [.. MetadataColumns, .. doc.Columns.Select(c => c.Name)], null));
        }

        await using var conn = await db.OpenConnectionAsync();
        var headerOption = conn.PostgreSqlVersion.Major >= 15 ? "HEADER MATCH" : "HEADER";
        await Exec(conn, $"""
            CREATE SCHEMA IF NOT EXISTS verify;
            DROP TABLE IF EXISTS {rebuilt}, {positions};
            CREATE UNLOGGED TABLE {positions} (_lsn pg_lsn, _seq bigint, _file text);
            """);

        var ops = new Dictionary<char, long>();
        var registryMismatches = new List<string>();
        var outOfOrder = new List<string>();
        var schemaChanges = new List<string>();
        var versions = new HashSet<int>();
        long rows = 0, toast = 0, stale = 0, staleAtReload = 0;
        List<Column>? current = null;   // the rebuilt table's columns, in order
        string? indexedKey = null;      // the columns of the rebuilt table's key index, when it has one
        (ulong Lsn, long Seq, string Path)? lastPosition = null;

        for (var n = 0; n < applied.Count; n++)
        {
            var file = applied[n];
            var isReload = file.Type == "full_reload";
            var folder = file.Path[..file.Path.LastIndexOf('/')];
            var doc = await SchemaAsync(folder);
            versions.Add(doc.SchemaVersion);
            if (doc.SchemaVersion != file.SchemaVersion)
                registryMismatches.Add($"{file.Path}: file_log says schema_version {file.SchemaVersion}, schema.yml says {doc.SchemaVersion}");
            if (doc.Table != qualified) contract.Add($"{folder}/schema.yml: table is '{doc.Table}', expected '{qualified}'");
            if (!doc.MetadataColumns.SequenceEqual(MetadataColumns))
                contract.Add($"{folder}/schema.yml: metadata_columns [{string.Join(", ", doc.MetadataColumns)}], the contract's are [{string.Join(", ", MetadataColumns)}]");
            var columns = doc.Columns.Select(c => new Column(c.Name, c.Type, c.Key, c.Nullable)).ToList();
            var metadata = MetadataColumns;

            // Load the file as it is, into a scratch table shaped from its own schema.yml; _line keeps the file's row order.
            var load = $"verify.\"load_{id}_{n}\"";
            var definitions = metadata.Select(m => $"{Sql.Ident(m)} {MetadataType(m)}").Concat(columns.Select(c => $"{Sql.Ident(c.Name)} {c.Type}"))
                .Append("_line bigint GENERATED ALWAYS AS IDENTITY");
            await Exec(conn, $"DROP TABLE IF EXISTS {load}; CREATE UNLOGGED TABLE {load} ({string.Join(", ", definitions)});");
            var list = string.Join(", ", metadata.Concat(columns.Select(c => c.Name)).Select(Sql.Ident));
            try
            {
                await using var stream = await store.OpenReadAsync(file.Path, default) ?? throw new FileNotFoundException(file.Path);
                using var csv = new StreamReader(new GZipStream(stream, CompressionMode.Decompress), Encoding.UTF8, false, 1 << 16);
                await using var copy = await conn.BeginTextImportAsync($"COPY {load} ({list}) FROM STDIN (FORMAT csv, {headerOption})");
                var buffer = new char[1 << 16];
                int read;
                while ((read = await csv.ReadAsync(buffer)) > 0) await copy.WriteAsync(buffer, 0, read);
            }
            catch (PostgresException e)
            {
                throw new InvalidDataException($"{file.Path} does not load with COPY ({list}) … (FORMAT csv, {headerOption}) as its schema.yml says: {e.MessageText} ({e.Where})", e);
            }

            // What the file holds, and whether it agrees with its registration.
            var fileOps = new Dictionary<char, long>();
            await using (var count = new NpgsqlCommand($"SELECT _op::text, count(*) FROM {load} GROUP BY 1", conn) { CommandTimeout = Timeout })
            await using (var r = await count.ExecuteReaderAsync())
                while (await r.ReadAsync())
                {
                    var op = r.IsDBNull(0) || r.GetString(0).Length == 0 ? '?' : r.GetString(0)[0];
                    fileOps[op] = fileOps.GetValueOrDefault(op) + r.GetInt64(1);
                    ops[op] = ops.GetValueOrDefault(op) + r.GetInt64(1);
                }
            var fileRows = fileOps.Values.Sum();
            rows += fileRows;
            if (fileRows != file.Rows) registryMismatches.Add($"{file.Path}: file_log says {file.Rows} row(s), the file has {fileRows}");
            contract.AddRange(await duck.CheckAsync(file.Path, file.Rows, [.. metadata, .. columns.Select(c => c.Name)],
                file.Rows <= DuckDbValueRows ? await LoadedTextAsync(conn, load, columns) : null));
            ulong? minLsn = null, maxLsn = null;
            long fileToast;
            await using (var stats = new NpgsqlCommand($"""
                SELECT min(_lsn), max(_lsn), count(*) FILTER (WHERE cardinality(_unchanged_toast) > 0),
                       count(*) FILTER (WHERE $1::pg_lsn IS NOT NULL AND _lsn <= $1::pg_lsn), count(*) FILTER (WHERE _lsn = $1::pg_lsn)
                FROM {load}
                """, conn) { CommandTimeout = Timeout })
            {
                stats.Parameters.Add(new() { Value = reload is null ? DBNull.Value : new NpgsqlLogSequenceNumber(reload.EndLsn), NpgsqlDbType = NpgsqlDbType.PgLsn });
                await using var r = await stats.ExecuteReaderAsync();
                await r.ReadAsync();
                if (!r.IsDBNull(0)) (minLsn, maxLsn) = ((ulong)r.GetFieldValue<NpgsqlLogSequenceNumber>(0), (ulong)r.GetFieldValue<NpgsqlLogSequenceNumber>(1));
                fileToast = r.GetInt64(2);
                toast += fileToast;
                if (!isReload) (stale, staleAtReload) = (stale + r.GetInt64(3), staleAtReload + r.GetInt64(4));
            }
            if (minLsn is not null && (minLsn < file.StartLsn || maxLsn > file.EndLsn))
                registryMismatches.Add($"{file.Path}: rows' _lsn {Lsn(minLsn.Value)}..{Lsn(maxLsn!.Value)} outside the registered {Lsn(file.StartLsn)}..{Lsn(file.EndLsn)}");

            if (isReload)
            {
                if (minLsn is not null && (minLsn != file.EndLsn || maxLsn != file.EndLsn))
                    registryMismatches.Add($"{file.Path}: reload rows' _lsn {Lsn(minLsn.Value)}..{Lsn(maxLsn!.Value)}, expected all {Lsn(file.EndLsn)}");
                if (file.StartLsn != file.EndLsn)
                    registryMismatches.Add($"{file.Path}: a reload registered from {Lsn(file.StartLsn)} to {Lsn(file.EndLsn)}, expected one LSN");
                foreach (var op in fileOps.Keys.Where(o => o != 'R'))
                    registryMismatches.Add($"{file.Path}: {fileOps[op]} row(s) with _op '{op}' in a reload file");
            }
            else
            {
                await using (var pos = new NpgsqlCommand($"INSERT INTO {positions} SELECT _lsn, _seq, $1 FROM {load}", conn) { CommandTimeout = Timeout })
                {
                    pos.Parameters.Add(new() { Value = file.Path });
                    await pos.ExecuteNonQueryAsync();
                }
                if (fileRows > 0)
                {
                    var (first, last) = await FirstAndLastAsync(conn, load);
                    if (lastPosition is { } previous && Compare(first, (previous.Lsn, previous.Seq)) <= 0)
                        outOfOrder.Add($"{file.Path} starts at {Lsn(first.Lsn)}:{first.Seq}, not after {previous.Path}'s last row at {Lsn(previous.Lsn)}:{previous.Seq}");
                    lastPosition = (last.Lsn, last.Seq, file.Path);
                }
            }

            // Shape the rebuilt table like this file's rows.
            if (current is null)
            {
                await Exec(conn, $"CREATE UNLOGGED TABLE {rebuilt} ({string.Join(", ", columns.Select(c => $"{Sql.Ident(c.Name)} {c.Type}"))})");
            }
            else
            {
                var changes = Evolve(current, columns);
                if (changes.Count > 0)
                {
                    if (indexedKey is not null) await Exec(conn, $"DROP INDEX IF EXISTS verify.{keyIndex}");
                    indexedKey = null;
                    foreach (var change in changes)
                    {
                        schemaChanges.Add($"before {file.Path}: {change}");
                        await Exec(conn, $"ALTER TABLE {rebuilt} {change}");
                    }
                }
            }
            current = columns;

            // Apply the rows.
            var names = columns.Select(c => Sql.Ident(c.Name)).ToList();
            var insertList = string.Join(", ", names);
            if (isReload)
            {
                await Exec(conn, $"INSERT INTO {rebuilt} ({insertList}) SELECT {insertList} FROM {load} WHERE _op = 'R'");
                await Exec(conn, $"ANALYZE {rebuilt}");
            }
            else if (fileOps.Keys.All(o => o is 'I' or 'T') && fileToast == 0)
            {
                var after = "";
                if (fileOps.ContainsKey('T'))
                {
                    var (lsn, seq) = await LastTruncateAsync(conn, load);
                    await Exec(conn, $"TRUNCATE {rebuilt}");
                    after = $" AND (_lsn, _seq) > ('{Lsn(lsn)}'::pg_lsn, {seq})";
                }
                await Exec(conn, $"INSERT INTO {rebuilt} ({insertList}) SELECT {insertList} FROM {load} WHERE _op = 'I'{after} ORDER BY _lsn, _seq");
            }
            else
            {
                var keys = columns.Where(c => c.Key).ToList();
                if (keys.Count == 0) keys = columns;   // no key: a row is all its columns
                var indexable = keys.Where(c => !c.Nullable).Select(c => Sql.Ident(c.Name)).ToList();
                var wanted = indexable.Count > 0 ? string.Join(", ", indexable) : null;
                if (wanted != indexedKey)
                {
                    if (indexedKey is not null) await Exec(conn, $"DROP INDEX IF EXISTS verify.{keyIndex}");
                    indexedKey = null;
                    if (wanted is not null)
                    {
                        try
                        {
                            await Exec(conn, $"CREATE INDEX {keyIndex} ON {rebuilt} ({wanted}); ANALYZE {rebuilt};");
                            indexedKey = wanted;
                        }
                        catch (PostgresException)
                        {
                            // A key type without a btree operator class: match by scanning.
                        }
                    }
                }
                try
                {
                    await Exec(conn, ApplyRowByRow(load, rebuilt, columns, keys, asText: false));
                }
                catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UndefinedFunction)
                {
                    // A key type without an equality operator (json, point, …): compare its text. The DO block is atomic.
                    await Exec(conn, ApplyRowByRow(load, rebuilt, columns, keys, asText: true));
                }
            }
            await Exec(conn, $"DROP TABLE {load}");
        }

        if (current is null)
        {
            // No file: an empty table with the live table's columns.
            var live = await ColumnsAsync(conn, source);
            await Exec(conn, $"CREATE UNLOGGED TABLE {rebuilt} ({string.Join(", ", live.Select(c => $"{Sql.Ident(c.Name)} {c.Type}"))})");
        }

        var duplicates = new List<string>();
        await using (var dup = new NpgsqlCommand($"SELECT _lsn::text || '/' || _seq || ' in ' || string_agg(_file, ', ') FROM {positions} GROUP BY _lsn, _seq HAVING count(*) > 1 LIMIT 10", conn) { CommandTimeout = Timeout })
        await using (var r = await dup.ExecuteReaderAsync())
            while (await r.ReadAsync()) duplicates.Add(r.GetString(0));
        await Exec(conn, $"DROP TABLE {positions}");

        var differences = await DifferencesAsync(conn, source, rebuilt);
        differences.InsertRange(0, contract);
        if (differences.Count > 0)
        {
            // What may explain them, for the failure message (only ever added to a list that is already non-empty).
            if (stale > 0)
                differences.Add($"note: {stale} row(s) of the streaming files applied after {reload!.Path} are at or before its LSN {Lsn(reload.EndLsn)} ({staleAtReload} at it)");
            differences.AddRange(outOfOrder.Select(o => "note: out of order: " + o));
            differences.AddRange(registryMismatches.Select(m => "note: registry: " + m));
        }
        return new Rebuild(qualified, applied.Count, rows, differences, duplicates, ops, toast, reloads.Count, ddlFiles, versions.Count)
        {
            Reload = reload?.Path,
            IgnoredFiles = ignored,
            StaleRows = stale,
            OutOfOrder = outOfOrder,
            RegistryMismatches = registryMismatches,
            SchemaChanges = schemaChanges,
        };
    }

    /// <summary>
    /// The ALTER TABLE actions that turn a table with the <paramref name="from"/> columns into one with the <paramref name="to"/>
    /// columns. Columns in both keep their relative order (a rename keeps its place, an added column comes last), so the
    /// columns found in only one of the lists are matched within the gaps between the shared ones: in order, an old column
    /// and a new column of the same type are a rename, an old one left over is dropped, a new one left over is added.
    /// A rename is told from a drop plus an add only by place and type: schema.yml carries no column identity.
    /// </summary>
    internal static List<string> Evolve(IReadOnlyList<(string Name, string Type)> from, IReadOnlyList<(string Name, string Type)> to)
    {
        var oldNames = from.Select(c => c.Name).ToHashSet(StringComparer.Ordinal);
        var newNames = to.Select(c => c.Name).ToHashSet(StringComparer.Ordinal);
        static Dictionary<int, List<(string Name, string Type)>> Gaps(IReadOnlyList<(string Name, string Type)> columns, HashSet<string> other)
        {
            var gaps = new Dictionary<int, List<(string, string)>>();
            var shared = 0;
            foreach (var c in columns)
            {
                if (other.Contains(c.Name)) shared++;
                else (gaps.TryGetValue(shared, out var g) ? g : gaps[shared] = []).Add(c);
            }
            return gaps;
        }
        var oldGaps = Gaps(from, newNames);
        var newGaps = Gaps(to, oldNames);

        var drops = new List<string>();
        var renames = new List<string>();
        var adds = new List<string>();
        foreach (var gap in oldGaps.Keys.Union(newGaps.Keys).Order())
        {
            var olds = oldGaps.GetValueOrDefault(gap) ?? [];
            var news = newGaps.GetValueOrDefault(gap) ?? [];
            var j = 0;
            foreach (var o in olds)
            {
                if (j < news.Count && SameType(o.Type, news[j].Type))
                    renames.Add($"RENAME COLUMN {Sql.Ident(o.Name)} TO {Sql.Ident(news[j++].Name)}");
                else
                    drops.Add($"DROP COLUMN {Sql.Ident(o.Name)}");
            }
            for (; j < news.Count; j++) adds.Add($"ADD COLUMN {Sql.Ident(news[j].Name)} {news[j].Type}");
        }
        var retypes = new List<string>();
        foreach (var (name, type) in to)
        {
            if (!oldNames.Contains(name)) continue;
            var old = from.First(c => c.Name == name);
            if (!SameType(old.Type, type)) retypes.Add($"ALTER COLUMN {Sql.Ident(name)} TYPE {type} USING {Sql.Ident(name)}::{type}");
        }
        return [.. drops, .. renames, .. retypes, .. adds];
    }

    private static List<string> Evolve(List<Column> from, List<Column> to) =>
        Evolve(from.Select(c => (c.Name, c.Type)).ToList(), to.Select(c => (c.Name, c.Type)).ToList());

    private static bool SameType(string a, string b) => string.Equals(a, b, StringComparison.Ordinal);

    /// <summary>A DO block applying the file's rows one by one, in (_lsn, _seq) order; U and D match on the key columns.</summary>
    private static string ApplyRowByRow(string load, string rebuilt, List<Column> columns, List<Column> keys, bool asText)
    {
        var names = columns.Select(c => Sql.Ident(c.Name)).ToList();
        string Match(string alias) => string.Join(" AND ", keys.Select(k =>
        {
            var name = Sql.Ident(k.Name);
            return asText ? $"{alias}.{name}::text IS NOT DISTINCT FROM s.{name}::text"
                : k.Nullable ? $"{alias}.{name} IS NOT DISTINCT FROM s.{name}"
                : $"{alias}.{name} = s.{name}";
        }));
        var set = string.Join(", ", columns.Select(c =>
            $"{Sql.Ident(c.Name)} = CASE WHEN {Literal(c.Name)} = ANY (coalesce(s._unchanged_toast, '{{}}')) THEN r.{Sql.Ident(c.Name)} ELSE s.{Sql.Ident(c.Name)} END"));
        return $"""
            DO $apply$
            DECLARE s record; d record; d_lsn pg_lsn; d_seq bigint;
            BEGIN
              FOR s IN SELECT * FROM {load} ORDER BY _lsn, _seq LOOP
                IF s._op = 'I' AND cardinality(s._unchanged_toast) > 0 THEN
                  -- The new half of a key change: unchanged values come from the row its D (same _lsn, preceding _seq) removed.
                  IF d_lsn IS DISTINCT FROM s._lsn OR d_seq IS DISTINCT FROM s._seq - 1 THEN
                    RAISE EXCEPTION 'I at %/% names unchanged TOAST columns % without a D just before it', s._lsn, s._seq, s._unchanged_toast;
                  END IF;
                  INSERT INTO {rebuilt} ({string.Join(", ", names)}) VALUES ({string.Join(", ", columns.Select(c =>
                      $"CASE WHEN {Literal(c.Name)} = ANY (s._unchanged_toast) THEN d.{Sql.Ident(c.Name)} ELSE s.{Sql.Ident(c.Name)} END"))});
                ELSIF s._op = 'I' THEN
                  INSERT INTO {rebuilt} ({string.Join(", ", names)}) VALUES ({string.Join(", ", names.Select(n => "s." + n))});
                ELSIF s._op = 'U' THEN
                  UPDATE {rebuilt} r SET {set} WHERE {Match("r")};
                ELSIF s._op = 'D' THEN
                  DELETE FROM {rebuilt} r WHERE r.ctid = (SELECT r2.ctid FROM {rebuilt} r2 WHERE {Match("r2")} LIMIT 1) RETURNING * INTO d;
                  d_lsn := s._lsn;
                  d_seq := s._seq;
                ELSIF s._op = 'T' THEN
                  DELETE FROM {rebuilt};
                ELSE
                  RAISE EXCEPTION 'unknown _op % at %/%', s._op, s._lsn, s._seq;
                END IF;
              END LOOP;
            END
            $apply$;
            """;
    }

    private static string MetadataType(string column) => column switch
    {
        "_lsn" => "pg_lsn",
        "_seq" => "bigint",
        "_op" => "text",
        "_commit_ts" => "timestamptz",
        "_xid" => "bigint",
        "_unchanged_toast" => "text[]",
        _ => "text",
    };

    private static async Task<((ulong Lsn, long Seq) First, (ulong Lsn, long Seq) Last)> FirstAndLastAsync(NpgsqlConnection conn, string load)
    {
        await using var cmd = new NpgsqlCommand($"""
            (SELECT _lsn, _seq FROM {load} ORDER BY _lsn, _seq LIMIT 1) UNION ALL (SELECT _lsn, _seq FROM {load} ORDER BY _lsn DESC, _seq DESC LIMIT 1)
            """, conn) { CommandTimeout = Timeout };
        await using var r = await cmd.ExecuteReaderAsync();
        var found = new List<(ulong, long)>();
        while (await r.ReadAsync()) found.Add(((ulong)r.GetFieldValue<NpgsqlLogSequenceNumber>(0), r.GetInt64(1)));
        return (found[0], found[1]);
    }

    private static async Task<(ulong Lsn, long Seq)> LastTruncateAsync(NpgsqlConnection conn, string load)
    {
        await using var cmd = new NpgsqlCommand($"SELECT _lsn, _seq FROM {load} WHERE _op = 'T' ORDER BY _lsn DESC, _seq DESC LIMIT 1", conn) { CommandTimeout = Timeout };
        await using var r = await cmd.ExecuteReaderAsync();
        await r.ReadAsync();
        return ((ulong)r.GetFieldValue<NpgsqlLogSequenceNumber>(0), r.GetInt64(1));
    }

    private static int Compare((ulong Lsn, long Seq) a, (ulong Lsn, long Seq) b) =>
        a.Lsn != b.Lsn ? a.Lsn.CompareTo(b.Lsn) : a.Seq.CompareTo(b.Seq);

    private static string Lsn(ulong lsn) => new NpgsqlLogSequenceNumber(lsn).ToString();

    /// <summary>The live table's columns (those pgoutput sends: not dropped, not generated) with their types, in attnum order.</summary>
    private static async Task<List<(string Name, string Type)>> ColumnsAsync(NpgsqlConnection conn, string relation)
    {
        var list = new List<(string, string)>();
        await using var cmd = new NpgsqlCommand("""
            SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
            WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped AND attgenerated = '' ORDER BY attnum
            """, conn);
        cmd.Parameters.Add(new() { Value = relation });
        await using var r = await cmd.ExecuteReaderAsync();
        while (await r.ReadAsync()) list.Add((r.GetString(0), r.GetString(1)));
        return list;
    }

    private static async Task<List<string>> DifferencesAsync(NpgsqlConnection conn, string source, string rebuilt)
    {
        var list = new List<string>();
        var live = await ColumnsAsync(conn, source);
        var rebuiltColumns = (await ColumnsAsync(conn, rebuilt)).ToDictionary(c => c.Name, c => c.Type, StringComparer.Ordinal);
        foreach (var (name, type) in live)
        {
            if (!rebuiltColumns.TryGetValue(name, out var rebuiltType)) list.Add($"column {name} ({type}) is not in the rebuilt table");
            else if (rebuiltType != type) list.Add($"column {name} is {type} in the live table, {rebuiltType} in the rebuilt table");
        }
        foreach (var name in rebuiltColumns.Keys.Where(n => live.All(c => c.Name != n)))
            list.Add($"column {name} ({rebuiltColumns[name]}) is in the rebuilt table, not in the live table");

        // Rows as text, the live table's columns picked by name from both (their order may differ after drops and adds).
        var common = live.Where(c => rebuiltColumns.ContainsKey(c.Name)).Select(c => Sql.Ident(c.Name)).ToList();
        string Row(string alias) => common.Count == 0 ? "'()'" : $"ROW({string.Join(", ", common.Select(c => $"{alias}.{c}"))})::text";
        await using var cmd = new NpgsqlCommand($"""
            (SELECT 'missing from files: ' || x.row_text FROM (SELECT {Row("src_row_")} AS row_text FROM {source} src_row_ EXCEPT ALL SELECT {Row("reb_row_")} FROM {rebuilt} reb_row_) x LIMIT 10)
            UNION ALL
            (SELECT 'extra in files: ' || y.row_text FROM (SELECT {Row("reb_row_")} AS row_text FROM {rebuilt} reb_row_ EXCEPT ALL SELECT {Row("src_row_")} FROM {source} src_row_) y LIMIT 10)
            """, conn) { CommandTimeout = Timeout };
        await using var r = await cmd.ExecuteReaderAsync();
        while (await r.ReadAsync()) list.Add(r.GetString(0));
        return list;
    }

    private async Task<SchemaYaml> SchemaAsync(string folder)
    {
        var path = $"{folder}/schema.yml";
        return SchemaYaml.Parse(await ReadTextAsync(path), path);
    }

    /// <summary>
    /// The rows COPY loaded, in file order, as PostgreSQL's text output of each value: what the file's text must be.
    /// concat() calls the type's output function (a cast to text need not: bool::text is 'true', its output 't').
    /// _commit_ts is the product's UTC form (<c>2026-11-23 13:12:05.5+00</c>) whatever the session's time zone.
    /// </summary>
    private static async Task<List<string?[]>> LoadedTextAsync(NpgsqlConnection conn, string load, List<Column> columns)
    {
        var select = MetadataColumns.Select(m => m == "_commit_ts" ? "(_commit_ts AT TIME ZONE 'UTC')::text || '+00'" : $"{m}::text")
            .Concat(columns.Select(c => $"CASE WHEN {Sql.Ident(c.Name)} IS NOT NULL THEN concat({Sql.Ident(c.Name)}) END"));
        await using var cmd = new NpgsqlCommand($"SELECT {string.Join(", ", select)} FROM {load} ORDER BY _line", conn) { CommandTimeout = Timeout };
        await using var r = await cmd.ExecuteReaderAsync();
        var rows = new List<string?[]>();
        while (await r.ReadAsync())
        {
            var row = new string?[r.FieldCount];
            for (var i = 0; i < row.Length; i++) row[i] = r.IsDBNull(i) ? null : r.GetString(i);
            rows.Add(row);
        }
        return rows;
    }

    private async Task<string> ReadTextAsync(string path)
    {
        await using var s = await store.OpenReadAsync(path, default) ?? throw new FileNotFoundException(path);
        using var reader = new StreamReader(s, Encoding.UTF8);
        return await reader.ReadToEndAsync();
    }

    private static string Literal(string s) => "'" + s.Replace("'", "''") + "'";

    private static async Task Exec(NpgsqlConnection conn, string sql)
    {
        await using var cmd = new NpgsqlCommand(sql, conn) { CommandTimeout = Timeout };
        await cmd.ExecuteNonQueryAsync();
    }
}
