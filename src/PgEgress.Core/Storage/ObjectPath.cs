namespace PgEgress.Core.Storage;

/// <summary>
/// The one set of rules for object paths, shared by every store so that a path valid in one is valid in all:
/// relative, '/'-separated, no empty, "." or ".." segments, no backslash, no control characters, and no
/// segment ending with '.' (Azure Blob Storage drops trailing dots, so "a./b" would silently become "a/b").
/// </summary>
internal static class ObjectPath
{
    /// <summary>Azure's limit on a blob name; a longer path could be written locally but never uploaded.</summary>
    public const int MaxLength = 1024;

    /// <summary>Throws <see cref="ArgumentException"/> unless <paramref name="path"/> names an object.</summary>
    public static void Validate(string path, string paramName = "path")
    {
        ArgumentNullException.ThrowIfNull(path, paramName);
        if (path.Length == 0)
        {
            throw new ArgumentException("Object path is empty.", paramName);
        }

        CheckSegments(path, path, lastSegmentIsPartial: false, paramName);
    }

    /// <summary>
    /// Throws <see cref="ArgumentException"/> unless <paramref name="prefix"/> is a valid listing prefix: empty,
    /// or the start of a valid path (it may end with '/', and its last segment may be partial, e.g. "public.").
    /// </summary>
    public static void ValidatePrefix(string prefix, string paramName = "prefix")
    {
        ArgumentNullException.ThrowIfNull(prefix, paramName);
        if (prefix.Length == 0)
        {
            return;
        }

        var body = prefix.EndsWith('/') ? prefix[..^1] : prefix;
        if (body.Length == 0)
        {
            throw new ArgumentException("Prefix '/' is not allowed: object paths are relative (use \"\" for everything).", paramName);
        }

        CheckSegments(prefix, body, lastSegmentIsPartial: !prefix.EndsWith('/'), paramName);
    }

    private static void CheckSegments(string original, string body, bool lastSegmentIsPartial, string paramName)
    {
        if (original.Length > MaxLength)
        {
            throw new ArgumentException($"Object path is {original.Length} characters long; the limit is {MaxLength}.", paramName);
        }

        if (original.StartsWith('/'))
        {
            throw new ArgumentException($"Object path '{original}' is absolute; paths are relative to the store's root.", paramName);
        }

        if (original.Contains('\\'))
        {
            throw new ArgumentException($"Object path '{original}' contains a backslash; use '/' as the separator.", paramName);
        }

        foreach (var c in original)
        {
            if (char.IsControl(c))
            {
                throw new ArgumentException($"Object path contains the control character U+{(int)c:X4}.", paramName);
            }
        }

        var segments = body.Split('/');
        for (var i = 0; i < segments.Length; i++)
        {
            var segment = segments[i];
            if (segment.Length == 0)
            {
                throw new ArgumentException($"Object path '{original}' has an empty segment ('//' or a trailing '/').", paramName);
            }

            if (segment is "." or "..")
            {
                throw new ArgumentException($"Object path '{original}' contains a '{segment}' segment; relative navigation is not allowed.", paramName);
            }

            var isPartial = lastSegmentIsPartial && i == segments.Length - 1;
            if (!isPartial && segment.EndsWith('.'))
            {
                throw new ArgumentException($"Object path '{original}' has a segment ending with '.', which Azure Blob Storage would drop.", paramName);
            }
        }
    }
}
