using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using Paravirt.Control.Messages;

namespace Paravirt.Control;

/// <summary>Why paravirtd could not be reached or started; one line for the administrator.</summary>
public sealed class DaemonUnavailableException(string message) : Exception(message);

/// <summary>
/// Finds, starts and waits for paravirtd. Used by xl (start on demand) and by paravirtd itself (a plain
/// <c>paravirtd</c> re-launches itself detached and returns once the socket answers).
/// </summary>
public static class DaemonLauncher
{
    /// <summary>The option that tells paravirtd it was already detached by this launcher.</summary>
    public const string DetachedOption = "--detached";

    /// <summary>How long a fresh daemon may take to answer on its socket (it boots the hypervisor and Dom0 first).</summary>
    public static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);

    /// <summary>
    /// paravirtd.dll next to the caller (a published layout), else in the sibling artifacts folder of the same
    /// configuration: with UseArtifactsOutput the caller is artifacts/bin/&lt;project&gt;/&lt;config&gt;/ and the daemon
    /// artifacts/bin/paravirtd/&lt;config&gt;/.
    /// </summary>
    public static IReadOnlyList<string> DaemonDllCandidates(string callerDirectory)
    {
        string dir = Path.TrimEndingDirectorySeparator(Path.GetFullPath(callerDirectory));
        var candidates = new List<string> { Path.Combine(dir, "paravirtd.dll") };
        string configuration = Path.GetFileName(dir);
        string? binDirectory = Path.GetDirectoryName(Path.GetDirectoryName(dir));
        if (configuration.Length > 0 && binDirectory is not null)
            candidates.Add(Path.Combine(binDirectory, "paravirtd", configuration, "paravirtd.dll"));
        return candidates;
    }

    public static string FindDaemonDll(string callerDirectory)
    {
        var candidates = DaemonDllCandidates(callerDirectory);
        return candidates.FirstOrDefault(File.Exists)
            ?? throw new DaemonUnavailableException($"cannot find paravirtd.dll (looked for {string.Join(" and ", candidates)})");
    }

    /// <summary>The dotnet host running this process when it is one, else "dotnet" from PATH.</summary>
    public static string DotnetHost()
    {
        string? self = Environment.ProcessPath;
        return self is not null && Path.GetFileNameWithoutExtension(self) == "dotnet" ? self : "dotnet";
    }

    /// <summary>True when a daemon answers a ping on the socket.</summary>
    public static async Task<bool> PingAsync(string socketPath, CancellationToken cancellationToken = default)
    {
        if (!File.Exists(socketPath))
            return false;
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(5));
            using var client = await ControlClient.ConnectAsync(socketPath, timeout.Token).ConfigureAwait(false);
            var reply = await client.RequestAsync(new ControlRequest { Op = ControlOps.Ping }, timeout.Token).ConfigureAwait(false);
            return reply.Ok;
        }
        catch (Exception e) when (e is SocketException or IOException or OperationCanceledException or Protocol.ProtocolException)
        {
            return false;
        }
    }

    /// <summary>
    /// Start <c>dotnet paravirtd.dll --detached ...</c> in the background with stdio on /dev/null, so it outlives the
    /// caller and holds none of its pipes. The daemon calls setsid() itself. Returns the daemon's pid.
    /// </summary>
    public static int SpawnDetached(string daemonDll, RunDirectory runDirectory, IEnumerable<string> extraArguments)
    {
        // sh starts the daemon as an asynchronous command and prints its pid; the daemon's stdio goes to /dev/null
        // before it runs, so a caller capturing our output does not wait for the daemon to exit.
        var start = new ProcessStartInfo("/bin/sh")
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardInput = false,
            RedirectStandardError = false,
        };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add("\"$@\" </dev/null >/dev/null 2>&1 & echo $!");
        start.ArgumentList.Add("sh");
        start.ArgumentList.Add(DotnetHost());
        start.ArgumentList.Add(daemonDll);
        start.ArgumentList.Add(DetachedOption);
        start.ArgumentList.Add("--rundir");
        start.ArgumentList.Add(runDirectory.Path);
        foreach (string argument in extraArguments)
            start.ArgumentList.Add(argument);

        try
        {
            using var shell = Process.Start(start) ?? throw new DaemonUnavailableException("cannot start /bin/sh to launch paravirtd");
            string output = shell.StandardOutput.ReadToEnd();
            shell.WaitForExit();
            if (!int.TryParse(output.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out int pid) || pid <= 0)
                throw new DaemonUnavailableException($"launching paravirtd failed (shell said '{output.Trim()}')");
            return pid;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new DaemonUnavailableException($"cannot launch paravirtd: {e.Message}");
        }
    }

    /// <summary>
    /// Wait until the daemon answers, giving up when <paramref name="timeout"/> passes or the process
    /// <paramref name="pid"/> exits first (then the last line of its log says why).
    /// </summary>
    public static async Task WaitUntilAnsweringAsync(RunDirectory runDirectory, int pid, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            if (await PingAsync(runDirectory.SocketPath, cancellationToken).ConfigureAwait(false))
                return;
            if (!IsAlive(pid))
            {
                // It may have lost a start-up race to another daemon that now serves the socket.
                if (await PingAsync(runDirectory.SocketPath, cancellationToken).ConfigureAwait(false))
                    return;
                string why = LastLogLine(runDirectory.LogPath) is { } line ? $": {line}" : $"; see {runDirectory.LogPath}";
                throw new DaemonUnavailableException($"paravirtd exited during start-up{why}");
            }
            if (clock.Elapsed > timeout)
                throw new DaemonUnavailableException($"paravirtd did not answer on {runDirectory.SocketPath} within {timeout.TotalSeconds:0} s; see {runDirectory.LogPath}");
            await Task.Delay(50, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Make sure a daemon serves <paramref name="runDirectory"/>, starting one from <paramref name="daemonDll"/> if needed.</summary>
    public static async Task EnsureRunningAsync(RunDirectory runDirectory, Func<string> daemonDll, IEnumerable<string> extraArguments, CancellationToken cancellationToken = default)
    {
        if (await PingAsync(runDirectory.SocketPath, cancellationToken).ConfigureAwait(false))
            return;
        if (runDirectory.CheckSocketPath() is { } tooLong)
            throw new DaemonUnavailableException(tooLong);
        int pid = SpawnDetached(daemonDll(), runDirectory, extraArguments);
        await WaitUntilAnsweringAsync(runDirectory, pid, StartTimeout, cancellationToken).ConfigureAwait(false);
    }

    private static bool IsAlive(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            return false;
        }
    }

    private static string? LastLogLine(string logPath)
    {
        try
        {
            using var stream = new FileStream(logPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            stream.Seek(Math.Max(0, stream.Length - 4096), SeekOrigin.Begin);
            using var reader = new StreamReader(stream);
            return reader.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
