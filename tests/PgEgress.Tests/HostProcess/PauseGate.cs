namespace PgEgress.Tests.HostProcess;

/// <summary>
/// Holds a host process at one of CrashPoint's pause points (PGEGRESS_PAUSE_AT, PGEGRESS_PAUSE_DIR): the host writes
/// "reached" into the gate's folder when it gets there and waits until the test creates "release".
/// </summary>
public sealed class PauseGate : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("pgegress-pause-").FullName;

    /// <param name="point">The pause point, optionally with a subject prefix ("store-put:app.accounts/").</param>
    public PauseGate(string point) => Point = point;

    public string Point { get; }

    /// <summary>The host's environment variables that arm the gate.</summary>
    public IReadOnlyDictionary<string, string?> Environment => new Dictionary<string, string?>
    {
        ["PGEGRESS_PAUSE_AT"] = Point,
        ["PGEGRESS_PAUSE_DIR"] = _folder,
    };

    /// <summary>Waits until the host is held at the point; fails if it exits first or does not get there in time.</summary>
    public async Task WaitReachedAsync(HostProcess host, TimeSpan timeout)
    {
        var reached = Path.Combine(_folder, "reached");
        var deadline = DateTime.UtcNow + timeout;
        while (!File.Exists(reached))
        {
            if (host.HasExited) throw new InvalidOperationException($"the host exited before reaching {Point}; stderr: {host.StandardError}");
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"the host did not reach {Point} within {timeout}");
            await Task.Delay(20);
        }
    }

    /// <summary>Lets the held host (and any later caller of the point) go on.</summary>
    public void Release() => File.WriteAllText(Path.Combine(_folder, "release"), "");

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
