using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;

namespace PgEgress.Core.Clients;

/// <summary>A registered client's id: 16 lower-case hex digits from a random source (unguessable, URL-safe).</summary>
public readonly record struct ClientId
{
    private readonly string _value;

    private ClientId(string value) => _value = value;

    public static ClientId New() => new(Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8)));

    public static bool TryParse(string? text, [NotNullWhen(true)] out ClientId? id)
    {
        id = text is { Length: 16 } && text.All(c => char.IsAsciiDigit(c) || c is >= 'a' and <= 'f') ? new ClientId(text) : null;
        return id is not null;
    }

    /// <summary>The client's row in cdc_registry.cursors, beside the flush's and the sinks': staged retention honours it.</summary>
    public string Consumer => $"client:{_value}";

    public override string ToString() => _value;
}
