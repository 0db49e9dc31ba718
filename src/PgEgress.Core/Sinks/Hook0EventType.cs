namespace PgEgress.Core.Sinks;

/// <summary>The Hook0 event type of a change: service (the schema), resource_type (the table) and verb, each fitted to Hook0's limits.</summary>
public sealed record Hook0EventType(string Service, string ResourceType, string Verb)
{
    /// <summary>The event_type of an event: Hook0 names a type service.resource_type.verb.</summary>
    public string Name => $"{Service}.{ResourceType}.{Verb}";

    public static Hook0EventType Of(SinkEvent e) =>
        new(Hook0Text.Part(e.Row.Relation.Namespace), Hook0Text.Part(e.Row.Relation.Name), e.EventType[(e.EventType.LastIndexOf('.') + 1)..]);
}
