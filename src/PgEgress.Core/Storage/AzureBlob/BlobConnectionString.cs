namespace PgEgress.Core.Storage.AzureBlob;

/// <summary>
/// The blob part of an Azure Storage connection string: the endpoint, the account, and either the account key
/// or a SAS token. Errors name the setting at fault but never repeat a value, which may be a secret.
/// Deliberately not a record: a generated ToString would print the SAS token.
/// </summary>
internal sealed class BlobConnectionString
{
    /// <summary>Azurite's built-in account and its published, well-known key.</summary>
    public const string DevelopmentAccountName = "devstoreaccount1";

    public const string DevelopmentAccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    public const string DevelopmentBlobEndpoint = "http://127.0.0.1:10000/devstoreaccount1";

    private const string ErrorPrefix = "Storage connection string: ";

    /// <summary>Settings that may appear; those for other services (queues, tables, files) are accepted and ignored.</summary>
    private static readonly HashSet<string> KnownSettings = new(StringComparer.OrdinalIgnoreCase)
    {
        "DefaultEndpointsProtocol", "AccountName", "AccountKey", "EndpointSuffix", "BlobEndpoint", "SharedAccessSignature",
        "UseDevelopmentStorage", "DevelopmentStorageProxyUri", "BlobSecondaryEndpoint",
        "QueueEndpoint", "QueueSecondaryEndpoint", "TableEndpoint", "TableSecondaryEndpoint", "FileEndpoint", "FileSecondaryEndpoint",
    };

    private BlobConnectionString(Uri blobEndpoint, string accountName, byte[]? accountKey, string? sharedAccessSignature)
    {
        BlobEndpoint = blobEndpoint;
        AccountName = accountName;
        AccountKey = accountKey;
        SharedAccessSignature = sharedAccessSignature;
    }

    /// <summary>The blob service URL, without a trailing '/'.</summary>
    public Uri BlobEndpoint { get; }

    public string AccountName { get; }

    /// <summary>The decoded account key, or null for a SAS connection string.</summary>
    public byte[]? AccountKey { get; }

    /// <summary>The SAS token without its leading '?', or null for an account key connection string.</summary>
    public string? SharedAccessSignature { get; }

    /// <exception cref="FormatException">The string is malformed, incomplete or contradictory.</exception>
    public static BlobConnectionString Parse(string connectionString)
    {
        var settings = Split(connectionString);
        if (settings.TryGetValue("UseDevelopmentStorage", out var development))
        {
            return Development(development, settings);
        }

        var endpoint = settings.TryGetValue("BlobEndpoint", out var explicitEndpoint)
            ? ParseEndpoint(explicitEndpoint, "BlobEndpoint")
            : BuildEndpoint(settings);
        var accountName = settings.GetValueOrDefault("AccountName") ?? AccountNameOf(endpoint);
        var hasKey = settings.TryGetValue("AccountKey", out var key);
        var hasSas = settings.TryGetValue("SharedAccessSignature", out var sas);
        if (hasKey && hasSas)
        {
            throw new FormatException(ErrorPrefix + "both AccountKey and SharedAccessSignature are set; set only one.");
        }

        if (hasKey)
        {
            if (!settings.ContainsKey("AccountName"))
            {
                throw new FormatException(ErrorPrefix + "AccountName is missing; it is required with AccountKey.");
            }

            return new BlobConnectionString(endpoint, accountName, DecodeKey(key!), null);
        }

        if (hasSas)
        {
            var token = sas!.TrimStart('?');
            if (!token.Split('&').Any(p => p.StartsWith("sig=", StringComparison.Ordinal)))
            {
                throw new FormatException(ErrorPrefix + "SharedAccessSignature has no 'sig' parameter; copy the whole SAS token.");
            }

            return new BlobConnectionString(endpoint, accountName, null, token);
        }

        throw new FormatException(ErrorPrefix + "neither AccountKey nor SharedAccessSignature is set.");
    }

    /// <summary>
    /// The account a blob endpoint belongs to: the first path segment for a path-style URL (Azurite, an IP
    /// address or localhost), otherwise the first label of the host name.
    /// </summary>
    public static string AccountNameOf(Uri endpoint)
    {
        var pathStyle = endpoint.HostNameType is UriHostNameType.IPv4 or UriHostNameType.IPv6
            || endpoint.IsLoopback;
        return pathStyle
            ? endpoint.AbsolutePath.Trim('/').Split('/')[0]
            : endpoint.Host.Split('.')[0];
    }

    private static Dictionary<string, string> Split(string connectionString)
    {
        var settings = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var entries = connectionString.Split(';');
        for (var i = 0; i < entries.Length; i++)
        {
            var entry = entries[i].Trim();
            if (entry.Length == 0)
            {
                continue;
            }

            var equals = entry.IndexOf('=');
            if (equals <= 0)
            {
                throw new FormatException(ErrorPrefix + $"entry {i + 1} is not of the form Name=Value.");
            }

            var name = entry[..equals].Trim();
            if (!KnownSettings.Contains(name))
            {
                // A name that does not look like one may be a pasted secret: only say where it is.
                throw new FormatException(ErrorPrefix + (LooksLikeSettingName(name)
                    ? $"unknown setting '{name}'."
                    : $"entry {i + 1} does not start with a known setting name."));
            }

            if (!settings.TryAdd(name, entry[(equals + 1)..].Trim()))
            {
                throw new FormatException(ErrorPrefix + $"{name} is set more than once.");
            }
        }

        if (settings.Count == 0)
        {
            throw new FormatException(ErrorPrefix + "it is empty.");
        }

        return settings;
    }

    private static bool LooksLikeSettingName(string name) => name.Length <= 40 && name.All(char.IsAsciiLetter);

    private static BlobConnectionString Development(string value, Dictionary<string, string> settings)
    {
        if (!value.Equals("true", StringComparison.OrdinalIgnoreCase))
        {
            throw new FormatException(ErrorPrefix + "UseDevelopmentStorage may only be 'true'.");
        }

        if (settings.Count > 1)
        {
            throw new FormatException(ErrorPrefix + "UseDevelopmentStorage=true cannot be combined with other settings; " +
                "for an Azurite on another port, give AccountName, AccountKey and BlobEndpoint instead.");
        }

        return new BlobConnectionString(
            new Uri(DevelopmentBlobEndpoint), DevelopmentAccountName, Convert.FromBase64String(DevelopmentAccountKey), null);
    }

    private static Uri BuildEndpoint(Dictionary<string, string> settings)
    {
        if (!settings.TryGetValue("AccountName", out var account))
        {
            throw new FormatException(ErrorPrefix + "AccountName is missing; it is required unless BlobEndpoint is given.");
        }

        if (account.Length == 0 || !account.All(char.IsAsciiLetterOrDigit))
        {
            throw new FormatException(ErrorPrefix + "AccountName may contain only letters and digits.");
        }

        var protocol = settings.GetValueOrDefault("DefaultEndpointsProtocol", "https");
        if (protocol is not ("http" or "https"))
        {
            throw new FormatException(ErrorPrefix + "DefaultEndpointsProtocol must be 'http' or 'https'.");
        }

        var suffix = settings.GetValueOrDefault("EndpointSuffix", "core.windows.net").Trim('.');
        return ParseEndpoint($"{protocol}://{account}.blob.{suffix}", "EndpointSuffix");
    }

    private static Uri ParseEndpoint(string value, string setting)
    {
        if (!Uri.TryCreate(value.TrimEnd('/'), UriKind.Absolute, out var uri)
            || uri.Scheme is not ("http" or "https")
            || uri.Query.Length > 0
            || uri.HostNameType == UriHostNameType.Unknown)
        {
            throw new FormatException(ErrorPrefix + $"{setting} does not give a valid http(s) URL without a query string.");
        }

        return uri;
    }

    private static byte[] DecodeKey(string key)
    {
        var bytes = new byte[key.Length];
        if (key.Length == 0 || !Convert.TryFromBase64String(key, bytes, out var written))
        {
            throw new FormatException(ErrorPrefix + "AccountKey is not valid base64.");
        }

        return bytes[..written];
    }
}
