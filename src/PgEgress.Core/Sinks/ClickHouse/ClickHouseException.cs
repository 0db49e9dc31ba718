namespace PgEgress.Core.Sinks.ClickHouse;

/// <summary>ClickHouse answered a request with an error: its exception code (0 when the body names none) and text.</summary>
public sealed class ClickHouseException(int code, int status, string message) : InvalidOperationException(message)
{
    /// <summary>The server's exception code ("Code: 60, e.displayText() = …").</summary>
    public int Code { get; } = code;

    public int HttpStatus { get; } = status;

    /// <summary>
    /// Errors of the server or the sink's account rather than of one table (authentication, unknown database, limits,
    /// timeouts): the whole sink waits and retries instead of setting a table aside.
    /// </summary>
    public bool IsSinkWide => Code is 0 or 81 or 159 or 192 or 193 or 194 or 195 or 202 or 209 or 210 or 241 or 252 or 516 || HttpStatus is 401 or 403 or 502 or 503 or 504;
}
