namespace PgEgress.Tests.HostProcess;

/// <summary>Polls until a read yields a value, within a deadline; the timeout names what was awaited and the last failure.</summary>
internal static class Eventually
{
    public static async Task<T> ValueAsync<T>(Func<Task<T?>> read, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        Exception? last = null;
        while (true)
        {
            try
            {
                if (await read() is { } value) return value;
            }
            catch (Exception e) when (e is HttpRequestException or IOException or TaskCanceledException)
            {
                last = e;
            }
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"waited {timeout} for {what}{(last is null ? "" : $"; last failure: {last.Message}")}");
            await Task.Delay(100);
        }
    }
}
