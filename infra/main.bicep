// PgEgress on Azure Functions: a Linux Elastic Premium plan (EP1), the function app (.NET 10 isolated worker,
// Durable Functions) with a user-assigned identity, its host storage account (reached with that identity), a storage
// account of its own for the output (no shared keys), Application Insights on a Log Analytics workspace, and every
// PgEgress setting as an app setting, secrets as Key Vault references. Deploy into a resource group that holds the Key Vault:
//
//   az deployment group create -g <rg> -f infra/main.bicep -p appName=<name> keyVaultName=<vault>
//
// Check without deploying: az bicep build --file infra/main.bicep
// The parameters mirror the PgEgress settings (README.md, "Configuration"); their defaults are PgEgress's own.

targetScope = 'resourceGroup'

// ---- The deployment ---------------------------------------------------------------------------------------------

@description('Azure region of every resource. Default: the resource group\'s.')
param location string = resourceGroup().location

@description('Name of the function app (globally unique: <appName>.azurewebsites.net). Also names the plan, the identity, the workspace, Application Insights, the content share (3 characters at least) and its Key Vault secret.')
@minLength(3)
@maxLength(40)
param appName string

@description('Runtime stack of the function app.')
@allowed([
  'DOTNET-ISOLATED|10.0'
])
param linuxFxVersion string = 'DOTNET-ISOLATED|10.0'

@description('Durable Functions task hub (host.json reads it as %TASKHUB_NAME%): letters and digits, starting with a letter. Use a different one per app sharing a storage account.')
@minLength(3)
@maxLength(45)
param taskHubName string = 'pgegress'

@description('Most instances the Premium plan scales out to. One ingest orchestration runs per pipeline, so a few are plenty.')
@minValue(1)
@maxValue(20)
param maximumElasticWorkerCount int = 3

@description('Optional VNet integration, to reach a private PostgreSQL: resource id of a subnet delegated to Microsoft.Web/serverFarms. Empty: no VNet integration.')
param vnetSubnetId string = ''

@description('Existing Key Vault in this resource group, with Azure RBAC authorization, that holds the secrets below. The app\'s identity is granted "Key Vault Secrets User" on each of those secrets, not on the vault; the template writes the content share\'s connection string into it as the secret <appName>-content-share.')
param keyVaultName string

@description('Key Vault secret holding the source database\'s Npgsql connection string (PgEgress__Source__ConnectionString). The role needs REPLICATION.')
param sourceConnectionStringSecretName string = 'pgegress-source-connection-string'

@description('Optional Key Vault secret holding an Azure Storage connection string for the output (PgEgress__Storage__ConnectionString). Empty: the output goes through the app\'s managed identity to outputAccountUrl.')
param storageConnectionStringSecretName string = ''

// ---- PgEgress settings (PgEgress__Section__Key) ----------------------------------------------------------------------

@description('PgEgress__Source__Publication: publication to read; created when missing.')
param sourcePublication string = 'pgegress'

@description('PgEgress__Source__Slot: logical replication slot (pgoutput); created when missing. Names the ingest orchestration (pgegress-ingest-<slot>).')
param sourceSlot string = 'pgegress'

@description('PgEgress__Source__Tables__N: tables ("schema.table") of a publication PgEgress creates. Exclusive with sourceSchemas.')
param sourceTables array = []

@description('PgEgress__Source__Schemas__N: schemas of a publication PgEgress creates (needs superuser). Empty with no tables: all user schemas.')
param sourceSchemas array = []

@description('PgEgress__Source__Streaming: read with pgoutput protocol 2 so large transactions are streamed while in progress (PostgreSQL 14 and later; protocol 1 below). false: protocol 1.')
param sourceStreaming bool = true

@description('PgEgress__Storage__AccountUrl: blob service URL for the output, reached with the app\'s managed identity. Empty: an output storage account of this deployment (shared keys off), whose output container the identity is granted "Storage Blob Data Contributor" on (grant it yourself on any other account). Unused when storageConnectionStringSecretName is set.')
param outputAccountUrl string = ''

@description('PgEgress__Storage__Container: blob container of the output (created when missing).')
param outputContainer string = 'pgegress'

@description('PgEgress__Batch__Interval: batch window. The flush timer ticks every five minutes, so use five minutes or a multiple of it.')
param batchInterval string = '00:05:00'

@description('PgEgress__Batch__MaxRowsPerFile: a batch file splits into parts past this many rows.')
param batchMaxRowsPerFile int = 5000000

@description('PgEgress__Batch__MaxBytesPerFile: a batch file splits into parts past this many uncompressed bytes.')
param batchMaxBytesPerFile int = 1073741824

@description('PgEgress__Slice__MaxDuration: a slice ends at the first transaction boundary after this long; an idle slice is followed by a durable-timer pause as long.')
param sliceMaxDuration string = '00:00:10'

@description('PgEgress__Slice__MaxBytes: … or after this many staged bytes.')
param sliceMaxBytes int = 67108864

@description('PgEgress__Slice__MaxTransactions: … or after this many transactions.')
param sliceMaxTransactions int = 10000

@description('PgEgress__Slice__QuietAfterCommit: … or when, after a staged transaction, the stream has been quiet this long (low latency under light load). 00:00:00: off.')
param sliceQuietAfterCommit string = '00:00:00.05'

@description('PgEgress__Slice__MaxLatency: … or once the slice\'s first transaction has waited this long (bounds staging delay under a steady stream).')
param sliceMaxLatency string = '00:00:01'

@description('PgEgress__Slice__HeartbeatInterval: when the published tables are idle this long, a heartbeat goes into the WAL so the slot advances.')
param sliceHeartbeatInterval string = '00:00:30'

@description('PgEgress__Slice__ActivityBudget: one ConsumeSlice activity keeps its replication session for slice after slice up to this long (at most 10 minutes; shorter than a slice means one slice per activity).')
param sliceActivityBudget string = '00:04:00'

@description('PgEgress__Reload__InitialLoad: when the slot is first created, export every published table before streaming it.')
param reloadInitialLoad bool = true

@description('PgEgress__Reload__Workers: parallel export connections of a reload, each importing the same snapshot.')
param reloadWorkers int = 2

@description('PgEgress__Reload__SplitAboveBytes: a table larger than this on disk is exported as CTID ranges in parallel.')
param reloadSplitAboveBytes int = 268435456

@description('PgEgress__Reload__RangeBytes: on-disk bytes of table per CTID range.')
param reloadRangeBytes int = 134217728

@description('PgEgress__Health__MaxLag: /api/ready answers 503 naming each consumer (ingest, flush, sink:{name}) further behind than this. 00:00:00: off. Set it above batchInterval (the flush is behind by design up to a batch).')
param healthMaxLag string = '00:00:00'

@description('PgEgress__Health__MaxLagBytes: … or with more WAL than this many bytes to catch up. 0: off.')
param healthMaxLagBytes int = 0

@description('PgEgress__Health__PermanentRetryMaxDelay: the longest pause between retries of a permanent failure (authentication refused, missing privilege, table gone), which /api/ready reports until it is fixed; at least 00:00:05.')
param healthPermanentRetryMaxDelay string = '00:05:00'

@description('PgEgress__Clients__DefaultTtl: a change-feed client not seen (ping or feed request) for this long is expired and its cursor released.')
param clientsDefaultTtl string = '1.00:00:00'

@description('PgEgress__Clients__MaxRetentionBytes: a client more than this many staged bytes behind becomes lagging-expired (its cursor released). 0: no cap.')
param clientsMaxRetentionBytes int = 0

@description('PgEgress__Clients__MaxRetentionAge: a client whose oldest unacknowledged staged segment is older than this becomes lagging-expired. 00:00:00: no cap.')
param clientsMaxRetentionAge string = '7.00:00:00'

@description('PgEgress__Health__AutoRepair: every verification that finds discrepancies repairs them (a repair file, or a reload above healthRepairMaxFraction).')
param healthAutoRepair bool = false

@description('PgEgress__Health__RepairMaxFraction: a repair changing more than this fraction of the table\'s rows requests a full reload instead.')
param healthRepairMaxFraction string = '0.1'

@description('PgEgress__Health__VerifyInterval: each published table is verified this often. 00:00:00: off.')
param healthVerifyInterval string = '00:00:00'

@description('PgEgress__Health__VerifyWindowStart: scheduled verifications start only from this UTC time of day …')
param healthVerifyWindowStart string = '00:00:00'

@description('PgEgress__Health__VerifyWindowEnd: … until this one (equal to the start: all day).')
param healthVerifyWindowEnd string = '00:00:00'

@description('PgEgress__Durable__RetryAttempts: attempts of an activity before its orchestration generation gives up (1 to 100).')
param durableRetryAttempts int = 6

@description('PgEgress__Durable__RetryFirstInterval: pause before an activity\'s first retry.')
param durableRetryFirstInterval string = '00:00:05'

@description('PgEgress__Durable__RetryBackoffCoefficient: each next retry pause is this many times longer (1 to 10; a string, Bicep has no decimals).')
param durableRetryBackoffCoefficient string = '2'

@description('PgEgress__Durable__RetryMaxInterval: no retry pause is longer than this.')
param durableRetryMaxInterval string = '00:02:00'

@description('PgEgress__Durable__FailureBackoff: the ingest\'s pause after an activity\'s retries gave up, before it prepares the source again.')
param durableFailureBackoff string = '00:01:00'

@description('PgEgress__Durable__ReloadIdleDelay: the reload orchestration\'s pause after a round with nothing to export.')
param durableReloadIdleDelay string = '00:00:15'

@description('PgEgress__Durable__SinkIdleDelay: a sink orchestration\'s pause after its sink had caught up.')
param durableSinkIdleDelay string = '00:00:05'

@description('PgEgress__Sinks__{name}__{setting}: push sinks, as { name: { Kind: \'Http\', Url: \'https://…\', Secret: \'@Microsoft.KeyVault(SecretUri=…)\', … } }. Each setting becomes an app setting; put secrets (Secret, Token, AuthHeaderValue, ConnectionString, Password) as Key Vault references. List settings (Tables, Operations) as comma-free arrays are not supported here: give Tables__0, Tables__1 … as keys.')
@secure()
param sinks object = {}

@description('Names of Key Vault secrets (in keyVaultName) that the sinks reference (@Microsoft.KeyVault(VaultName=…;SecretName=…)): the app\'s identity is granted "Key Vault Secrets User" on each.')
param sinkSecretNames array = []

@description('PgEgress__WorkDirectory: local spool for segments and batch parts before upload (the instance\'s local disk).')
param workDirectory string = '/tmp/pgegress'

// ---- Resources ----------------------------------------------------------------------------------------------------

var storageName = take(toLower('st${uniqueString(resourceGroup().id, appName)}'), 24)
var outputStorageName = take(toLower('sto${uniqueString(resourceGroup().id, appName)}'), 24)
var useOwnStorageForOutput = empty(storageConnectionStringSecretName) && empty(outputAccountUrl)
var contentShareName = toLower(appName)
var contentSecretName = '${appName}-content-share'
// Built-in role definition ids.
var keyVaultSecretsUserRoleId = '4633458b-17de-408a-b874-0445c86b69e6'
var storageBlobDataContributorRoleId = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
// What Durable Functions and the Functions host need on the host storage account with an identity-based connection.
var hostStorageRoleIds = [
  'b7e6dc6d-f1e8-4753-8033-0f276bb0955b' // Storage Blob Data Owner
  '974c5e8b-45b9-4653-ba55-5f855dd0fb88' // Storage Queue Data Contributor
  '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3' // Storage Table Data Contributor
]

// Created before the site and granted its roles first, so that Key Vault references and the host storage work on
// the first start (a system-assigned identity exists only once the site does).
resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-${appName}'
  location: location
}

// Host storage: task hub, timers, host keys (all through the identity) and the content share, which on Premium
// mounts with the account key; hence shared keys stay on here and the output has an account of its own.
resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: storageName
  location: location
  sku: {
    name: 'Standard_LRS'
  }
  kind: 'StorageV2'
  properties: {
    supportsHttpsTrafficOnly: true
    minimumTlsVersion: 'TLS1_2'
    allowBlobPublicAccess: false
  }
}

resource fileService 'Microsoft.Storage/storageAccounts/fileServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

// Created here because the content-share validation is skipped (WEBSITE_SKIP_CONTENTSHARE_VALIDATION).
resource contentShare 'Microsoft.Storage/storageAccounts/fileServices/shares@2023-05-01' = {
  parent: fileService
  name: contentShareName
}

resource outputStorage 'Microsoft.Storage/storageAccounts@2023-05-01' = if (useOwnStorageForOutput) {
  name: outputStorageName
  location: location
  sku: {
    name: 'Standard_LRS'
  }
  kind: 'StorageV2'
  properties: {
    supportsHttpsTrafficOnly: true
    minimumTlsVersion: 'TLS1_2'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
  }
}

resource outputBlobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = if (useOwnStorageForOutput) {
  parent: outputStorage
  name: 'default'
}

resource outputBlobContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = if (useOwnStorageForOutput) {
  parent: outputBlobService
  name: outputContainer
  properties: {
    publicAccess: 'None'
  }
}

resource logs 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: 'log-${appName}'
  location: location
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: 30
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: 'appi-${appName}'
  location: location
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logs.id
  }
}

resource plan 'Microsoft.Web/serverfarms@2023-12-01' = {
  name: 'plan-${appName}'
  location: location
  kind: 'elastic'
  sku: {
    name: 'EP1'
    tier: 'ElasticPremium'
    family: 'EP'
  }
  properties: {
    maximumElasticWorkerCount: maximumElasticWorkerCount
    reserved: true
  }
}

resource keyVault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource contentSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: keyVault
  name: contentSecretName
  properties: {
    value: 'DefaultEndpointsProtocol=https;AccountName=${storage.name};EndpointSuffix=${environment().suffixes.storage};AccountKey=${storage.listKeys().keys[0].value}'
  }
}

// Every secret the app reads; its identity may read these and nothing else in the vault.
var readSecretNames = union(
  [sourceConnectionStringSecretName, contentSecretName],
  empty(storageConnectionStringSecretName) ? [] : [storageConnectionStringSecretName],
  sinkSecretNames
)

resource readSecrets 'Microsoft.KeyVault/vaults/secrets@2023-07-01' existing = [for name in readSecretNames: {
  parent: keyVault
  name: name
}]

// App Service resolves these with the user-assigned identity (keyVaultReferenceIdentity) and passes the value on.
var sourceConnectionStringReference = '@Microsoft.KeyVault(VaultName=${keyVault.name};SecretName=${sourceConnectionStringSecretName})'
var storageConnectionStringReference = '@Microsoft.KeyVault(VaultName=${keyVault.name};SecretName=${storageConnectionStringSecretName})'
var contentConnectionStringReference = '@Microsoft.KeyVault(VaultName=${keyVault.name};SecretName=${contentSecret.name})'

var runtimeSettings = [
  // The host storage (Durable task hub, timers, keys) through the user-assigned identity, without a key.
  {
    name: 'AzureWebJobsStorage__accountName'
    value: storage.name
  }
  {
    name: 'AzureWebJobsStorage__blobServiceUri'
    value: storage.properties.primaryEndpoints.blob
  }
  {
    name: 'AzureWebJobsStorage__queueServiceUri'
    value: storage.properties.primaryEndpoints.queue
  }
  {
    name: 'AzureWebJobsStorage__tableServiceUri'
    value: storage.properties.primaryEndpoints.table
  }
  {
    name: 'AzureWebJobsStorage__credential'
    value: 'managedidentity'
  }
  {
    name: 'AzureWebJobsStorage__clientId'
    value: identity.properties.clientId
  }
  {
    // DefaultAzureCredential (the output's client) picks the user-assigned identity by this.
    name: 'AZURE_CLIENT_ID'
    value: identity.properties.clientId
  }
  {
    // The content share on Premium takes a connection string only; it stays in Key Vault.
    name: 'WEBSITE_CONTENTAZUREFILECONNECTIONSTRING'
    value: contentConnectionStringReference
  }
  {
    name: 'WEBSITE_CONTENTSHARE'
    value: contentShareName
  }
  {
    // App Service cannot resolve a Key Vault reference while it validates the request, so it would reject the
    // content connection string; the share is created by this template instead.
    name: 'WEBSITE_SKIP_CONTENTSHARE_VALIDATION'
    value: '1'
  }
  {
    name: 'FUNCTIONS_EXTENSION_VERSION'
    value: '~4'
  }
  {
    name: 'FUNCTIONS_WORKER_RUNTIME'
    value: 'dotnet-isolated'
  }
  {
    name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
    value: appInsights.properties.ConnectionString
  }
  {
    name: 'TASKHUB_NAME'
    value: taskHubName
  }
]

var pgegressSettings = [
  {
    name: 'PgEgress__Source__ConnectionString'
    value: sourceConnectionStringReference
  }
  {
    name: 'PgEgress__Source__Publication'
    value: sourcePublication
  }
  {
    name: 'PgEgress__Source__Slot'
    value: sourceSlot
  }
  {
    name: 'PgEgress__Source__Streaming'
    value: string(sourceStreaming)
  }
  {
    name: 'PgEgress__Storage__Kind'
    value: 'AzureBlob'
  }
  {
    // FileSystem storage only; unused here.
    name: 'PgEgress__Storage__Path'
    value: ''
  }
  {
    name: 'PgEgress__Storage__ConnectionString'
    value: empty(storageConnectionStringSecretName) ? '' : storageConnectionStringReference
  }
  {
    name: 'PgEgress__Storage__AccountUrl'
    value: !empty(storageConnectionStringSecretName) ? '' : (useOwnStorageForOutput ? outputStorage!.properties.primaryEndpoints.blob : outputAccountUrl)
  }
  {
    name: 'PgEgress__Storage__Container'
    value: outputContainer
  }
  {
    name: 'PgEgress__Batch__Interval'
    value: batchInterval
  }
  {
    name: 'PgEgress__Batch__MaxRowsPerFile'
    value: string(batchMaxRowsPerFile)
  }
  {
    name: 'PgEgress__Batch__MaxBytesPerFile'
    value: string(batchMaxBytesPerFile)
  }
  {
    name: 'PgEgress__Slice__MaxDuration'
    value: sliceMaxDuration
  }
  {
    name: 'PgEgress__Slice__MaxBytes'
    value: string(sliceMaxBytes)
  }
  {
    name: 'PgEgress__Slice__MaxTransactions'
    value: string(sliceMaxTransactions)
  }
  {
    name: 'PgEgress__Slice__QuietAfterCommit'
    value: sliceQuietAfterCommit
  }
  {
    name: 'PgEgress__Slice__MaxLatency'
    value: sliceMaxLatency
  }
  {
    name: 'PgEgress__Slice__HeartbeatInterval'
    value: sliceHeartbeatInterval
  }
  {
    name: 'PgEgress__Slice__ActivityBudget'
    value: sliceActivityBudget
  }
  {
    name: 'PgEgress__Reload__InitialLoad'
    value: string(reloadInitialLoad)
  }
  {
    name: 'PgEgress__Reload__Workers'
    value: string(reloadWorkers)
  }
  {
    name: 'PgEgress__Reload__SplitAboveBytes'
    value: string(reloadSplitAboveBytes)
  }
  {
    name: 'PgEgress__Reload__RangeBytes'
    value: string(reloadRangeBytes)
  }
  {
    name: 'PgEgress__Health__MaxLag'
    value: healthMaxLag
  }
  {
    name: 'PgEgress__Health__MaxLagBytes'
    value: string(healthMaxLagBytes)
  }
  {
    name: 'PgEgress__Health__PermanentRetryMaxDelay'
    value: healthPermanentRetryMaxDelay
  }
  {
    name: 'PgEgress__Clients__DefaultTtl'
    value: clientsDefaultTtl
  }
  {
    name: 'PgEgress__Clients__MaxRetentionBytes'
    value: string(clientsMaxRetentionBytes)
  }
  {
    name: 'PgEgress__Clients__MaxRetentionAge'
    value: clientsMaxRetentionAge
  }
  {
    name: 'PgEgress__Health__AutoRepair'
    value: string(healthAutoRepair)
  }
  {
    name: 'PgEgress__Health__RepairMaxFraction'
    value: healthRepairMaxFraction
  }
  {
    name: 'PgEgress__Health__VerifyInterval'
    value: healthVerifyInterval
  }
  {
    name: 'PgEgress__Health__VerifyWindowStart'
    value: healthVerifyWindowStart
  }
  {
    name: 'PgEgress__Health__VerifyWindowEnd'
    value: healthVerifyWindowEnd
  }
  {
    name: 'PgEgress__Durable__RetryAttempts'
    value: string(durableRetryAttempts)
  }
  {
    name: 'PgEgress__Durable__RetryFirstInterval'
    value: durableRetryFirstInterval
  }
  {
    name: 'PgEgress__Durable__RetryBackoffCoefficient'
    value: durableRetryBackoffCoefficient
  }
  {
    name: 'PgEgress__Durable__RetryMaxInterval'
    value: durableRetryMaxInterval
  }
  {
    name: 'PgEgress__Durable__FailureBackoff'
    value: durableFailureBackoff
  }
  {
    name: 'PgEgress__Durable__ReloadIdleDelay'
    value: durableReloadIdleDelay
  }
  {
    name: 'PgEgress__Durable__SinkIdleDelay'
    value: durableSinkIdleDelay
  }
  {
    // The Host's key for its routes. The Functions app's routes use function keys instead, so it stays empty here.
    name: 'PgEgress__Api__Key'
    value: ''
  }
  {
    // The Host's rate limit of changing requests; the Functions front end has its own.
    name: 'PgEgress__Api__MutatingRequestsPerMinute'
    value: '0'
  }
  {
    name: 'PgEgress__WorkDirectory'
    value: workDirectory
  }
]

var tableSettings = [for (table, i) in sourceTables: {
  name: 'PgEgress__Source__Tables__${i}'
  value: table
}]

var schemaSettings = [for (schema, i) in sourceSchemas: {
  name: 'PgEgress__Source__Schemas__${i}'
  value: schema
}]

var sinkSettings = flatten(map(items(sinks), sink => map(items(sink.value), setting => {
  name: 'PgEgress__Sinks__${sink.key}__${setting.key}'
  value: string(setting.value)
})))

// Key Vault references resolve with the identity: "Key Vault Secrets User" on each secret, not on the vault.
resource secretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (name, i) in readSecretNames: {
  name: guid(keyVault.id, name, identity.id, keyVaultSecretsUserRoleId)
  scope: readSecrets[i]
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUserRoleId)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
  dependsOn: [
    contentSecret
  ]
}]

// AzureWebJobsStorage through the identity.
resource hostStorageRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for roleId in hostStorageRoleIds: {
  name: guid(storage.id, identity.id, roleId)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleId)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}]

// The output: write access to its container only.
resource outputWriter 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (useOwnStorageForOutput) {
  name: guid(outputStorageName, outputContainer, identity.id, storageBlobDataContributorRoleId)
  scope: outputBlobContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributorRoleId)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource site 'Microsoft.Web/sites@2023-12-01' = {
  name: appName
  location: location
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identity.id}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    reserved: true
    httpsOnly: true
    keyVaultReferenceIdentity: identity.id
    virtualNetworkSubnetId: empty(vnetSubnetId) ? null : vnetSubnetId
    siteConfig: {
      linuxFxVersion: linuxFxVersion
      minimumElasticInstanceCount: 1
      functionAppScaleLimit: maximumElasticWorkerCount
      vnetRouteAllEnabled: !empty(vnetSubnetId)
      healthCheckPath: '/api/health'
      ftpsState: 'Disabled'
      minTlsVersion: '1.2'
      appSettings: concat(runtimeSettings, pgegressSettings, tableSettings, schemaSettings, sinkSettings)
    }
  }
  // The app starts with its settings: the roles they need, and the share it mounts, come first.
  dependsOn: [
    secretsUser
    hostStorageRoles
    outputWriter
    contentShare
  ]
}

// Deployment goes through Azure AD (the pipeline's service connection); no publishing user name and password.
resource scmBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2023-12-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

resource ftpBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2023-12-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

@description('Name of the function app (the pipeline deploys the package to it).')
output functionAppName string = site.name

@description('Host name of the function app: https://<host>/api/health.')
output defaultHostName string = site.properties.defaultHostName

@description('Principal id of the app\'s user-assigned identity (grant it access to an output account other than this deployment\'s).')
output principalId string = identity.properties.principalId
