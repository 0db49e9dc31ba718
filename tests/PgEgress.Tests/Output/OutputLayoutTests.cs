using PgEgress.Core.Domain;
using PgEgress.Core.Output;

namespace PgEgress.Tests.Output;

public class OutputLayoutTests
{
    [Fact]
    public void Batch_names_are_the_utc_window_start()
    {
        Assert.Equal("20261123T141000Z", OutputLayout.Batch(new DateTime(2026, 11, 23, 14, 10, 0, DateTimeKind.Utc)));
    }

    [Theory]
    [InlineData("public", "orders", "public.orders")]
    [InlineData("my.schema", "a/b", "my%2Eschema.a%2Fb")]
    [InlineData("Sales", "Order Items", "Sales.Order%20Items")]
    [InlineData("x", "..", "x.%2E%2E")]
    public void Table_folders_are_one_safe_unambiguous_segment(string schema, string table, string folder)
    {
        Assert.Equal(folder, OutputLayout.TableFolder(new TableName(schema, table)));
    }

    [Fact]
    public void A_single_part_has_the_plain_name_and_several_are_numbered()
    {
        Assert.Equal("streaming.csv.gz", OutputLayout.StreamingFile(1, 1));
        Assert.Equal("streaming-0002.csv.gz", OutputLayout.StreamingFile(2, 3));
    }
}
