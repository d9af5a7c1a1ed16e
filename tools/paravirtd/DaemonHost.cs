using System.Runtime.InteropServices;
using Paravirt.Control;
using Paravirt.Domains.Toolstack;

namespace Paravirt.Daemon;

/// <summary>The toolstack the daemon serves, and what to dispose to stop it.</summary>
public sealed record ToolstackHost(IToolstack Toolstack, IDisposable Lifetime);

/// <summary>
/// The daemon's life: take the run directory, start the toolstack, serve the socket until SIGTERM/SIGINT (or
/// <paramref name="stop"/>), then shut down in reverse order and remove the socket and pid file.
/// </summary>
public static class DaemonHost
{
    public static async Task<int> RunAsync(DaemonOptions options, Func<DaemonOptions, ToolstackHost> startToolstack,
        TextWriter stderr, CancellationToken stop = default)
    {
        if (!options.Foreground && !options.Detached)
            return await LaunchDetachedAsync(options, stderr).ConfigureAwait(false);
        if (options.Detached)
            NativeMethods.DetachFromSession();

        RunDirectoryLease lease;
        try
        {
            lease = RunDirectoryLease.Acquire(options.RunDirectory);
        }
        catch (DaemonStartException e)
        {
            await stderr.WriteLineAsync($"paravirtd: {e.Message}").ConfigureAwait(false);
            using var failureLog = new DaemonLog(Directory.Exists(options.RunDirectory.Path) ? options.RunDirectory.LogPath : null, null);
            failureLog.Error(e.Message);
            return 1;
        }

        using (lease)
        using (var log = new DaemonLog(options.RunDirectory.LogPath, options.Foreground ? stderr : null))
        using (var signalled = CancellationTokenSource.CreateLinkedTokenSource(stop))
        {
            log.Info($"paravirtd {Environment.ProcessId} starting: rundir {options.RunDirectory.Path}, host memory {options.HostMemoryMiB} MiB");
            using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, ctx => { ctx.Cancel = true; signalled.Cancel(); });
            using var intr = PosixSignalRegistration.Create(PosixSignal.SIGINT, ctx => { ctx.Cancel = true; signalled.Cancel(); });

            ToolstackHost host;
            try
            {
                host = startToolstack(options);
            }
            catch (Exception e)
            {
                log.Error($"cannot start the toolstack: {e.GetType().Name}: {e.Message}");
                if (options.Foreground)
                    await stderr.WriteLineAsync($"paravirtd: cannot start the toolstack: {e.Message}").ConfigureAwait(false);
                return 1;
            }

            using (host.Lifetime)
            {
                var server = new ControlServer(new RequestDispatcher(host.Toolstack, log), options.RunDirectory.SocketPath, log);
                try
                {
                    server.Start();
                }
                catch (System.Net.Sockets.SocketException e)
                {
                    log.Error($"cannot listen on {options.RunDirectory.SocketPath}: {e.Message}");
                    return 1;
                }
                await using (server.ConfigureAwait(false))
                {
                    try { await Task.Delay(Timeout.Infinite, signalled.Token).ConfigureAwait(false); }
                    catch (OperationCanceledException) { }
                    log.Info("shutting down");
                }
            }
            log.Info("stopped");
            return 0;
        }
    }

    /// <summary>Plain `paravirtd`: start the real daemon detached, wait until it answers, and return.</summary>
    private static async Task<int> LaunchDetachedAsync(DaemonOptions options, TextWriter stderr)
    {
        if (await DaemonLauncher.PingAsync(options.RunDirectory.SocketPath).ConfigureAwait(false))
        {
            int? pid = RunDirectoryLease.ReadLivePid(options.RunDirectory.PidFilePath);
            await stderr.WriteLineAsync($"paravirtd: already running{(pid is { } p ? $" (pid {p})" : "")}").ConfigureAwait(false);
            return 1;
        }
        try
        {
            string self = typeof(DaemonHost).Assembly.Location;
            int pid = DaemonLauncher.SpawnDetached(self, options.RunDirectory,
                ["--host-memory", options.HostMemoryMiB.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
            await DaemonLauncher.WaitUntilAnsweringAsync(options.RunDirectory, pid, DaemonLauncher.StartTimeout).ConfigureAwait(false);
            return 0;
        }
        catch (DaemonUnavailableException e)
        {
            await stderr.WriteLineAsync($"paravirtd: {e.Message}").ConfigureAwait(false);
            return 1;
        }
    }

    private static class NativeMethods
    {
        [DllImport("libc", SetLastError = true)]
        private static extern int setsid();

        /// <summary>
        /// Leave the launching terminal's session so its hangup or job-control signals never reach the daemon.
        /// EPERM (already a session or group leader) is fine: then there is nothing to leave.
        /// </summary>
        internal static void DetachFromSession()
        {
            if (!OperatingSystem.IsWindows())
                _ = setsid();
        }
    }
}
