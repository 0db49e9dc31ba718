using Azure.Core;
using PgEgress.Core.Configuration;
using PgEgress.Core.Storage;

namespace PgEgress.Tests.Storage;

public sealed class ObjectStoreFactoryTests
{
    private const string Key = "c2VjcmV0LWtleS1ieXRlcy0wMTIzNDU2Nzg5YWJjZGVm"; // base64, looks like a real key

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
        var store = ObjectStoreFactory.Create(
            new StorageOptions { Kind = StorageKind.AzureBlob, ConnectionString = "UseDevelopmentStorage=true", Container = "out" });

        Assert.Equal("azureblob:devstoreaccount1/out", store.Describe);
    }

    [Fact]
    public void AzureBlob_with_only_an_account_url_uses_a_token_credential()
    {
        var store = ObjectStoreFactory.Create(
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

    [Theory]
    [InlineData("DefaultEndpointsProtocol=https;AccountName=myaccount;AccountKey=" + Key + ";EndpointSuffix=core.windows.net", "myaccount")]
    [InlineData("defaultendpointsprotocol=http;accountname=acct;accountkey=" + Key + ";endpointsuffix=core.chinacloudapi.cn;", "acct")]
    [InlineData("UseDevelopmentStorage=true", "devstoreaccount1")]
    [InlineData("DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=" + Key +
        ";BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;QueueEndpoint=http://127.0.0.1:10001/devstoreaccount1;", "devstoreaccount1")]
    [InlineData("BlobEndpoint=https://acct.blob.core.windows.net/;SharedAccessSignature=?sv=2021-08-06&ss=b&sig=abc%3D", "acct")]
    [InlineData("BlobEndpoint=https://acct.blob.core.windows.net;SharedAccessSignature=sv=2021-08-06&ss=b&sig=abc%3D", "acct")]
    public void Every_connection_string_form_is_accepted(string connectionString, string account)
    {
        var store = ObjectStoreFactory.Create(new StorageOptions { Kind = StorageKind.AzureBlob, ConnectionString = connectionString, Container = "out" });

        Assert.Equal($"azureblob:{account}/out", store.Describe);
    }

    [Theory]
    [InlineData("AccountName=acct")]
    [InlineData("AccountKey=" + Key)]
    [InlineData("AccountName=acct;AccountKey=not*base64" + Key)]
    [InlineData("AccountName=acct;" + Key + "==")] // a key pasted without its name
    [InlineData("AccountName=acct;AccountKey=" + Key + ";justtext")]
    [InlineData("DefaultEndpointsProtocol=ftp;AccountName=acct;AccountKey=" + Key)]
    [InlineData("UseDevelopmentStorage=false")]
    [InlineData("BlobEndpoint=not a url;SharedAccessSignature=sig=" + Key)]
    public void A_bad_connection_string_is_a_configuration_error_that_does_not_repeat_it(string connectionString)
    {
        var error = Assert.Throws<ArgumentException>(() =>
            ObjectStoreFactory.Create(new StorageOptions { Kind = StorageKind.AzureBlob, ConnectionString = connectionString }));

        Assert.StartsWith("PgEgress:Storage:ConnectionString is invalid", error.Message);
        Assert.Contains("UseDevelopmentStorage=true", error.Message); // the forms that work
        Assert.DoesNotContain(Key[..16], error.ToString());
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
        var store = ObjectStoreFactory.Create(
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
