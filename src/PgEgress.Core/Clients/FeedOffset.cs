using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace PgEgress.Core.Clients;

/// <summary>
/// A position in a client's change feed: after the staged transaction that ends at <see cref="Lsn"/>. Written as 16
/// upper-case hex digits, so offsets are opaque to clients, URL-safe, sort as text in feed order and mean the same
/// on every instance and after every restart (the staged log's positions are the source's LSNs).
/// </summary>
public readonly record struct FeedOffset(ulong Lsn)
{
    public static bool TryParse(string? text, [NotNullWhen(true)] out FeedOffset? offset)
    {
        offset = text is { Length: 16 } && text.All(c => char.IsAsciiDigit(c) || c is >= 'A' and <= 'F')
            && ulong.TryParse(text, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var lsn)
            ? new FeedOffset(lsn) : null;
        return offset is not null;
    }

    public override string ToString() => Lsn.ToString("X16", CultureInfo.InvariantCulture);
}
