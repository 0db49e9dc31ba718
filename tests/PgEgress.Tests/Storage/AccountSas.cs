using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace PgEgress.Tests.Storage;

/// <summary>
/// Builds an account SAS for the blob service ("Create an account SAS" in the Azure Storage REST reference,
/// version 2020-12-06 and later, which signs an encryption-scope line too), the way a portal or the CLI would.
/// </summary>
internal static class AccountSas
{
    private const string Version = "2021-08-06";

    /// <param name="permissions">In the documented order, e.g. "rwdlac" (read, write, delete, list, add, create).</param>
    public static string Create(string accountName, string accountKey, string permissions, TimeSpan validFor)
    {
        var expiry = DateTimeOffset.UtcNow.Add(validFor).ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);
        const string services = "b", resourceTypes = "sco", protocols = "https,http";
        var stringToSign = string.Join('\n',
            accountName, permissions, services, resourceTypes, /* start */ "", expiry, /* ip */ "", protocols, Version,
            /* encryption scope */ "", "");
        var signature = Convert.ToBase64String(HMACSHA256.HashData(Convert.FromBase64String(accountKey), Encoding.UTF8.GetBytes(stringToSign)));
        return $"sv={Version}&ss={services}&srt={resourceTypes}&sp={permissions}&se={Uri.EscapeDataString(expiry)}" +
               $"&spr={Uri.EscapeDataString(protocols)}&sig={Uri.EscapeDataString(signature)}";
    }
}
