using Azure.Core;
using PgEgress.Core.Configuration;
using PgEgress.Core.Storage;
using PgEgress.Core.Storage.AzureBlob;

namespace PgEgress.Tests.Storage;

public sealed class ObjectStoreFactoryTests
{
    [Fact]
    public void FileSystem_gives_a_folder_store()
    {
        var store = ObjectStoreFactory.Create(new StorageOptions { Kind = StorageKind.FileSystem, Path = "relative/out" });

        Assert.IsType<FileSystemObjectStore>(store);
        Assert.Equal($"file:{Path.GetFullPath("relative/out")}", store.Describe);
    }

    [Theory]
    [InlineData("")]
    [InlineData("  ")]
    public void FileSystem_needs_a_path(string path)
    {
        var error = Assert.Throws<ArgumentException>(() => ObjectStoreFactory.Create(new StorageOptions { Kind = StorageKind.FileSystem, Path = path }));

        Assert.Contains("PgEgress:Storage:Path", error.Message);
    }

    [Fact]
    public void AzureBlob_with_a_connection_string_gives_a_blob_store()
    {
        using var store = (AzureBlobObjectStore)ObjectStoreFactory.Create(
            new StorageOptions { Kind = StorageKind.AzureBlob, ConnectionString = "UseDevelopmentStorage=true", Container = "out" });

        Assert.Equal("azureblob:devstoreaccount1/out", store.Describe);
    }

    [Fact]
    public void AzureBlob_with_only_an_account_url_uses_a_token_credential()
    {
        using var store = (AzureBlobObjectStore)ObjectStoreFactory.Create(
            new StorageOptions { Kind = StorageKind.AzureBlob, AccountUrl = "https://myaccount.blob.core.windows.net/", Container = "out" },
            credential: new UnusedCredential());

        Assert.Equal("azureblob:myaccount/out", store.Describe);
    }

    [Fact]
    public void AzureBlob_needs_a_connection_string_or_an_account_url()
    {
        var error = Assert.Throws<ArgumentException>(() => ObjectStoreFactory.Create(new StorageOptions { Kind = StorageKind.AzureBlob }));

        Assert.Contains("ConnectionString", error.Message);
        Assert.Contains("AccountUrl", error.Message);
    }

    [Theory]
    [InlineData("http://myaccount.blob.core.windows.net")]
    [InlineData("myaccount.blob.core.windows.net")]
    [InlineData("https://myaccount.blob.core.windows.net/?sv=2021-08-06&sig=secret")]
    public void AzureBlob_account_url_must_be_plain_https(string url)
    {
        var error = Assert.Throws<ArgumentException>(() =>
            ObjectStoreFactory.Create(new StorageOptions { Kind = StorageKind.AzureBlob, AccountUrl = url }));

        Assert.Contains("PgEgress:Storage:AccountUrl", error.Message);
        Assert.DoesNotContain("secret", error.Message);
    }

    [Fact]
    public void A_bad_connection_string_is_reported_as_a_configuration_error()
    {
        var error = Assert.Throws<ArgumentException>(() =>
            ObjectStoreFactory.Create(new StorageOptions { Kind = StorageKind.AzureBlob, ConnectionString = "AccountName=acct" }));

        Assert.Contains("PgEgress:Storage:ConnectionString", error.Message);
        Assert.Contains("neither AccountKey nor SharedAccessSignature", error.Message);
        Assert.IsType<FormatException>(error.InnerException);
    }

    [Theory]
    [InlineData("ab", "3 to 63 characters")]
    [InlineData("a123456789012345678901234567890123456789012345678901234567890123", "3 to 63 characters")]
    [InlineData("Upper", "only lowercase letters, digits and hyphens")]
    [InlineData("under_score", "only lowercase letters, digits and hyphens")]
    [InlineData("-leading", "start and end with a letter or a digit")]
    [InlineData("trailing-", "start and end with a letter or a digit")]
    [InlineData("double--hyphen", "consecutive hyphens")]
    public void AzureBlob_container_names_follow_azure_rules(string container, string expected)
    {
        var error = Assert.Throws<ArgumentException>(() => ObjectStoreFactory.Create(
            new StorageOptions { Kind = StorageKind.AzureBlob, ConnectionString = "UseDevelopmentStorage=true", Container = container }));

        Assert.Contains($"PgEgress:Storage:Container '{container}'", error.Message);
        Assert.Contains(expected, error.Message);
    }

    [Theory]
    [InlineData("abc")]
    [InlineData("pgegress-output-2")]
    [InlineData("a12345678901234567890123456789012345678901234567890123456789012")]
    public void Valid_container_names_are_accepted(string container)
    {
        using var store = (AzureBlobObjectStore)ObjectStoreFactory.Create(
            new StorageOptions { Kind = StorageKind.AzureBlob, ConnectionString = "UseDevelopmentStorage=true", Container = container });

        Assert.EndsWith("/" + container, store.Describe);
    }

    /// <summary>Creating the store must not ask for a token; a request would.</summary>
    private sealed class UnusedCredential : TokenCredential
    {
        public override AccessToken GetToken(TokenRequestContext requestContext, CancellationToken cancellationToken) =>
            throw new InvalidOperationException("No token should be requested while creating the store.");

        public override ValueTask<AccessToken> GetTokenAsync(TokenRequestContext requestContext, CancellationToken cancellationToken) =>
            throw new InvalidOperationException("No token should be requested while creating the store.");
    }
}
