namespace PgEgress.Tests.Health;

/// <summary>The tests' exposition-format reader refuses what the format does not allow, so a scrape it accepts is well-formed.</summary>
public sealed class PrometheusTextTests
{
    [Theory]
    [InlineData("9bad_name 1")]
    [InlineData("ok{9label=\"x\"} 1")]
    [InlineData("ok{label=x} 1")]
    [InlineData("ok{label=\"unterminated} 1")]
    [InlineData("ok{label=\"bad \\t escape\"} 1")]
    [InlineData("ok one")]
    [InlineData("# TYPE ok counter\n# TYPE ok counter\nok 1")]
    [InlineData("# TYPE ok flux\nok 1")]
    [InlineData("# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1")]
    [InlineData("# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1")]
    public void Rejects_text_off_the_grammar(string text) => Assert.Throws<FormatException>(() => PrometheusText.Parse(text));

    [Fact]
    public void Reads_families_samples_labels_and_special_values()
    {
        var families = PrometheusText.Parse("""
            # HELP c_total Things \\ counted.
            # TYPE c_total counter
            c_total{a="x\"y",b="line\nfeed"} 3 1700000000000
            # TYPE h_seconds histogram
            h_seconds_bucket{le="0.5"} 1
            h_seconds_bucket{le="+Inf"} 2
            h_seconds_sum 1.25
            h_seconds_count 2
            g NaN
            """);
        Assert.Equal("counter", families["c_total"].Type);
        Assert.Equal("Things \\ counted.", families["c_total"].Help);
        var c = Assert.Single(families["c_total"].Samples);
        Assert.Equal(("x\"y", "line\nfeed", 3.0), (c.Labels["a"], c.Labels["b"], c.Value));
        Assert.Equal(4, families["h_seconds"].Samples.Count);
        Assert.True(double.IsNaN(Assert.Single(families["g"].Samples).Value));
    }
}
