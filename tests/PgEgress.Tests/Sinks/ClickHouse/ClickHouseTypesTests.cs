using System.Text;
using PgEgress.Core.Sinks.ClickHouse;
using PgEgress.Core.Staging;

namespace PgEgress.Tests.Sinks.ClickHouse;

/// <summary>The type mapping and each value's TabSeparated text, for the cases the end-to-end test's UTC cluster does not produce.</summary>
public sealed class ClickHouseTypesTests
{
    private static ColumnSchema Column(uint oid, int typmod = -1) => new("c", oid, typmod, "t", Nullable: true, IsKey: false);

    private static string? Tsv(ColumnSchema column, string text, out string? problem) =>
        ClickHouseTypes.Tsv(column, new TupleValue(ValueKind.Text, Encoding.UTF8.GetBytes(text)), out problem);

    [Theory]
    [InlineData("2026-03-01 10:00:00+00", "2026-03-01 10:00:00")]
    [InlineData("2026-03-01 10:00:00.999999+02", "2026-03-01 08:00:00")]
    [InlineData("2026-03-01 01:00:00-03", "2026-03-01 04:00:00")]
    [InlineData("2026-03-01 10:00:00+05:30", "2026-03-01 04:30:00")]
    [InlineData("1970-01-01 00:00:05.5+00:00:05", "1970-01-01 00:00:00")]
    public void A_timestamptz_becomes_UTC_seconds(string postgres, string clickHouse)
    {
        Assert.Equal(clickHouse, Tsv(Column(1184), postgres, out var problem));
        Assert.Null(problem);
    }

    [Theory]
    [InlineData(1184, -1, "infinity")]
    [InlineData(1184, -1, "1969-12-31 23:59:59+00")]
    [InlineData(1184, -1, "2106-01-01 00:00:00+00")]
    [InlineData(1184, -1, "2000-01-01 00:00:00+00 BC")]
    [InlineData(1700, (10 << 16) + 2 + 4, "NaN")]
    public void A_value_the_ClickHouse_type_cannot_hold_is_a_problem_not_a_guess(uint oid, int typmod, string postgres)
    {
        Assert.Null(Tsv(Column(oid, typmod), postgres, out var problem));
        Assert.Contains(postgres.Split(' ')[0], problem);
    }

    [Theory]
    [InlineData(21, -1, "Int16")]
    [InlineData(23, -1, "Int32")]
    [InlineData(20, -1, "Int64")]
    [InlineData(700, -1, "Float32")]
    [InlineData(701, -1, "Float64")]
    [InlineData(16, -1, "UInt8")]
    [InlineData(1184, -1, "DateTime('UTC')")]
    [InlineData(1700, (10 << 16) + 2 + 4, "Decimal(10, 2)")]
    [InlineData(1700, (38 << 16) + 0 + 4, "Decimal(38, 0)")]
    [InlineData(1700, (39 << 16) + 2 + 4, "String")]
    [InlineData(1700, -1, "String")]
    [InlineData(1114, -1, "String")]
    [InlineData(3802, -1, "String")]
    [InlineData(1007, -1, "String")]
    public void The_type_mapping(uint oid, int typmod, string clickHouse) => Assert.Equal(clickHouse, ClickHouseTypes.Of(Column(oid, typmod)));

    [Fact]
    public void Text_is_escaped_for_TabSeparated_and_NULL_is_backslash_N()
    {
        Assert.Equal("a\\tb\\nc\\\\d\\re", Tsv(Column(25), "a\tb\nc\\d\re", out _));
        Assert.Equal("\\N", ClickHouseTypes.Tsv(Column(25), TupleValue.Null, out _));
        Assert.Equal("1", Tsv(Column(16), "t", out _));
        Assert.Equal("0", Tsv(Column(16), "f", out _));
    }
}
