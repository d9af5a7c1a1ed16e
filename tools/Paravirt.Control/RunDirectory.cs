using System.Runtime.InteropServices;

namespace Paravirt.Control;

/// <summary>
/// Where paravirtd keeps its runtime state, and the one place that decides it.
/// <para>
/// The directory is <c>$PARAVIRT_RUNDIR</c> when that variable is set and not empty, otherwise
/// <c>/tmp/paravirt-&lt;uid&gt;</c> (uid = effective user id), so each user gets an own daemon. It holds:
/// <list type="bullet">
/// <item><c>paravirtd.sock</c> — the control socket xl talks to (<see cref="SocketPath"/>);</item>
/// <item><c>paravirtd.pid</c> — the pid of the daemon that owns the directory (<see cref="PidFilePath"/>);</item>
/// <item><c>paravirtd.lock</c> — held locked while a daemon runs, so two can never serve one directory;</item>
/// <item><c>paravirtd.log</c> — the daemon's log (<see cref="LogPath"/>).</item>
/// </list>
/// The daemon creates the directory with mode 0700: the socket grants full control of every domain, so only its
/// owner may reach it.
/// </para>
/// </summary>
public sealed class RunDirectory
{
    /// <summary>The environment variable that overrides the default location.</summary>
    public const string EnvironmentVariable = "PARAVIRT_RUNDIR";

    /// <summary>sockaddr_un.sun_path on Linux is 108 bytes including the terminating NUL.</summary>
    public const int MaxSocketPathBytes = 107;

    public RunDirectory(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        Path = System.IO.Path.GetFullPath(path);
    }

    public string Path { get; }
    public string SocketPath => System.IO.Path.Combine(Path, "paravirtd.sock");
    public string PidFilePath => System.IO.Path.Combine(Path, "paravirtd.pid");
    public string LockFilePath => System.IO.Path.Combine(Path, "paravirtd.lock");
    public string LogPath => System.IO.Path.Combine(Path, "paravirtd.log");

    /// <summary>The directory named by <c>$PARAVIRT_RUNDIR</c>, else the per-user default.</summary>
    public static RunDirectory FromEnvironment() =>
        new(Resolve(Environment.GetEnvironmentVariable(EnvironmentVariable)));

    /// <summary>The run directory for a given value of <c>$PARAVIRT_RUNDIR</c> (null or empty: the default).</summary>
    public static string Resolve(string? environmentValue) =>
        string.IsNullOrWhiteSpace(environmentValue) ? DefaultPath : environmentValue;

    public static string DefaultPath => $"/tmp/paravirt-{EffectiveUserId()}";

    /// <summary>Null when the socket path fits sockaddr_un, else the one-line reason it does not.</summary>
    public string? CheckSocketPath()
    {
        int bytes = System.Text.Encoding.UTF8.GetByteCount(SocketPath);
        return bytes <= MaxSocketPathBytes
            ? null
            : $"socket path {SocketPath} is {bytes} bytes, longer than the {MaxSocketPathBytes} a Unix socket allows; set {EnvironmentVariable} to a shorter directory";
    }

    private static uint EffectiveUserId() => OperatingSystem.IsWindows() ? 0 : NativeMethods.geteuid();

    private static class NativeMethods
    {
        [DllImport("libc", SetLastError = false)]
        internal static extern uint geteuid();
    }
}
