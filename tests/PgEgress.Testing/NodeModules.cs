namespace PgEgress.Testing;

/// <summary>
/// Makes sure the repository's npm packages (Azurite) are installed, running `npm ci` at most once even when
/// several test processes start at the same time: they serialize on an exclusive lock file.
/// </summary>
public static class NodeModules
{
    private static readonly TimeSpan InstallDeadline = TimeSpan.FromMinutes(5);

    public static string Bin(string tool) => Path.Combine(RepositoryRoot.Path, "node_modules", ".bin", tool);

    /// <summary>Installs the packages from package-lock.json unless <paramref name="tool"/> is already there.</summary>
    public static async Task EnsureInstalledAsync(string tool, CancellationToken ct)
    {
        if (File.Exists(Bin(tool)))
        {
            return;
        }

        var lockFolder = Path.Combine(RepositoryRoot.Path, ".pgegress");
        Directory.CreateDirectory(lockFolder);
        await using var installLock = await AcquireAsync(Path.Combine(lockFolder, "npm-ci.lock"), ct);
        if (File.Exists(Bin(tool)))
        {
            return; // Another process installed while this one waited.
        }

        await RunNpmCiAsync(ct);
        if (!File.Exists(Bin(tool)))
        {
            throw new InvalidOperationException($"`npm ci` succeeded but {Bin(tool)} is missing; is it in package.json?");
        }
    }

    /// <summary>
    /// FileShare.None takes an flock on Unix. The file is left in place: deleting it on release would let a
    /// waiter lock a new file of the same name while another still locks the old one.
    /// </summary>
    private static async Task<FileStream> AcquireAsync(string path, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + InstallDeadline;
        while (true)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(250), ct);
            }
        }
    }

    private static async Task RunNpmCiAsync(CancellationToken ct)
    {
        ProcessResult result;
        try
        {
            result = await ProcessRunner.RunAsync("npm", ["ci", "--no-audit", "--no-fund"],
                new RunOptions { WorkingDirectory = RepositoryRoot.Path, Timeout = InstallDeadline }, ct);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException("npm is not installed: the Azurite tests need Node.js and npm (or set PGEGRESS_TEST_AZURITE).", e);
        }

        result.EnsureSuccess("Installing the npm packages (Azurite) for the tests.");
    }
}
