using Paravirt.Hypervisor;
using Paravirt.XlConfig;
using HvShutdown = Paravirt.Hypervisor.ShutdownReason;

namespace Paravirt.Domains.Toolstack;

/// <summary>
/// Domain death: the on_poweroff/on_reboot/on_watchdog/on_crash actions, and the pause before a restart. xl waits
/// after tearing a domain down before it builds the next one ("Done. Rebooting now" then sleep(2) in
/// tools/xl/xl_vmcontrol.c); besides pacing a guest that crashes at once, that window is where an administrator
/// stops a crash loop: `xl destroy &lt;name&gt;` during it cancels the restart.
/// </summary>
public sealed partial class Toolstack
{
    /// <summary>xl's pause between the end of a domain and its re-creation by a restart action (xl_vmcontrol.c: sleep(2)).</summary>
    public static readonly TimeSpan XlRestartDelay = TimeSpan.FromSeconds(2);

    /// <summary>How long a restart action waits after tearing the old domain down before building the new one.</summary>
    public TimeSpan RestartDelay
    {
        get => _restartDelay;
        set
        {
            if (value < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(value), value, "the restart delay cannot be negative");
            _restartDelay = value;
        }
    }

    private TimeSpan _restartDelay = XlRestartDelay;

    /// <summary>Restarts waiting out <see cref="RestartDelay"/>; guarded by _createLock so a restart and its cancellation never interleave.</summary>
    private readonly List<PendingRestart> _pendingRestarts = [];
    private bool _restartsClosed;

    /// <summary>A restart between the old domain's teardown and the new domain's creation.</summary>
    private sealed class PendingRestart(ManagedGuest previous)
    {
        public ManagedGuest Previous { get; } = previous;
        public CancellationTokenSource Cancel { get; } = new();
        /// <summary>True when <paramref name="name"/> designates this restart: the configured name, or the name the dead domain last had.</summary>
        public bool IsNamed(string name) => name == Previous.Config.Name || name == Previous.Name;
    }

    /// <summary>
    /// Cancel a restart that is waiting to re-create the domain called <paramref name="name"/> (what `xl destroy` means
    /// for a domain that has no domid at the moment). False when no restart of that name is pending.
    /// </summary>
    public bool CancelPendingRestart(string name)
    {
        PendingRestart? pending;
        lock (_createLock)
        {
            pending = _pendingRestarts.FirstOrDefault(p => p.IsNamed(name));
            if (pending == null) return false;
            _pendingRestarts.Remove(pending);
        }
        pending.Cancel.Cancel();
        pending.Previous.Successor.TrySetResult(null);
        _hv.Console.Log($"d{pending.Previous.Domain.Id}: restart of \"{pending.Previous.Config.Name}\" cancelled by destroy");
        return true;
    }

    /// <summary>Death handlers queued or running; Dispose waits for them, so none touches a disposed hypervisor.</summary>
    private int _deathHandlers;
    private bool _deathHandlersClosed;
    private readonly object _deathLock = new();

    private void OnDomainShutdown(Domain d)
    {
        lock (_deathLock)
        {
            if (_deathHandlersClosed) return;
            _deathHandlers++;
        }
        // Runs on the guest's vCPU thread: act elsewhere, as libxl reacts to VIRQ_DOM_EXC from its own loop.
        ThreadPool.QueueUserWorkItem(_ =>
        {
            try { HandleDeath(d); }
            finally
            {
                lock (_deathLock)
                {
                    if (--_deathHandlers == 0) Monitor.PulseAll(_deathLock);
                }
            }
        });
    }

    /// <summary>Called by Dispose: accept no new death handlers and wait for the running ones to finish.</summary>
    private void DrainDeathHandlers(TimeSpan limit)
    {
        var deadline = DateTime.UtcNow + limit;
        lock (_deathLock)
        {
            _deathHandlersClosed = true;
            while (_deathHandlers > 0)
            {
                var left = deadline - DateTime.UtcNow;
                if (left <= TimeSpan.Zero || !Monitor.Wait(_deathLock, left)) break;
            }
        }
    }

    private void HandleDeath(Domain d)
    {
        if (!_guests.TryGetValue(d.Id, out var g)) return;
        var reason = d.ShutdownReason ?? HvShutdown.Crash;
        var action = reason switch
        {
            HvShutdown.Poweroff => g.Config.OnPoweroff,
            HvShutdown.Reboot => g.Config.OnReboot,
            HvShutdown.Watchdog => g.Config.OnWatchdog,
            HvShutdown.SoftReset => DomainAction.Destroy,
            _ => g.Config.OnCrash,
        };
        _hv.Console.Log($"d{d.Id}: shutdown reason {reason.ToString().ToLowerInvariant()}, action {action}");
        switch (action)
        {
            case DomainAction.Preserve:
                // Keep the domain for inspection; console sessions end now.
                g.Console.Drain();
                g.End.TrySetResult(new DomainEnd((ShutdownReason)(uint)reason, false, d.CrashMessage));
                break;
            case DomainAction.Restart:
            {
                // Registered before the teardown hides the domain, so `xl destroy <name>` always finds one of
                // them. Only the teardown that wins restarts: an `xl destroy` racing the shutdown means "stop".
                var pending = RegisterRestart(g);
                if (Teardown(d, destroyed: false)) StartRestart(pending);
                else DropRestart(pending);
                break;
            }
            case DomainAction.RenameRestart:
            {
                // xl's preserve_domain: the dead domain stays, renamed <name> plus the UTC minute as "-%Y%m%dT%H%MZ"
                // (libxl_domain_preserve appends the suffix); a new one takes the name. If the rename fails (a domain
                // already preserved in the same minute) xl leaves the old domain in place and does not restart.
                var pending = RegisterRestart(g);
                string preserved = g.Config.Name + PreserveSuffix(DateTime.UtcNow);
                _hv.Console.Log($"d{d.Id}: preserving domain {d.Id} {g.Config.Name} with suffix{preserved[g.Config.Name.Length..]}");
                bool renamed = true;
                try { Rename(d.Id, preserved); }
                catch (ToolstackException e)
                {
                    _hv.Console.Log($"d{d.Id}: rename to {preserved} failed: {e.Message}; not restarted");
                    renamed = false;
                }
                g.Console.Drain();
                g.End.TrySetResult(new DomainEnd((ShutdownReason)(uint)reason, false, d.CrashMessage));
                if (renamed) StartRestart(pending);
                else DropRestart(pending);
                break;
            }
            case DomainAction.CoredumpDestroy:
            case DomainAction.CoredumpRestart:
            {
                var pending = action == DomainAction.CoredumpRestart ? RegisterRestart(g) : null;
                WriteCore(g);
                if (Teardown(d, destroyed: false)) StartRestart(pending);
                else DropRestart(pending);
                break;
            }
            default:
                Teardown(d, destroyed: false);
                break;
        }
        // Whatever was not handed to a restart ends here: xl create -F stops following this configuration.
        if (action is not (DomainAction.Restart or DomainAction.RenameRestart or DomainAction.CoredumpRestart))
            g.Successor.TrySetResult(null);
    }

    /// <summary>The suffix xl's preserve_domain gives a rename-restarted domain: strftime "-%Y%m%dT%H%MZ" of UTC now.</summary>
    public static string PreserveSuffix(DateTime utc) =>
        utc.ToString("'-'yyyyMMdd'T'HHmm'Z'", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Record that <paramref name="g"/>'s configuration is to be built again; null when it must not be.</summary>
    private PendingRestart? RegisterRestart(ManagedGuest g)
    {
        var pending = new PendingRestart(g);
        lock (_createLock)
        {
            if (!g.DestroyRequested && !_restartsClosed)
            {
                _pendingRestarts.Add(pending);
                return pending;
            }
        }
        g.Successor.TrySetResult(null);
        return null;
    }

    /// <summary>A registered restart whose domain was destroyed by someone else first: forget it.</summary>
    private void DropRestart(PendingRestart? pending)
    {
        if (pending == null) return;
        lock (_createLock) _pendingRestarts.Remove(pending);
        pending.Previous.Successor.TrySetResult(null);
    }

    /// <summary>Build the configuration again after <see cref="RestartDelay"/>, unless cancelled or destroyed meanwhile.</summary>
    private void StartRestart(PendingRestart? pending)
    {
        if (pending == null) return;
        var g = pending.Previous;
        _hv.Console.Log($"d{g.Domain.Id}: done. Rebooting \"{g.Config.Name}\" in {RestartDelay.TotalSeconds:0.###} s");
        _ = Task.Delay(RestartDelay, pending.Cancel.Token).ContinueWith(t =>
        {
            if (t.IsCanceled)
            {
                g.Successor.TrySetResult(null);
                return;
            }
            // Taking the pending entry and building the new domain happen under one lock, so `xl destroy` either
            // cancels the restart or finds the new domain, never neither.
            lock (_createLock)
            {
                if (!_pendingRestarts.Remove(pending))
                {
                    g.Successor.TrySetResult(null);
                    return;
                }
                if (g.DestroyRequested)
                {
                    _hv.Console.Log($"d{g.Domain.Id}: destroyed while shutting down; not restarted");
                    g.Successor.TrySetResult(null);
                    return;
                }
                Restart(g);
            }
        }, TaskScheduler.Default);
    }

    private void Restart(ManagedGuest g)
    {
        try
        {
            var info = Create(g.Config, paused: false);
            if (_guests.TryGetValue((ushort)info.DomId, out var fresh)) fresh.Incarnation = g.Incarnation + 1;
            g.Successor.TrySetResult(info);
        }
        catch (ToolstackException e) { _hv.Console.Log($"d{g.Domain.Id}: restart failed: {e.Message}"); }
        finally { g.Successor.TrySetResult(null); }
    }

    /// <summary>Called by Dispose: no restart may start once the toolstack is going away.</summary>
    private void CancelAllRestarts()
    {
        List<PendingRestart> pending;
        lock (_createLock)
        {
            _restartsClosed = true;
            pending = [.. _pendingRestarts];
            _pendingRestarts.Clear();
        }
        foreach (var p in pending)
        {
            p.Cancel.Cancel();
            p.Previous.Successor.TrySetResult(null);
        }
    }
}
