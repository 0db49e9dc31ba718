using PgEgress.Testing;

namespace PgEgress.Tests.Fixtures;

[CollectionDefinition(Name)]
public sealed class AzuriteCollection : ICollectionFixture<AzuriteFixture>
{
    public const string Name = "azurite";
}
