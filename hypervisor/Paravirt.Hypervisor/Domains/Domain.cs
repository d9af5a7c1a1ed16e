using Paravirt.Hypervisor.Abi;
using Paravirt.Hypervisor.Events;
using Paravirt.Hypervisor.Grants;

namespace Paravirt.Hypervisor;

/// <summary>Why a domain stopped running: SHUTDOWN_* of xen/include/public/sched.h.</summary>
public enum ShutdownReason : uint
{
    Poweroff = 0, Reboot = 1, Suspend = 2, Crash = 3, Watchdog = 4, SoftReset = 5,
}

/// <summary>
/// A domain: its memory (P2M), shared_info page, vCPUs, event channels and run state.
/// Managed domains (Dom0 and the services it hosts) have no vCPUs or memory of their own here:
/// they are C# code that acts with this domain's id through the same typed operations as guests.
/// </summary>
public sealed partial class Domain
{
    internal readonly object StateLock = new();
    private int _pauseCount;

    internal Domain(Hypervisor hypervisor, ushort id, string name, Guid uuid, bool managed, bool privileged)
    {
        Hypervisor = hypervisor;
        Id = id;
        Name = name;
        Uuid = uuid;
        IsManaged = managed;
        IsPrivileged = privileged;
        EventChannels = new EventChannelTable(this);
        Grants = new GrantTable(this);
        Created = DateTime.UtcNow;
    }

    public Hypervisor Hypervisor { get; }
    public ushort Id { get; }
    public string Name { get; internal set; }
    public Guid Uuid { get; }
    public bool IsManaged { get; }
    public bool IsPrivileged { get; }
    public DateTime Created { get; }

    /// <summary>Pseudo-physical to machine frame numbers; empty for managed domains.</summary>
    public ulong[] P2m { get; internal set; } = [];
    public ulong MaxPages { get; internal set; }
    public ulong SharedInfoMfn { get; internal set; } = ulong.MaxValue;
    public IReadOnlyList<Vcpu> Vcpus { get; internal set; } = [];
    public EventChannelTable EventChannels { get; }
    public GrantTable Grants { get; }

    public bool IsPaused { get { lock (StateLock) return _pauseCount > 0; } }
    public bool IsShutdown { get; private set; }
    public ShutdownReason? ShutdownReason { get; private set; }
    /// <summary>Set when the hypervisor crashed the domain, with the reason also written to the console ring.</summary>
    public string? CrashMessage { get; private set; }
    public bool IsDying { get; private set; }

    public double CpuTimeSeconds => Vcpus.Sum(v => v.CpuTime.TotalSeconds);

    /// <summary>True when something can run: not paused, not shut down, not dying.</summary>
    internal bool IsRunnable => _pauseCount == 0 && !IsShutdown && !IsDying;

    internal void PauseLocked() => _pauseCount++;

    internal bool UnpauseLocked()
    {
        if (_pauseCount == 0) return false;
        _pauseCount--;
        return true;
    }

    /// <summary>SCHEDOP_shutdown_code: the reason the next shutdown reports, whatever triggers it.</summary>
    public ShutdownReason? ShutdownCode { get; private set; }

    internal void SetShutdownCode(ShutdownReason code)
    {
        lock (StateLock) ShutdownCode = code;
    }

    /// <summary>Stop all vCPUs with a reason; the first reason wins, and a preset shutdown code wins over it (domain_shutdown).</summary>
    internal bool MarkShutdown(ShutdownReason reason, string? crashMessage)
    {
        lock (StateLock)
        {
            if (IsShutdown || IsDying) return false;
            IsShutdown = true;
            ShutdownReason = ShutdownCode ?? reason;
            CrashMessage = crashMessage;
            Monitor.PulseAll(StateLock);
        }
        foreach (var v in Vcpus) v.Nudge();
        // As Xen's domain_shutdown: tell the control domain through VIRQ_DOM_EXC.
        if (!IsManaged) EventChannelTable.SendGlobalVirq(Hypervisor.Dom0, Virq.DomExc);
        return true;
    }

    internal void MarkDying()
    {
        lock (StateLock)
        {
            IsDying = true;
            Monitor.PulseAll(StateLock);
        }
        foreach (var v in Vcpus) v.Nudge();
        foreach (var v in Vcpus) v.ReleaseSmpResources();
        Hypervisor.Mmu.Relinquish(this);
        Grants.Teardown();
        // As Xen's domain_destroy: the control domain hears about the death through VIRQ_DOM_EXC too.
        if (!IsManaged) EventChannelTable.SendGlobalVirq(Hypervisor.Dom0, Virq.DomExc);
    }

    /// <summary>The six `xl list` state letters: r(unning) b(locked) p(aused) s(hutdown) c(rashed) d(ying).</summary>
    public string StateLetters
    {
        get
        {
            lock (StateLock)
            {
                bool crashed = ShutdownReason == Paravirt.Hypervisor.ShutdownReason.Crash;
                bool running = !IsManaged && IsRunnable && Vcpus.Any(v => v.IsRunning);
                bool blocked = IsManaged || (IsRunnable && !running);
                return new string([
                    running ? 'r' : '-', blocked ? 'b' : '-', _pauseCount > 0 ? 'p' : '-',
                    IsShutdown && !crashed ? 's' : '-', crashed ? 'c' : '-', IsDying ? 'd' : '-',
                ]);
            }
        }
    }

    public override string ToString() => $"d{Id} ({Name})";

    internal static bool IsValidGuestId(int id) => id > 0 && id < DomId.FirstReserved;
}
