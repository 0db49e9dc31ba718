using System.Text;
using PgEgress.Core.Output;

namespace PgEgress.Tests.Output;

public class PgCsvWriterTests
{
    private static string Write(Action<PgCsvWriter> write)
    {
        var ms = new MemoryStream();
        using (var w = new PgCsvWriter(ms)) write(w);
        return Encoding.UTF8.GetString(ms.ToArray());
    }

    [Fact]
    public void Null_is_empty_and_unquoted_while_the_empty_string_is_quoted()
    {
        var csv = Write(w => { w.WriteNull(); w.WriteValue(""); w.WriteNull(); w.EndRow(); });
        Assert.Equal(",\"\",\n", csv);
    }

    [Theory]
    [InlineData("plain", "plain")]
    [InlineData("a,b", "\"a,b\"")]
    [InlineData("say \"hi\"", "\"say \"\"hi\"\"\"")]
    [InlineData("line1\nline2", "\"line1\nline2\"")]
    [InlineData("cr\rhere", "\"cr\rhere\"")]
    [InlineData("tab\there", "tab\there")]
    [InlineData("back\\slash", "back\\slash")]
    [InlineData("\\.", "\"\\.\"")]
    [InlineData("ünïcødé ✓", "ünïcødé ✓")]
    public void Values_are_quoted_only_where_PostgreSQL_needs_it(string value, string expected)
    {
        Assert.Equal(expected + "\n", Write(w => { w.WriteValue(value); w.EndRow(); }));
    }

    [Fact]
    public void Counts_the_bytes_it_writes()
    {
        var ms = new MemoryStream();
        using var w = new PgCsvWriter(ms);
        w.WriteValue("a,b");
        w.WriteNull();
        w.EndRow();
        w.Flush();
        Assert.Equal(ms.Length, w.BytesWritten);
    }
}
