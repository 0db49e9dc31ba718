using System.Security.Cryptography;
using System.Text;

namespace PgEgress.Core.Clients;

/// <summary>
/// A client's feed credential: 32 random bytes shown once at registration (base64url); the registry keeps only its
/// SHA-256, compared in constant time.
/// </summary>
public static class ClientSecret
{
    public static (string Secret, string Sha256) New()
    {
        var secret = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        return (secret, Hash(secret));
    }

    public static string Hash(string secret) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(secret)));

    /// <summary>The secret of an <c>Authorization: Bearer …</c> header value; null when there is none.</summary>
    public static string? FromAuthorization(string? header) =>
        header is not null && header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) && header.Length > 7 ? header[7..].Trim() : null;

    public static bool Matches(string? secret, string sha256) =>
        secret is not null && CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(Hash(secret)), Encoding.ASCII.GetBytes(sha256));
}
