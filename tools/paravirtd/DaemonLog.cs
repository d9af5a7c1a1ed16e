using System.Globalization;

namespace Paravirt.Daemon;

/// <summary>
/// The daemon's log: one timestamped line per event, appended to <c>$PARAVIRT_RUNDIR/paravirtd.log</c> and, in the
/// foreground, echoed to stderr. Logging never throws: a full disk must not take the daemon down.
/// </summary>
public sealed class DaemonLog : IDisposable
{
    /// <summary>A log larger than this at start-up is moved aside to paravirtd.log.1 so it cannot grow without bound.</summary>
    public const long RotateBytes = 16L * 1024 * 1024;

    private readonly object _gate = new();
    private readonly StreamWriter? _file;
    private readonly TextWriter? _echo;

    public DaemonLog(string? path, TextWriter? echo)
    {
        _echo = echo;
        if (path is null)
            return;
        try
        {
            var info = new FileInfo(path);
            if (info.Exists && info.Length > RotateBytes)
                File.Move(path, path + ".1", overwrite: true);
            var stream = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete);
            _file = new StreamWriter(stream) { AutoFlush = true };
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            echo?.WriteLine($"paravirtd: cannot open log {path}: {e.Message}");
        }
    }

    /// <summary>A log that discards everything (tests).</summary>
    public static DaemonLog None => new(null, null);

    public void Info(string message) => Write("info", message);
    public void Warning(string message) => Write("warn", message);
    public void Error(string message) => Write("error", message);

    private void Write(string level, string message)
    {
        string line = string.Create(CultureInfo.InvariantCulture,
            $"{DateTime.UtcNow:yyyy-MM-dd'T'HH:mm:ss.fff'Z'} {level} {message.ReplaceLineEndings(" ")}");
        lock (_gate)
        {
            try { _file?.WriteLine(line); } catch (Exception e) when (e is IOException or ObjectDisposedException) { }
            try { _echo?.WriteLine(line); } catch (Exception e) when (e is IOException or ObjectDisposedException) { }
        }
    }

    public void Dispose()
    {
        lock (_gate)
            _file?.Dispose();
    }
}
