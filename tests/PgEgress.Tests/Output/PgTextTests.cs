using PgEgress.Core.Output;

namespace PgEgress.Tests.Output;

public class PgTextTests
{
    [Theory]
    [InlineData(0x16B374D848UL, "16/B374D848")]
    [InlineData(0x1603380UL, "0/1603380")]
    [InlineData(0UL, "0/0")]
    public void Lsn_round_trips_through_the_pg_lsn_text_form(ulong value, string text)
    {
        Assert.Equal(text, PgText.Lsn(value));
        Assert.Equal(value, PgText.ParseLsn(text));
    }

    [Theory]
    [InlineData("16")]
    [InlineData("x/1")]
    [InlineData("/1")]
    public void A_malformed_lsn_is_rejected_with_the_expected_form(string text)
    {
        var e = Assert.Throws<FormatException>(() => PgText.ParseLsn(text));
        Assert.Contains("16/B374D848", e.Message);
    }

    [Fact]
    public void Timestamps_print_like_timestamptz_output_in_utc()
    {
        Assert.Equal("2026-11-23 14:12:05.1234+00", PgText.TimestampTz(new DateTime(2026, 11, 23, 14, 12, 5, 123, 400, DateTimeKind.Utc)));
        Assert.Equal("2026-11-23 14:12:05+00", PgText.TimestampTz(new DateTime(2026, 11, 23, 14, 12, 5, DateTimeKind.Utc)));
    }

    [Fact]
    public void Text_arrays_quote_elements_as_array_out_does()
    {
        Assert.Equal("{body}", PgText.TextArray(["body"]));
        Assert.Equal("{a,\"my col\",\"x,y\",\"q\\\"\",\"\",\"null\"}", PgText.TextArray(["a", "my col", "x,y", "q\"", "", "null"]));
    }
}
