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

    private static AzureBlobObjectStore CreateAzureBlob(StorageOptions options, ILoggerFactory loggerFactory, TokenCredential? credential) =>
        new(BlobContainerClientFactory.Create(options, loggerFactory.CreateLogger<AzureBlobObjectStore>(), credential));
}
