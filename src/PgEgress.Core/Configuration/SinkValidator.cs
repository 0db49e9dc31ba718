using PgEgress.Core.Domain;
using System.Text.RegularExpressions;
using Npgsql;

namespace PgEgress.Core.Configuration;

/// <summary>Checks one sink's settings; each problem names the sink and the setting.</summary>
public static partial class SinkValidator
{
    // \z, not $: $ also matches before a final line break, and a value read from a secret file often ends with one.
    [GeneratedRegex(@"^[A-Za-z0-9_-]{1,63}\z")]
    private static partial Regex SinkName();

    // An HTTP header name: RFC 9110 token characters.
    [GeneratedRegex(@"^[!#$%&'*+.^_`|~0-9A-Za-z-]+\z")]
    private static partial Regex HeaderName();

    // A ClickHouse database name that needs no quoting anywhere.
    [GeneratedRegex(@"^[A-Za-z_][A-Za-z0-9_]{0,62}\z")]
    private static partial Regex Identifier();

    // The form Hook0 and every UUID parser accept (Guid.TryParse would also take braces, parentheses or surrounding blanks, sent as they are).
    [GeneratedRegex(@"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\z")]
    private static partial Regex Uuid();

    /// <summary>Headers the HTTP sink writes itself: a fixed header of the same name would be dropped or sent twice.</summary>
    private static readonly HashSet<string> OwnHeaders = new(StringComparer.OrdinalIgnoreCase)
    {
        "Content-Type", "Content-Length", "Content-Encoding", "Transfer-Encoding", "Host", "Connection",
        "webhook-id", "webhook-timestamp", "webhook-signature",
    };

    /// <param name="own">Where this process's API listens: a sink aimed at it is refused.</param>
    public static void Validate(string name, SinkOptions sink, ListenAddresses own, List<string> errors)
    {
        var s = $"{PgEgressOptions.SectionName}:Sinks:{Printable(name)}";
        if (!SinkName().IsMatch(name))
            errors.Add($"{s}: the sink name must be 1 to 63 letters, digits, '_' or '-'");
        if (sink.Kind is null)
        {
            errors.Add($"{s}:Kind is required: Http, Hook0, Postgres or ClickHouse");
            return;
        }
        // The configuration binder turns a number ("7") into an enum value that is none of the kinds.
        if (!Enum.IsDefined(sink.Kind.Value))
        {
            errors.Add($"{s}:Kind '{sink.Kind}' is not a sink kind: use Http, Hook0, Postgres or ClickHouse");
            return;
        }
        if (sink.Workers is < 1 or > 64) errors.Add($"{s}:Workers must be between 1 and 64 (got {sink.Workers})");
        foreach (var table in sink.Tables)
            if (!TableName.TryParse(table, out _, out var problem))
                errors.Add($"{s}:Tables: {Printable(problem)}");
        foreach (var op in sink.Operations)
            if (Sinks.SinkFilter.OpOf(op) == '?')
                errors.Add($"{s}:Operations has '{Printable(op)}'; use insert, update, delete or truncate");
        if (sink.Timeout <= TimeSpan.Zero || sink.Timeout > TimeSpan.FromMinutes(10))
            errors.Add($"{s}:Timeout must be between 00:00:00.001 and 00:10:00 (got {sink.Timeout})");
        if (sink.MaxRetries < 1) errors.Add($"{s}:MaxRetries must be at least 1");
        if (sink.Retries is < 0) errors.Add($"{s}:Retries must be 0 or more (got {sink.Retries}); leave it unset to retry until delivered");
        if (sink.MaxRequestsPerSecond is { } rate && (!double.IsFinite(rate) || rate <= 0 || rate > 1_000_000))
            errors.Add($"{s}:MaxRequestsPerSecond must be a positive number of requests per second, at most 1000000 (got {rate}); leave it unset for no limit");
        else if (sink.MaxRequestsPerSecond is not null && sink.Kind is SinkKind.Postgres or SinkKind.ClickHouse)
            errors.Add($"{s}:MaxRequestsPerSecond is an Http and Hook0 setting; a {sink.Kind} sink applies one transaction at a time");
        if (sink.RetryDelay <= TimeSpan.Zero || sink.MaxRetryDelay < sink.RetryDelay)
            errors.Add($"{s}:RetryDelay must be positive and at most MaxRetryDelay");

        if (sink.Kind != SinkKind.Http && (sink.Format is not null || sink.EventFormat is not null))
            errors.Add($"{s}:Format and EventFormat are Http settings; a {sink.Kind} sink has a payload of its own");

        switch (sink.Kind)
        {
            case SinkKind.Http:
                if (CheckUrl(s, sink.Url, "AuthHeaderName and AuthHeaderValue (e.g. Authorization: Basic …)", errors) is { } url) CheckNotOwnApi(s, url, own, errors);
                if (sink.Method.ToUpperInvariant() is not ("POST" or "PUT"))
                    errors.Add($"{s}:Method must be POST or PUT (got '{Printable(sink.Method)}')");
                if (sink.AuthHeaderName.Length > 0 && !HeaderName().IsMatch(sink.AuthHeaderName))
                    errors.Add($"{s}:AuthHeaderName '{Printable(sink.AuthHeaderName)}' is not a valid HTTP header name");
                else if (OwnHeaders.Contains(sink.AuthHeaderName))
                    errors.Add($"{s}:AuthHeaderName '{sink.AuthHeaderName}' is a header the sink sets itself; use another header");
                if (sink.AuthHeaderName.Length > 0 && sink.AuthHeaderValue.Length == 0)
                    errors.Add($"{s}:AuthHeaderValue is required when AuthHeaderName is set");
                if (sink.AuthHeaderValue.Length > 0 && sink.AuthHeaderName.Length == 0)
                    errors.Add($"{s}:AuthHeaderName is required when AuthHeaderValue is set");
                // .NET refuses to send other characters (an HttpRequestException, which would be retried for ever).
                if (!IsHeaderValue(sink.AuthHeaderValue))
                    errors.Add($"{s}:AuthHeaderValue must be printable ASCII (no line breaks or control characters)");
                if (sink.Secret.Length > 0 && !IsWebhookSecret(sink.Secret))
                    errors.Add($"{s}:Secret must be a Standard Webhooks secret: whsec_ followed by base64 of 24 to 64 random bytes");
                foreach (var (setting, format) in new[] { ("Format", sink.Format), ("EventFormat", sink.EventFormat) })
                    if (format is { } f && !Enum.IsDefined(f)) errors.Add($"{s}:{setting} '{f}' is not a format: use Json or Xml");
                if (sink.Format is { } a && sink.EventFormat is { } b && a != b)
                    errors.Add($"{s}:Format ({a}) and EventFormat ({b}) are two names of one setting and disagree; set one");
                if (sink.BatchMaxEvents is < 1 or > 1000) errors.Add($"{s}:BatchMaxEvents must be between 1 and 1000 (got {sink.BatchMaxEvents})");
                if (sink.BatchMaxWait < TimeSpan.Zero) errors.Add($"{s}:BatchMaxWait must not be negative");
                break;
            case SinkKind.Hook0:
                if (CheckUrl(s, sink.Url, "Token (Hook0 takes a service token, not a user and password)", errors) is { } api)
                {
                    var path = api.AbsolutePath.TrimEnd('/');
                    if (path.EndsWith("/api/v1", StringComparison.OrdinalIgnoreCase) || path.EndsWith("/api/v1/event", StringComparison.OrdinalIgnoreCase))
                        errors.Add($"{s}:Url must be Hook0's base URL (e.g. https://app.hook0.com), without {path[path.LastIndexOf("/api/v1", StringComparison.OrdinalIgnoreCase)..]}: PgEgress adds /api/v1/event/");
                    else CheckNotOwnApi(s, new Uri(sink.Url.TrimEnd('/') + "/api/v1/event/"), own, errors);
                }
                if (string.IsNullOrWhiteSpace(sink.Token)) errors.Add($"{s}:Token is required (a Hook0 service token)");
                else if (sink.Token.Any(char.IsWhiteSpace) || !IsHeaderValue(sink.Token))
                    errors.Add($"{s}:Token must be the service token alone: no spaces, line breaks or other characters outside printable ASCII");
                if (!Uuid().IsMatch(sink.ApplicationId))
                    errors.Add($"{s}:ApplicationId must be the Hook0 application's UUID, as xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx (got '{Printable(sink.ApplicationId)}')");
                break;
            case SinkKind.Postgres:
                CheckTarget(s, sink.ConnectionString, errors);
                break;
            case SinkKind.ClickHouse:
                if (CheckUrl(s, sink.Url, "User and Password", errors) is { } server) CheckNotOwnApi(s, server, own, errors);
                if (string.IsNullOrWhiteSpace(sink.Database))
                    errors.Add($"{s}:Database is required (the ClickHouse database of the sink's tables)");
                else if (!Identifier().IsMatch(sink.Database))
                    errors.Add($"{s}:Database '{Printable(sink.Database)}' must be letters, digits and '_', not starting with a digit");
                if (string.IsNullOrWhiteSpace(sink.User) || !IsHeaderValue(sink.User))
                    errors.Add($"{s}:User is required, in printable ASCII (the ClickHouse user; 'default' unless set)");
                if (!IsHeaderValue(sink.Password))
                    errors.Add($"{s}:Password must be printable ASCII (no line breaks or control characters)");
                if (sink.BatchMaxRows is < 1 or > 1_000_000) errors.Add($"{s}:BatchMaxRows must be between 1 and 1000000 (got {sink.BatchMaxRows})");
                if (sink.BatchMaxBytes is < 1024 or > 1L << 30) errors.Add($"{s}:BatchMaxBytes must be between 1024 and 1073741824 (got {sink.BatchMaxBytes})");
                if (sink.BatchMaxWait < TimeSpan.Zero) errors.Add($"{s}:BatchMaxWait must not be negative");
                break;
        }
    }

    /// <summary>The URL when it is an absolute http(s) URL. Not echoed: a webhook URL often carries a secret (user info, a token in the path or query).</summary>
    /// <param name="credentials">The setting that carries credentials instead of the URL.</param>
    private static Uri? CheckUrl(string s, string url, string credentials, List<string> errors)
    {
        if (string.IsNullOrWhiteSpace(url))
        {
            errors.Add($"{s}:Url is required");
            return null;
        }
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Host.Length == 0)
        {
            errors.Add($"{s}:Url is not an absolute http or https URL");
            return null;
        }
        if (uri.Scheme is not ("http" or "https"))
        {
            errors.Add($"{s}:Url must be an http or https URL (got a {uri.Scheme} URL)");
            return null;
        }
        // HttpClient sends no Authorization for user info in a URL: every request would go out unauthenticated.
        if (uri.UserInfo.Length > 0)
        {
            errors.Add($"{s}:Url carries credentials (user:password@host), which are never sent; remove them and use {credentials}");
            return null;
        }
        return uri;
    }

    private static void CheckNotOwnApi(string s, Uri url, ListenAddresses own, List<string> errors)
    {
        if (url.AbsolutePath.StartsWith("/api/", StringComparison.OrdinalIgnoreCase) && own.Reaches(url) is { } address)
            errors.Add($"{s}:Url points at this PgEgress's own API (listening on {address}): every change would call PgEgress itself; use the receiver's URL");
    }

    private static bool IsHeaderValue(string value) => value.All(c => c is >= ' ' and <= '~' or '\t');

    private static string Printable(string value) => string.Concat(value.Select(c => char.IsControl(c) ? $"\\u{(int)c:x4}" : c.ToString()));

    private static bool IsWebhookSecret(string secret)
    {
        if (!secret.StartsWith("whsec_", StringComparison.Ordinal)) return false;
        var bytes = new byte[secret.Length];
        return Convert.TryFromBase64String(secret[6..], bytes, out var n) && n is >= 24 and <= 64;
    }

    private static void CheckTarget(string s, string connectionString, List<string> errors)
    {
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            errors.Add($"{s}:ConnectionString is required (the target database's Npgsql connection string)");
            return;
        }
        NpgsqlConnectionStringBuilder target;
        try
        {
            target = new NpgsqlConnectionStringBuilder(connectionString);
        }
        catch (ArgumentException)
        {
            errors.Add($"{s}:ConnectionString is not a valid connection string");
            return;
        }
        // Whether it is the source itself is asked of the two databases at start (PostgresTargetApplier.EnsureNotSourceAsync):
        // one server has many names.
        if (string.IsNullOrEmpty(target.Host)) errors.Add($"{s}:ConnectionString has no Host");
    }
}
