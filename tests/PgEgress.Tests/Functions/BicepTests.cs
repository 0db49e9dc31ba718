using System.Text.Json;

namespace PgEgress.Tests.Functions;

/// <summary>
/// infra/main.bicep compiles, and the linter finds nothing, with the real Bicep compiler (<see cref="BicepCli"/>);
/// the compiled ARM template keeps the deployment's security properties: host storage through the identity, the output
/// in a keyless account of its own, no secret in an app setting, Key Vault roles per secret, no basic publishing
/// credentials, and a user-assigned identity that exists, with its roles, before the site.
/// </summary>
public sealed class BicepTests
{
    // Built-in role definition ids, as Azure publishes them.
    private const string StorageBlobDataOwner = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b";
    private const string StorageQueueDataContributor = "974c5e8b-45b9-4653-ba55-5f855dd0fb88";
    private const string StorageTableDataContributor = "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3";
    private const string StorageBlobDataContributor = "ba92f5b4-2d11-453d-a403-e96b0029c9fe";
    private const string KeyVaultSecretsUser = "4633458b-17de-408a-b874-0445c86b69e6";

    private const string RoleAssignment = "Microsoft.Authorization/roleAssignments";
    private const string StorageAccount = "Microsoft.Storage/storageAccounts";
    private const string Identity = "[resourceId('Microsoft.ManagedIdentity/userAssignedIdentities', format('id-{0}', parameters('appName')))]";
    private const string HostStorage = "[resourceId('Microsoft.Storage/storageAccounts', variables('storageName'))]";

    [Fact]
    public async Task The_template_compiles_without_warnings()
    {
        if (await CompiledTemplate.GetAsync() is not { } arm) return;
        Assert.True(arm.Errors.Trim().Length == 0, $"bicep build: {arm.Errors}");
        Assert.Single(arm.OfType("Microsoft.Web/sites"));
    }

    [Fact]
    public async Task The_linter_finds_nothing()
    {
        if (BicepCli.Locate() is not { } bicep) return;
        var (code, output, errors) = await BicepCli.RunAsync(bicep, "lint", CompiledTemplate.Source);
        Assert.True(code == 0 && (output + errors).Trim().Length == 0, $"bicep lint exited {code}: {output}{errors}");
    }

    [Fact]
    public async Task The_host_storage_is_reached_with_the_user_assigned_identity_and_the_roles_Durable_Functions_needs()
    {
        if (await CompiledTemplate.GetAsync() is not { } arm) return;
        var settings = arm.AppSettings();
        Assert.DoesNotContain("AzureWebJobsStorage", settings.Keys);
        Assert.Equal("variables('storageName')", settings["AzureWebJobsStorage__accountName"]);
        foreach (var service in new[] { "blob", "queue", "table" })
            Assert.Equal($"reference({HostStorage[1..^1]}, '2023-05-01').primaryEndpoints.{service}", settings[$"AzureWebJobsStorage__{service}ServiceUri"]);
        Assert.Equal("'managedidentity'", settings["AzureWebJobsStorage__credential"]);
        Assert.Equal($"reference({Identity[1..^1]}, '2023-01-31').clientId", settings["AzureWebJobsStorage__clientId"]);
        // The output's DefaultAzureCredential picks the same identity.
        Assert.Equal(settings["AzureWebJobsStorage__clientId"], settings["AZURE_CLIENT_ID"]);

        var granted = AssignmentsOf(arm).Where(a => a.GetProperty("scope").GetString() == HostStorage).SelectMany(arm.RoleIds).ToHashSet();
        Assert.Equal(new HashSet<string> { StorageBlobDataOwner, StorageQueueDataContributor, StorageTableDataContributor }, granted);
    }

    [Fact]
    public async Task The_output_has_an_account_without_shared_keys_and_the_identity_writes_to_its_container_only()
    {
        if (await CompiledTemplate.GetAsync() is not { } arm) return;
        var output = arm.OfType(StorageAccount).Single(a => a.GetProperty("name").GetString() == "[variables('outputStorageName')]");
        Assert.False(output.GetProperty("properties").GetProperty("allowSharedKeyAccess").GetBoolean());
        Assert.Contains("variables('outputStorageName')", arm.AppSettings()["PgEgress__Storage__AccountUrl"]);
        Assert.Single(arm.OfType("Microsoft.Storage/storageAccounts/blobServices/containers"), c =>
            c.GetProperty("name").GetString() == "[format('{0}/{1}/{2}', variables('outputStorageName'), 'default', parameters('outputContainer'))]");

        var writers = AssignmentsOf(arm).Where(a => arm.RoleIds(a).Contains(StorageBlobDataContributor)).ToList();
        var writer = Assert.Single(writers);
        Assert.Equal("[resourceId('Microsoft.Storage/storageAccounts/blobServices/containers', variables('outputStorageName'), 'default', parameters('outputContainer'))]",
            writer.GetProperty("scope").GetString());
        Assert.Equal([StorageBlobDataContributor], arm.RoleIds(writer));
    }

    [Fact]
    public async Task The_content_share_connection_string_is_a_Key_Vault_reference_to_a_secret_the_template_writes()
    {
        if (await CompiledTemplate.GetAsync() is not { } arm) return;
        var settings = arm.AppSettings();
        Assert.Equal("variables('contentConnectionStringReference')", settings["WEBSITE_CONTENTAZUREFILECONNECTIONSTRING"]);
        Assert.Equal("[format('@Microsoft.KeyVault(VaultName={0};SecretName={1})', parameters('keyVaultName'), variables('contentSecretName'))]",
            arm.Variable("contentConnectionStringReference").GetString());
        var secret = Assert.Single(arm.OfType("Microsoft.KeyVault/vaults/secrets"));
        Assert.Equal("[format('{0}/{1}', parameters('keyVaultName'), variables('contentSecretName'))]", secret.GetProperty("name").GetString());
        Assert.Contains("listKeys(" + HostStorage[1..^1], secret.GetProperty("properties").GetProperty("value").GetString());
        // No app setting carries an account key.
        Assert.All(settings, s => Assert.DoesNotContain("listKeys", s.Value));
        Assert.Equal("variables('contentShareName')", settings["WEBSITE_CONTENTSHARE"]);
        Assert.Single(arm.OfType("Microsoft.Storage/storageAccounts/fileServices/shares"), s =>
            s.GetProperty("name").GetString() == "[format('{0}/{1}/{2}', variables('storageName'), 'default', variables('contentShareName'))]");
    }

    [Fact]
    public async Task Key_Vault_access_is_granted_on_each_secret_the_app_reads_and_not_on_the_vault()
    {
        if (await CompiledTemplate.GetAsync() is not { } arm) return;
        var readers = AssignmentsOf(arm).Where(a => arm.RoleIds(a).Contains(KeyVaultSecretsUser)).ToList();
        var reader = Assert.Single(readers);
        Assert.Equal("[resourceId('Microsoft.KeyVault/vaults/secrets', parameters('keyVaultName'), variables('readSecretNames')[copyIndex()])]",
            reader.GetProperty("scope").GetString());
        Assert.Equal("[length(variables('readSecretNames'))]", reader.GetProperty("copy").GetProperty("count").GetString());
        var secrets = arm.Variable("readSecretNames").GetString()!;
        foreach (var name in new[] { "parameters('sourceConnectionStringSecretName')", "variables('contentSecretName')", "parameters('storageConnectionStringSecretName')", "parameters('sinkSecretNames')" })
            Assert.Contains(name, secrets);
        Assert.DoesNotContain(AssignmentsOf(arm), a => a.GetProperty("scope").GetString()!.StartsWith("[resourceId('Microsoft.KeyVault/vaults',", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Basic_publishing_credentials_are_off_for_SCM_and_FTP()
    {
        if (await CompiledTemplate.GetAsync() is not { } arm) return;
        var policies = arm.OfType("Microsoft.Web/sites/basicPublishingCredentialsPolicies")
            .ToDictionary(p => p.GetProperty("name").GetString()!, p => p.GetProperty("properties").GetProperty("allow").GetBoolean());
        Assert.Equal(new Dictionary<string, bool>
        {
            ["[format('{0}/{1}', parameters('appName'), 'scm')]"] = false,
            ["[format('{0}/{1}', parameters('appName'), 'ftp')]"] = false,
        }, policies);
    }

    [Fact]
    public async Task The_app_name_is_at_least_three_characters_since_it_names_the_content_share()
    {
        if (await CompiledTemplate.GetAsync() is not { } arm) return;
        Assert.Equal(3, arm.Parameter("appName").GetProperty("minLength").GetInt32());
        Assert.Equal("[toLower(parameters('appName'))]", arm.Variable("contentShareName").GetString());
    }

    [Fact]
    public async Task The_site_runs_as_a_user_assigned_identity_that_has_its_roles_before_the_site_starts()
    {
        if (await CompiledTemplate.GetAsync() is not { } arm) return;
        Assert.Single(arm.OfType("Microsoft.ManagedIdentity/userAssignedIdentities"));
        var site = arm.OfType("Microsoft.Web/sites").Single();
        var identity = site.GetProperty("identity");
        Assert.Equal("UserAssigned", identity.GetProperty("type").GetString());
        Assert.Equal($"[format('{{0}}', {Identity[1..^1]})]", Assert.Single(identity.GetProperty("userAssignedIdentities").EnumerateObject()).Name);
        Assert.Equal(Identity, site.GetProperty("properties").GetProperty("keyVaultReferenceIdentity").GetString());

        var assignments = AssignmentsOf(arm);
        Assert.Equal(3, assignments.Count);
        Assert.All(assignments, a => Assert.Equal($"[reference({Identity[1..^1]}, '2023-01-31').principalId]",
            a.GetProperty("properties").GetProperty("principalId").GetString()));
        // The site waits for every role assignment: the two loops by name, the conditional one by id.
        var dependsOn = site.GetProperty("dependsOn").EnumerateArray().Select(d => d.GetString()!).ToList();
        Assert.Contains("secretsUser", dependsOn);
        Assert.Contains("hostStorageRoles", dependsOn);
        Assert.Contains(dependsOn, d => d.StartsWith("[extensionResourceId(", StringComparison.Ordinal) && d.Contains("'Microsoft.Authorization/roleAssignments'", StringComparison.Ordinal));
    }

    private static List<JsonElement> AssignmentsOf(CompiledTemplate arm) => [.. arm.OfType(RoleAssignment)];
}
