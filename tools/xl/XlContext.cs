using Paravirt.Control;

namespace Paravirt.Xl;

/// <summary>Reaches the daemon: the real one starts paravirtd on demand; tests point at an in-process server.</summary>
public interface IDaemonConnector
{
    Task<ControlClient> ConnectAsync(CancellationToken cancellationToken);
}

/// <summary>Connects to the daemon of a run directory, starting paravirtd first when nothing answers there.</summary>
public sealed class DaemonConnector(RunDirectory runDirectory, string xlDirectory) : IDaemonConnector
{
    public async Task<ControlClient> ConnectAsync(CancellationToken cancellationToken)
    {
        await DaemonLauncher.EnsureRunningAsync(runDirectory, () => DaemonLauncher.FindDaemonDll(xlDirectory), [], cancellationToken)
            .ConfigureAwait(false);
        return await ControlClient.ConnectAsync(runDirectory.SocketPath, cancellationToken).ConfigureAwait(false);
    }
}

/// <summary>Connects to a socket that must already be served.</summary>
public sealed class SocketConnector(string socketPath) : IDaemonConnector
{
    public Task<ControlClient> ConnectAsync(CancellationToken cancellationToken) =>
        ControlClient.ConnectAsync(socketPath, cancellationToken);
}

/// <summary>
/// Everything xl touches outside itself, so commands run the same against a terminal or against test streams.
/// <see cref="Out"/> and <see cref="Error"/> carry text; <see cref="ConsoleOut"/> and <see cref="ConsoleIn"/> carry
/// raw console bytes.
/// </summary>
public sealed record XlContext(
    TextWriter Out,
    TextWriter Error,
    Stream ConsoleOut,
    Stream ConsoleIn,
    bool ConsoleInIsTerminal,
    IDaemonConnector Daemon,
    Func<IDisposable?> EnterRawMode)
{
    /// <summary>Global -N: commands that can print what they would do do so and change nothing.</summary>
    public bool DryRun { get; init; }
    /// <summary>Global -v, counted.</summary>
    public int Verbosity { get; init; }

    public static XlContext FromProcess()
    {
        // Raw descriptors 0 and 1: console bytes pass through untouched (see UnixFdStream for why not FileStream).
        var stdin = new UnixFdStream(0, FileAccess.Read);
        var stdout = new UnixFdStream(1, FileAccess.Write);
        var xlDirectory = AppContext.BaseDirectory;
        return new XlContext(Console.Out, Console.Error, stdout, stdin, Terminal.StdinIsTerminal,
            new DaemonConnector(RunDirectory.FromEnvironment(), xlDirectory), Terminal.EnterRawMode);
    }
}

/// <summary>A command failed: print <see cref="Exception.Message"/> (one line) on stderr and exit with <see cref="ExitCode"/>.</summary>
public sealed class XlFailure(string message, int exitCode = XlExit.Failure) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}

/// <summary>xl's exit statuses: EXIT_SUCCESS, EXIT_FAILURE, and 2 for usage errors (def_getopt in xl_utils.c).</summary>
public static class XlExit
{
    public const int Success = 0;
    public const int Failure = 1;
    public const int Usage = 2;
}
