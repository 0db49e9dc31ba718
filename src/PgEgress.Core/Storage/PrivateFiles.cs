namespace PgEgress.Core.Storage;

/// <summary>
/// Creates folders 0700 and files 0600: spool, spill, reload and output files hold rows of the source database,
/// which no other local user may read. On Windows the folder's ACL applies instead.
/// </summary>
public static class PrivateFiles
{
    public const UnixFileMode FolderMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    public const UnixFileMode FileMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>
    /// Creates the folder and any missing parents as 0700. Directory.CreateDirectory applies its mode to the
    /// last folder only, so each level is created in turn. An existing folder keeps its mode.
    /// </summary>
    public static void CreateFolder(string folder)
    {
        if (Directory.Exists(folder)) return;
        if (Path.GetDirectoryName(folder) is { } parent) CreateFolder(parent);
        if (OperatingSystem.IsWindows()) Directory.CreateDirectory(folder);
        else Directory.CreateDirectory(folder, FolderMode);
    }

    /// <summary>Opens a new file created 0600 (the mode applies only when <paramref name="mode"/> creates it).</summary>
    public static FileStream Open(string path, System.IO.FileMode mode, FileAccess access, int bufferSize,
        FileOptions options = FileOptions.None)
    {
        var streamOptions = new FileStreamOptions
        {
            Mode = mode,
            Access = access,
            Share = FileShare.None,
            BufferSize = bufferSize,
            Options = options,
        };
        if (!OperatingSystem.IsWindows()) streamOptions.UnixCreateMode = FileMode;
        return new FileStream(path, streamOptions);
    }
}
