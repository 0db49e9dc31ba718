using System.Net.Http.Headers;
using System.Text;
using System.Text.RegularExpressions;
using PgEgress.Core.Configuration;

namespace PgEgress.Core.Sinks.ClickHouse;

/// <summary>
/// ClickHouse's HTTP interface, spoken directly (the official .NET driver sends settings that older servers refuse):
/// the statement in the query string, data in the body, credentials in X-ClickHouse-User/Key. Success is HTTP 200 only;
/// nothing else counts as accepted. Async inserts are never asked for, so a 200 means the rows are written.
/// </summary>
public sealed partial class ClickHouseHttp(SinkOptions options, HttpClient http)
{
    [GeneratedRegex(@"Code: (\d+)")]
    private static partial Regex ErrorCode();

    /// <summary>Runs <paramref name="query"/> with <paramref name="data"/> (TabSeparated rows for an INSERT) as the body; returns the answer.</summary>
    public async Task<string> ExecuteAsync(string query, byte[]? data, CancellationToken ct)
    {
        using var attempt = CancellationTokenSource.CreateLinkedTokenSource(ct);
        attempt.CancelAfter(options.Timeout);
        var url = $"{options.Url.TrimEnd('/')}/?query={Uri.EscapeDataString(query)}";
        using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new ByteArrayContent(data ?? []) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("text/tab-separated-values") { CharSet = "utf-8" };
        request.Headers.Add("X-ClickHouse-User", options.User);
        if (options.Password.Length > 0) request.Headers.Add("X-ClickHouse-Key", options.Password);
        try
        {
            using var response = await http.SendAsync(request, attempt.Token);
            var body = await response.Content.ReadAsStringAsync(attempt.Token);
            if ((int)response.StatusCode == 200) return body;
            var code = ErrorCode().Match(body) is { Success: true } m ? int.Parse(m.Groups[1].Value) : 0;
            throw new ClickHouseException(code, (int)response.StatusCode, $"ClickHouse answered {(int)response.StatusCode}: {Shorten(body)}");
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new TimeoutException($"ClickHouse at {options.Url} did not answer within {options.Timeout}");
        }
    }

    private static string Shorten(string body)
    {
        var line = body.ReplaceLineEndings(" ").Trim();
        return line.Length <= 500 ? line : line[..500] + "…";
    }

    /// <summary>An identifier in backquotes, as ClickHouse escapes it.</summary>
    public static string Quote(string name)
    {
        var b = new StringBuilder("`");
        foreach (var c in name) b.Append(c is '`' or '\\' ? $"\\{c}" : c.ToString());
        return b.Append('`').ToString();
    }
}
