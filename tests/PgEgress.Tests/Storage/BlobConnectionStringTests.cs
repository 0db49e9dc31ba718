using PgEgress.Core.Storage.AzureBlob;

namespace PgEgress.Tests.Storage;

public sealed class BlobConnectionStringTests
{
    private const string Key = "c2VjcmV0LWtleS1ieXRlcy0wMTIzNDU2Nzg5YWJjZGVm"; // base64, looks like a real key

    [Fact]
    public void An_account_key_string_gives_the_public_cloud_endpoint()
    {
        var parsed = BlobConnectionString.Parse($"DefaultEndpointsProtocol=https;AccountName=myaccount;AccountKey={Key};EndpointSuffix=core.windows.net");

        Assert.Equal(new Uri("https://myaccount.blob.core.windows.net"), parsed.BlobEndpoint);
        Assert.Equal("myaccount", parsed.AccountName);
        Assert.Equal(Convert.FromBase64String(Key), parsed.AccountKey);
        Assert.Null(parsed.SharedAccessSignature);
    }

    [Fact]
    public void Protocol_and_suffix_default_and_can_be_changed()
    {
        Assert.Equal(new Uri("https://acct.blob.core.windows.net"), BlobConnectionString.Parse($"AccountName=acct;AccountKey={Key}").BlobEndpoint);
        Assert.Equal(
            new Uri("http://acct.blob.core.chinacloudapi.cn"),
            BlobConnectionString.Parse($"defaultendpointsprotocol=http;accountname=acct;accountkey={Key};endpointsuffix=core.chinacloudapi.cn;").BlobEndpoint);
    }

    [Fact]
    public void UseDevelopmentStorage_means_the_default_azurite()
    {
        var parsed = BlobConnectionString.Parse("UseDevelopmentStorage=true");

        Assert.Equal(new Uri("http://127.0.0.1:10000/devstoreaccount1"), parsed.BlobEndpoint);
        Assert.Equal("devstoreaccount1", parsed.AccountName);
        Assert.Equal(Convert.FromBase64String(BlobConnectionString.DevelopmentAccountKey), parsed.AccountKey);
    }

    [Fact]
    public void The_full_azurite_string_with_other_services_parses()
    {
        var parsed = BlobConnectionString.Parse(
            $"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={BlobConnectionString.DevelopmentAccountKey};" +
            "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;QueueEndpoint=http://127.0.0.1:10001/devstoreaccount1;" +
            "TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;");

        Assert.Equal(new Uri("http://127.0.0.1:10000/devstoreaccount1"), parsed.BlobEndpoint);
    }

    [Fact]
    public void A_sas_string_needs_no_account_name_and_keeps_the_token()
    {
        var parsed = BlobConnectionString.Parse("BlobEndpoint=https://acct.blob.core.windows.net/;SharedAccessSignature=?sv=2021-08-06&ss=b&sig=abc%3D");

        Assert.Equal(new Uri("https://acct.blob.core.windows.net"), parsed.BlobEndpoint);
        Assert.Equal("acct", parsed.AccountName);
        Assert.Equal("sv=2021-08-06&ss=b&sig=abc%3D", parsed.SharedAccessSignature);
        Assert.Null(parsed.AccountKey);
    }

    [Fact]
    public void The_account_of_a_path_style_endpoint_is_its_first_segment()
    {
        Assert.Equal("devstoreaccount1", BlobConnectionString.AccountNameOf(new Uri("http://127.0.0.1:10000/devstoreaccount1")));
        Assert.Equal("devstoreaccount1", BlobConnectionString.AccountNameOf(new Uri("http://localhost:10000/devstoreaccount1")));
        Assert.Equal("acct", BlobConnectionString.AccountNameOf(new Uri("https://acct.blob.core.windows.net")));
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("AccountKey=" + Key, "AccountName is missing")]
    [InlineData("AccountName=acct", "neither AccountKey nor SharedAccessSignature")]
    [InlineData("AccountName=acct;AccountKey=" + Key + ";SharedAccessSignature=sig=x", "both AccountKey and SharedAccessSignature")]
    [InlineData("AccountName=acct;AccountKey=not*base64", "AccountKey is not valid base64")]
    [InlineData("AccountName=acct;AccountKey=", "AccountKey is not valid base64")]
    [InlineData("AccountName=acct;AccountName=other;AccountKey=" + Key, "AccountName is set more than once")]
    [InlineData("AccountName=acct;AccountKey=" + Key + ";Colour=blue", "unknown setting 'Colour'")]
    [InlineData("AccountName=acct;AccountKey=" + Key + ";justtext", "entry 3 is not of the form Name=Value")]
    [InlineData("DefaultEndpointsProtocol=ftp;AccountName=acct;AccountKey=" + Key, "DefaultEndpointsProtocol must be 'http' or 'https'")]
    [InlineData("AccountName=my-acct;AccountKey=" + Key, "AccountName may contain only letters and digits")]
    [InlineData("BlobEndpoint=not a url;SharedAccessSignature=sig=x", "BlobEndpoint does not give a valid http(s) URL")]
    [InlineData("BlobEndpoint=https://acct.blob.core.windows.net;SharedAccessSignature=sv=2021-08-06", "no 'sig' parameter")]
    [InlineData("UseDevelopmentStorage=false", "UseDevelopmentStorage may only be 'true'")]
    [InlineData("UseDevelopmentStorage=true;AccountName=acct", "cannot be combined")]
    public void Errors_name_the_setting_at_fault(string connectionString, string expected)
    {
        var error = Assert.Throws<FormatException>(() => BlobConnectionString.Parse(connectionString));

        Assert.StartsWith("Storage connection string: ", error.Message);
        Assert.Contains(expected, error.Message);
    }

    [Theory]
    [InlineData("AccountName=acct;AccountKey=" + Key + "!")] // a bad key
    [InlineData("AccountName=acct;" + Key + "==")] // a key pasted without its name: "xxx=" reads as name "xxx"
    [InlineData("AccountName=acct;AccountKey=" + Key + ";SharedAccessSignature=sv=1&sig=" + Key)] // both credentials
    public void Errors_never_repeat_a_secret(string connectionString)
    {
        var error = Assert.Throws<FormatException>(() => BlobConnectionString.Parse(connectionString));

        Assert.DoesNotContain(Key[..16], error.Message);
    }
}
