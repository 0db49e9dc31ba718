using Microsoft.Extensions.Logging;

namespace PgEgress.Tests.Reload;

/// <summary>Keeps every message logged at <see cref="LogLevel.Warning"/> or above, formatted, for assertions.</summary>
internal sealed class RecordingLogger<T> : ILogger<T>
{
    private readonly List<string> _warnings = [];

    public List<string> Warnings
    {
        get
        {
            lock (_warnings) return [.. _warnings];
        }
    }

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (!IsEnabled(logLevel)) return;
        lock (_warnings) _warnings.Add(formatter(state, exception));
    }
}
