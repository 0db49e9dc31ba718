using Microsoft.Extensions.Logging;

namespace PgEgress.Tests.Storage;

/// <summary>A logger provider that keeps every formatted message with its level, for asserting on what a component logs.</summary>
internal sealed class CapturedLog : ILoggerProvider
{
    private readonly List<(LogLevel Level, string Message)> _entries = [];

    public IReadOnlyList<(LogLevel Level, string Message)> Entries
    {
        get
        {
            lock (_entries)
            {
                return [.. _entries];
            }
        }
    }

    public ILogger CreateLogger(string categoryName) => new Logger(this);

    public void Dispose()
    {
    }

    private sealed class Logger(CapturedLog log) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (log._entries)
            {
                log._entries.Add((logLevel, formatter(state, exception)));
            }
        }
    }
}
