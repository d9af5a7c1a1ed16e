using System.Diagnostics;
using System.Globalization;
using Paravirt.Control;

namespace Paravirt.Daemon;

/// <summary>Why the daemon could not take its run directory; one line for the administrator.</summary>
public sealed class DaemonStartException(string message) : Exception(message);

/// <summary>
/// Exclusive ownership of a run directory for the daemon's lifetime: the directory exists with mode 0700 and is
/// ours, <c>paravirtd.lock</c> is held (flock, via FileShare.None) so a second daemon cannot serve the same socket,
/// and <c>paravirtd.pid</c> names this process. Disposing removes the pid file and the socket and drops the lock.
/// </summary>
public sealed class RunDirectoryLease : IDisposable
{
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    private readonly FileStream _lock;
    private bool _disposed;

    private RunDirectoryLease(RunDirectory directory, FileStream lockFile)
    {
        Directory = directory;
        _lock = lockFile;
    }

    public RunDirectory Directory { get; }

    /// <summary>Take the directory, or throw <see cref="DaemonStartException"/> saying why not.</summary>
    public static RunDirectoryLease Acquire(RunDirectory directory)
    {
        if (directory.CheckSocketPath() is { } tooLong)
            throw new DaemonStartException(tooLong);
        PrepareDirectory(directory.Path);

        // Another live daemon named in the pid file wins even if it predates the lock file.
        if (ReadLivePid(directory.PidFilePath) is { } other && other != Environment.ProcessId)
            throw new DaemonStartException($"paravirtd is already running (pid {other}, {directory.PidFilePath})");

        FileStream lockFile;
        try
        {
            lockFile = new FileStream(directory.LockFilePath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException)
        {
            string who = ReadLivePid(directory.PidFilePath) is { } pid ? $"pid {pid}" : "another process";
            throw new DaemonStartException($"paravirtd is already running ({who} holds {directory.LockFilePath})");
        }
        catch (UnauthorizedAccessException e)
        {
            throw new DaemonStartException($"cannot open {directory.LockFilePath}: {e.Message}");
        }

        try
        {
            // We hold the lock: any socket or pid file left here belongs to a daemon that died without cleaning up.
            File.Delete(directory.SocketPath);
            File.WriteAllText(directory.PidFilePath, Environment.ProcessId.ToString(CultureInfo.InvariantCulture) + "\n");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            lockFile.Dispose();
            throw new DaemonStartException($"cannot write {directory.PidFilePath}: {e.Message}");
        }
        return new RunDirectoryLease(directory, lockFile);
    }

    /// <summary>
    /// The pid in a pid file when that process is alive and is a paravirtd, else null (no file, garbage, stale pid,
    /// or a pid reused by an unrelated program).
    /// </summary>
    public static int? ReadLivePid(string pidFilePath)
    {
        string text;
        try { text = File.ReadAllText(pidFilePath); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }

        if (!int.TryParse(text.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out int pid) || pid <= 0)
            return null;
        try
        {
            using var process = Process.GetProcessById(pid);
            if (process.HasExited)
                return null;
        }
        catch (ArgumentException) { return null; }
        catch (InvalidOperationException) { return null; }
        return IsParavirtd(pid) ? pid : null;
    }

    private static bool IsParavirtd(int pid)
    {
        try
        {
            // /proc/<pid>/cmdline is NUL-separated argv; paravirtd runs as "dotnet .../paravirtd.dll" or as "paravirtd".
            string cmdline = File.ReadAllText($"/proc/{pid}/cmdline");
            return cmdline.Split('\0').Any(arg => Path.GetFileNameWithoutExtension(arg) == "paravirtd");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Without /proc we cannot tell a reused pid apart; assume the daemon to stay on the safe side.
            return true;
        }
    }

    private static void PrepareDirectory(string path)
    {
        if (OperatingSystem.IsWindows())
            throw new DaemonStartException("paravirtd needs Unix file modes and sockets; it runs on Linux");
        try
        {
            var info = new DirectoryInfo(path);
            if (info.Exists && info.LinkTarget is not null)
                throw new DaemonStartException($"run directory {path} is a symbolic link; refusing to use it");
            if (!info.Exists)
                System.IO.Directory.CreateDirectory(path, OwnerOnly);
            // chmod succeeds only for the owner, so this also proves the directory (in a shared /tmp) is ours.
            File.SetUnixFileMode(path, OwnerOnly);
        }
        catch (DaemonStartException)
        {
            throw;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DaemonStartException($"cannot use run directory {path}: {e.Message}");
        }
    }

    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        TryDelete(Directory.SocketPath);
        TryDelete(Directory.PidFilePath);
        _lock.Dispose();
    }

    private static void TryDelete(string path)
    {
        try { File.Delete(path); } catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }
}
