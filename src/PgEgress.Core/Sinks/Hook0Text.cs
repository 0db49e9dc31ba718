using System.Security.Cryptography;
using System.Text;

namespace PgEgress.Core.Sinks;

/// <summary>
/// Names that fit Hook0's validation (hook0/hook0 api/src/handlers/event_types.rs, validators.rs): an event type's
/// service, resource_type and verb are 1 to 50 characters (Unicode scalar values) without control characters; a label's
/// key and value are 1 to 50 UTF-8 bytes. PostgreSQL names reach 63 bytes, so a name that does not fit is clipped on a
/// character boundary and ends in "~" and 8 hex digits of its SHA-256: two names sharing a long prefix stay apart.
/// </summary>
public static class Hook0Text
{
    public const int MaxLength = 50;
    private const int SuffixLength = 9;

    /// <summary>A part of an event type's name. A '.' is replaced too: it separates the parts of the name Hook0 builds from them.</summary>
    public static string Part(string name) => Fit(name, inBytes: false, name.EnumerateRunes().Count());

    public static string Label(string value) => Fit(value, inBytes: true, Encoding.UTF8.GetByteCount(value));

    private static string Fit(string value, bool inBytes, int length)
    {
        var clean = inBytes ? value : string.Concat(value.EnumerateRunes().Select(r => Rune.IsControl(r) || r.Value == '.' ? "_" : r.ToString()));
        if (clean == value && length is >= 1 and <= MaxLength) return value;
        var fitted = new StringBuilder();
        var used = 0;
        foreach (var rune in clean.EnumerateRunes())
        {
            used += inBytes ? rune.Utf8SequenceLength : 1;
            if (used > MaxLength - SuffixLength) break;
            fitted.Append(rune.ToString());
        }
        return fitted.Append('~').Append(Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(value)))[..(SuffixLength - 1)]).ToString();
    }
}
