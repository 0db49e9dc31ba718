using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace PgEgress.Core.Api;

/// <summary>
/// The status page: one self-contained HTML file (StatusPage.html, embedded in this assembly) that both runtimes serve
/// without the key, since it holds no data; its script asks for the key and reads <c>/api/status</c> itself. The
/// Content-Security-Policy allows exactly the page's own inline script and style (by hash) and requests to this
/// origin: nothing else runs, loads or embeds it.
/// </summary>
public static partial class StatusPage
{
    public const string ContentType = "text/html; charset=utf-8";

    public static string Html { get; } = Load();

    /// <summary>Headers to send with <see cref="Html"/>, on both runtimes.</summary>
    public static IReadOnlyDictionary<string, string> Headers { get; } = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["Content-Security-Policy"] = $"default-src 'none'; script-src {Hashes(Script())}; style-src {Hashes(Style())}; connect-src 'self'; "
            + "img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        ["X-Content-Type-Options"] = "nosniff",
        ["Referrer-Policy"] = "no-referrer",
        ["Cache-Control"] = "no-cache",
    };

    private static string Load()
    {
        using var stream = typeof(StatusPage).Assembly.GetManifestResourceStream("PgEgress.Core.Api.StatusPage.html")
            ?? throw new InvalidOperationException("StatusPage.html is not embedded in PgEgress.Core");
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return reader.ReadToEnd();
    }

    private static string Hashes(Regex element) =>
        string.Join(' ', element.Matches(Html).Select(m => $"'sha256-{Convert.ToBase64String(SHA256.HashData(Encoding.UTF8.GetBytes(m.Groups[1].Value)))}'"));

    [GeneratedRegex(@"<script>(.*?)</script>", RegexOptions.Singleline)]
    private static partial Regex Script();

    [GeneratedRegex(@"<style>(.*?)</style>", RegexOptions.Singleline)]
    private static partial Regex Style();
}
