using System.Globalization;
using System.Net;
using Microsoft.Extensions.Configuration;

namespace PgEgress.Core.Configuration;

/// <summary>
/// Where the Host's own HTTP API listens, as its configuration says (Kestrel:Endpoints, else urls, else
/// http_ports/https_ports, else ASP.NET Core's default http://localhost:5000), so that a sink aimed at it is refused: each
/// delivered change would become a call of PgEgress's own API. A port 0 (chosen when the server starts) cannot be checked.
/// </summary>
public sealed class ListenAddresses
{
    private readonly List<(string Host, int Port)> _endpoints;

    private ListenAddresses(List<(string Host, int Port)> endpoints) => _endpoints = endpoints;

    /// <summary>No API of its own (the Functions app: its address is the platform's).</summary>
    public static readonly ListenAddresses None = new([]);

    public static ListenAddresses From(IConfiguration configuration)
    {
        var kestrel = configuration.GetSection("Kestrel:Endpoints").GetChildren().Select(e => e["Url"]).OfType<string>().ToList();
        IEnumerable<string> urls = kestrel.Count > 0 ? kestrel
            : configuration["urls"] is { Length: > 0 } u ? u.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            : Ports(configuration["http_ports"], "http").Concat(Ports(configuration["https_ports"], "https")).ToList() is { Count: > 0 } ports ? ports
            : ["http://localhost:5000"];
        return new([.. urls.Select(Parse).OfType<(string, int)>().Where(e => e.Item2 != 0)]);
    }

    /// <summary>A description of the listening address <paramref name="url"/> reaches, or null when it reaches none of them.</summary>
    public string? Reaches(Uri url)
    {
        foreach (var (host, port) in _endpoints)
            if (port == url.Port && SameMachineHost(host, url.IdnHost.Trim('[', ']')))
                return $"{host}:{port.ToString(CultureInfo.InvariantCulture)}";
        return null;
    }

    private static IEnumerable<string> Ports(string? ports, string scheme) =>
        (ports ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(p => $"{scheme}://*:{p}");

    // Kestrel's forms: scheme://host:port with host a name, an address, [v6], or the wildcards * and +.
    private static (string, int)? Parse(string url)
    {
        var scheme = url.IndexOf("://", StringComparison.Ordinal);
        if (scheme < 0) return null;
        var authority = url[(scheme + 3)..].Split('/')[0];
        var colon = authority.LastIndexOf(':');
        var defaultPort = url.StartsWith("https", StringComparison.OrdinalIgnoreCase) ? 443 : 80;
        if (colon < 0 || authority.EndsWith(']')) return (authority.Trim('[', ']'), defaultPort);
        return int.TryParse(authority[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var port)
            ? (authority[..colon].Trim('[', ']'), port) : null;
    }

    private static bool SameMachineHost(string listen, string target)
    {
        if (string.Equals(listen, target, StringComparison.OrdinalIgnoreCase)) return true;
        var wildcard = listen is "*" or "+" or "0.0.0.0" or "::";
        return wildcard ? IsLocal(target) : IsLoopback(listen) && IsLoopback(target);
    }

    private static bool IsLoopback(string host) =>
        string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase) || (IPAddress.TryParse(host, out var ip) && IPAddress.IsLoopback(ip));

    private static bool IsLocal(string host) =>
        IsLoopback(host) || string.Equals(host, Environment.MachineName, StringComparison.OrdinalIgnoreCase) || host is "0.0.0.0" or "::";
}
