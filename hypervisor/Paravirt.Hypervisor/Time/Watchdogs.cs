using System.Runtime.CompilerServices;
using Paravirt.Hypervisor.Abi;

namespace Paravirt.Hypervisor.Time;

/// <summary>
/// SCHEDOP_watchdog (xen/common/sched/core.c domain_watchdog): up to two per-domain watchdogs; one that is not
/// re-armed within its timeout shuts the domain down with SHUTDOWN_watchdog.
/// </summary>
public sealed class Watchdogs
{
    /// <summary>NR_DOMAIN_WATCHDOG_TIMERS.</summary>
    public const int Count = 2;

    private static readonly ConditionalWeakTable<Domain, Watchdogs> All = new();
    private readonly Domain _domain;
    private readonly Timer?[] _timers = new Timer?[Count];
    private readonly long[] _generation = new long[Count];

    private Watchdogs(Domain d) => _domain = d;

    public static Watchdogs Of(Domain d) => All.GetValue(d, x => new Watchdogs(x));

    /// <summary>
    /// id 0: claim a free watchdog armed for <paramref name="timeoutSeconds"/> and return its id (1..2), -ENOSPC if
    /// none is free. id 1..2: re-arm it, or release it when the timeout is 0; an id not in use is -EINVAL.
    /// </summary>
    public int Set(uint id, uint timeoutSeconds)
    {
        lock (_timers)
        {
            if (id == 0)
            {
                int free = Array.FindIndex(_timers, t => t == null);
                if (free < 0) return -XenErrno.ENOSPC;
                Arm(free, timeoutSeconds);
                return free + 1;
            }
            if (id > Count || _timers[id - 1] == null) return -XenErrno.EINVAL;
            int slot = (int)id - 1;
            if (timeoutSeconds == 0)
            {
                _timers[slot]!.Dispose();
                _timers[slot] = null;
                _generation[slot]++;
                return 0;
            }
            Arm(slot, timeoutSeconds);
            return 0;
        }
    }

    public bool IsArmed(int id) { lock (_timers) return id >= 1 && id <= Count && _timers[id - 1] != null; }

    private void Arm(int slot, uint seconds)
    {
        _timers[slot]?.Dispose();
        long gen = ++_generation[slot];
        _timers[slot] = new Timer(_ => Expire(slot, gen), null, (long)seconds * 1000, Timeout.Infinite);
    }

    private void Expire(int slot, long gen)
    {
        lock (_timers)
        {
            if (_generation[slot] != gen) return;
            _timers[slot]?.Dispose();
            _timers[slot] = null;
        }
        if (_domain.IsDying || _domain.IsShutdown) return;
        _domain.Hypervisor.Console.Log($"d{_domain.Id}: watchdog {slot + 1} expired");
        _domain.Hypervisor.ShutdownDomain(_domain, ShutdownReason.Watchdog);
    }
}
