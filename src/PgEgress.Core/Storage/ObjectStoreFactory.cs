using Azure.Core;
using Azure.Identity;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using PgEgress.Core.Configuration;
using PgEgress.Core.Storage.AzureBlob;

namespace PgEgress.Core.Storage;

/// <summary>
/// Builds the object store the configuration asks for, and rejects an unusable configuration at startup with
/// a message naming the setting, rather than at the first flush.
/// </summary>
public static class ObjectStoreFactory
{
    /// <param name="options">The PgEgress:Storage section.</param>
    /// <param name="loggerFactory">For the Azure store's retry warnings.</param>
    /// <param name="credential">
    /// The token credential used when only <see cref="StorageOptions.AccountUrl"/> is set; default
    /// <see cref="DefaultAzureCredential"/> (managed identity in Azure, the developer's login elsewhere).
    /// </param>
    /// <exception cref="ArgumentException">The configuration cannot work; the message says which setting and why.</exception>
    public static IObjectStore Create(StorageOptions options, ILoggerFactory? loggerFactory = null, TokenCredential? credential = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        return options.Kind switch
        {
            StorageKind.FileSystem => CreateFileSystem(options),
            StorageKind.AzureBlob => CreateAzureBlob(options, loggerFactory ?? NullLoggerFactory.Instance, credential),
            _ => throw new ArgumentException($"PgEgress:Storage:Kind '{options.Kind}' is not a known storage kind."),
        };
    }

    private static FileSystemObjectStore CreateFileSystem(StorageOptions options)
    {
        if (string.IsNullOrWhiteSpace(options.Path))
        {
            throw new ArgumentException("PgEgress:Storage:Path is empty; Kind=FileSystem needs the folder to write to.");
        }

        return new FileSystemObjectStore(options.Path);
    }

    private static AzureBlobObjectStore CreateAzureBlob(StorageOptions options, ILoggerFactory loggerFactory, TokenCredential? credential)
    {
        if (ContainerName.Problem(options.Container) is { } problem)
        {
            throw new ArgumentException($"PgEgress:Storage:Container '{options.Container}' is not a valid container name: {problem}.");
        }

        var logger = loggerFactory.CreateLogger<AzureBlobObjectStore>();
        if (!string.IsNullOrWhiteSpace(options.ConnectionString))
        {
            BlobConnectionString parsed;
            try
            {
                parsed = BlobConnectionString.Parse(options.ConnectionString);
            }
            catch (FormatException e)
            {
                throw new ArgumentException($"PgEgress:Storage:ConnectionString is invalid. {e.Message}", e);
            }

            IBlobAuthenticator authenticator = parsed.AccountKey is { } key
                ? new SharedKeyAuthenticator(parsed.AccountName, key)
                : new SasAuthenticator(parsed.SharedAccessSignature!);
            return new AzureBlobObjectStore(parsed.BlobEndpoint, parsed.AccountName, options.Container, authenticator, logger);
        }

        if (!string.IsNullOrWhiteSpace(options.AccountUrl))
        {
            // The service accepts bearer tokens over HTTPS only; say so now rather than with a 403 later.
            if (!Uri.TryCreate(options.AccountUrl.TrimEnd('/'), UriKind.Absolute, out var url) || url.Scheme != Uri.UriSchemeHttps || url.Query.Length > 0)
            {
                // Not echoed: a URL pasted with a SAS query would print the token.
                throw new ArgumentException(
                    "PgEgress:Storage:AccountUrl is not an https URL without a query string, such as https://myaccount.blob.core.windows.net.");
            }

            var authenticator = new TokenAuthenticator(credential ?? new DefaultAzureCredential());
            return new AzureBlobObjectStore(url, BlobConnectionString.AccountNameOf(url), options.Container, authenticator, logger);
        }

        throw new ArgumentException(
            "Kind=AzureBlob needs PgEgress:Storage:ConnectionString (account key, SAS or UseDevelopmentStorage=true) " +
            "or PgEgress:Storage:AccountUrl (with a managed identity or another Azure.Identity credential).");
    }
}
