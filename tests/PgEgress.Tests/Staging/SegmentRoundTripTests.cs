using System.Security.Cryptography;
using System.Text;
using PgEgress.Core.Staging;

namespace PgEgress.Tests.Staging;

public sealed class SegmentRoundTripTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pgegress-seg-").FullName;

    private static readonly RelationSchema Orders = new(16384, "public", "orders", 'd',
        [new ColumnSchema("id", 23, -1, "integer", false, true), new ColumnSchema("note", 25, -1, "text", true, false)]);

    private static void Text(SegmentWriter w, string value)
    {
        var bytes = Encoding.UTF8.GetBytes(value);
        w.Open.StartText(bytes.Length);
        w.Open.ValueSink.Write(bytes);
    }

    private static string? Value(TupleValue v) => v.Kind switch
    {
        ValueKind.Text => Encoding.UTF8.GetString(v.Text!),
        ValueKind.Null => null,
        _ => "<unchanged>",
    };

    [Fact]
    public void Committed_transactions_read_back_in_order_and_an_abandoned_one_leaves_no_trace()
    {
        var spool = Path.Combine(_dir, "a.seg");
        using (var w = new SegmentWriter(spool, "slot1", 100, _dir, transactionMemoryLimit: 64))
        {
            w.Open.AddRelation(Orders);
            w.Open.StartInsert(Orders);
            w.Open.StartTuple(2);
            Text(w, "1");
            Text(w, new string('x', 500)); // past the memory limit: spills to a file
            w.CommitTransaction(new TransactionInfo(200, 190, 7, new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc)));

            w.Open.StartDelete(Orders, (byte)'K');
            w.Open.StartTuple(2);
            Text(w, "1");
            w.Open.WriteNull();
            w.AbandonTransaction();

            w.Open.StartUpdate(Orders, (byte)'O');
            w.Open.StartTuple(2);
            Text(w, "1");
            Text(w, "old");
            w.Open.StartTuple(2);
            Text(w, "1");
            w.Open.WriteUnchangedToast();
            w.Open.WriteTruncate([Orders], 0);
            w.CommitTransaction(new TransactionInfo(300, 290, 8, new DateTime(2026, 1, 1, 0, 0, 1, DateTimeKind.Utc)));
            w.Finish();
            Assert.Equal((2, 3L, 300UL), (w.TransactionCount, w.ChangeCount, w.EndLsn));
        }

        var sha = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(spool)));
        using var r = new SegmentReader(File.OpenRead(spool), "a.seg", sha);
        Assert.Equal(("slot1", 100UL), (r.Slot, r.StartLsn));

        Assert.True(r.NextTransaction(out var t1));
        Assert.Equal((200UL, 7U), (t1.EndLsn, t1.Xid));
        Assert.True(r.NextChange(out var insert));
        Assert.Equal(ChangeKind.Insert, insert.Kind);
        Assert.Equal("public.orders", insert.Relation!.QualifiedName);
        Assert.Equal(["1", new string('x', 500)], insert.NewRow!.Select(Value));
        Assert.False(r.NextChange(out _));

        Assert.True(r.NextTransaction(out var t2));
        Assert.Equal(300UL, t2.EndLsn);
        Assert.True(r.NextChange(out var update));
        Assert.Equal(["1", "old"], update.OldRow!.Select(Value));
        Assert.False(update.OldIsKeyOnly);
        Assert.Equal(["1", "<unchanged>"], update.NewRow!.Select(Value));
        Assert.True(r.NextChange(out var truncate));
        Assert.Equal(ChangeKind.Truncate, truncate.Kind);
        Assert.Equal("orders", Assert.Single(truncate.Truncated!).Name);
        Assert.False(r.NextChange(out _));
        Assert.False(r.NextTransaction(out _));
    }

    [Fact]
    public void A_segment_whose_bytes_do_not_match_the_registry_is_refused()
    {
        var spool = Path.Combine(_dir, "b.seg");
        using (var w = new SegmentWriter(spool, "slot1", 0, _dir))
        {
            w.Open.StartInsert(Orders);
            w.Open.StartTuple(2);
            Text(w, "1");
            w.Open.WriteNull();
            w.CommitTransaction(new TransactionInfo(10, 5, 1, DateTime.UnixEpoch));
            w.Finish();
        }
        using var r = new SegmentReader(File.OpenRead(spool), "b.seg", new string('0', 64));
        Assert.True(r.NextTransaction(out _));
        while (r.NextChange(out _)) { }
        var e = Assert.Throws<InvalidDataException>(() => r.NextTransaction(out _));
        Assert.Contains("sha256", e.Message);
    }

    [Fact]
    public void A_truncated_segment_is_refused()
    {
        var spool = Path.Combine(_dir, "c.seg");
        using (var w = new SegmentWriter(spool, "slot1", 0, _dir))
        {
            for (var i = 1; i <= 50; i++)
            {
                w.Open.StartInsert(Orders);
                w.Open.StartTuple(2);
                Text(w, i.ToString());
                Text(w, Convert.ToHexString(RandomNumberGenerator.GetBytes(64)));
                w.CommitTransaction(new TransactionInfo((ulong)i * 10, (ulong)i * 10 - 5, (uint)i, DateTime.UnixEpoch));
            }
            w.Finish();
        }
        var bytes = File.ReadAllBytes(spool);
        Assert.ThrowsAny<Exception>(() =>
        {
            using var r = new SegmentReader(new MemoryStream(bytes[..(bytes.Length / 2)]), "c.seg", null);
            while (r.NextTransaction(out _)) while (r.NextChange(out _)) { }
        });
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
