using Microsoft.Azure.Functions.Worker;

namespace PgEgress.Functions.Tests.App;

/// <summary>
/// The worker's per-invocation context, with what the app's functions read of it: the app's services and the
/// invocation's cancellation (the host stopping). The rest of the abstract surface is the worker's own business.
/// </summary>
internal sealed class TestFunctionContext(string functionName, IServiceProvider services, CancellationToken cancellation) : FunctionContext
{
    public override string InvocationId { get; } = Guid.NewGuid().ToString();

    public override string FunctionId => functionName;

    public override IServiceProvider InstanceServices { get; set; } = services;

    public override CancellationToken CancellationToken => cancellation;

    public override IDictionary<object, object> Items { get; set; } = new Dictionary<object, object>();

    public override TraceContext TraceContext => throw new NotSupportedException(nameof(TraceContext));

    public override BindingContext BindingContext => throw new NotSupportedException(nameof(BindingContext));

    public override RetryContext RetryContext => throw new NotSupportedException(nameof(RetryContext));

    public override FunctionDefinition FunctionDefinition => throw new NotSupportedException(nameof(FunctionDefinition));

    public override IInvocationFeatures Features => throw new NotSupportedException(nameof(Features));
}
