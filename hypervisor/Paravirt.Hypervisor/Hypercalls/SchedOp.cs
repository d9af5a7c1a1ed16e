using Paravirt.Hypervisor.Abi;
using Paravirt.Hypervisor.Events;
using Paravirt.Hypervisor.Time;

namespace Paravirt.Hypervisor.Hypercalls;

/// <summary>HYPERVISOR_sched_op (xen/include/public/sched.h).</summary>
public static class SchedOp
{
    public const int Yield = 0, Block = 1, Shutdown = 2, Poll = 3, RemoteShutdown = 4, ShutdownCode = 5,
        Watchdog = 6, PinOverride = 7;

    public static long Do(Vcpu v, ulong cmd, ulong arg)
    {
        var d = v.Domain;
        switch (cmd)
        {
            case Yield:
                // Give the pCPU to a waiting unit if there is one (credit: skips the ratelimit).
                v.YieldPcpu();
                return 0;
            case Block:
                // As Xen: enable event delivery, then sleep unless an event is already waiting. The vCPU thread
                // waits on a monitor: no host CPU until an event (or a timer raising one) wakes it.
                EventChannelTable.EnableEventDelivery(d, v.Id);
                v.Block(() => EventChannelTable.UpcallPending(d, v.Id));
                return 0;
            case Shutdown: // struct sched_shutdown { unsigned int reason; }
            {
                if (!GuestMemory.Read(v, arg, out uint reason)) return -XenErrno.EFAULT;
                // Xen takes the low byte of the reason (domain_shutdown(d, (u8)reason)).
                reason &= 0xFF;
                if (reason == (uint)ShutdownReason.Crash)
                    d.Hypervisor.CrashDomain(d, $"d{d.Id}v{v.Id} requested crash (SCHEDOP_shutdown, SHUTDOWN_crash)");
                else
                    d.Hypervisor.ShutdownDomain(d, (ShutdownReason)reason);
                return 0;
            }
            case ShutdownCode: // struct sched_shutdown: the reason a later shutdown reports
            {
                if (!GuestMemory.Read(v, arg, out uint reason)) return -XenErrno.EFAULT;
                // As Xen: only the first code is kept ("if ( d->shutdown_code == SHUTDOWN_CODE_INVALID )").
                lock (d.StateLock)
                    if (d.ShutdownCode == null) d.SetShutdownCode((ShutdownReason)(reason & 0xFF));
                return 0;
            }
            case RemoteShutdown: // struct sched_remote_shutdown { domid_t domain_id @0; unsigned int reason @4; }
            {
                if (!GuestMemory.Read(v, arg, out ulong raw)) return -XenErrno.EFAULT;
                return DoRemoteShutdown(d, (ushort)raw, (uint)(raw >> 32));
            }
            case Poll:
                return DoPoll(v, arg);
            case Watchdog: // struct sched_watchdog { uint32_t id; uint32_t timeout; }
            {
                if (!GuestMemory.Read(v, arg, out ulong raw)) return -XenErrno.EFAULT;
                return Watchdogs.Of(d).Set((uint)raw, (uint)(raw >> 32));
            }
            default:
                return -XenErrno.ENOSYS;
        }
    }

    /// <summary>SCHEDOP_remote_shutdown: a privileged domain shuts another down with a reason.</summary>
    public static int DoRemoteShutdown(Domain caller, ushort target, uint reason)
    {
        var t = caller.Hypervisor.GetDomain(target);
        if (t == null) return -XenErrno.ESRCH;
        if (!caller.IsPrivileged) return -XenErrno.EPERM;
        if (t.IsManaged) return -XenErrno.EINVAL;
        reason &= 0xFF;
        if (reason == (uint)ShutdownReason.Crash)
            caller.Hypervisor.CrashDomain(t, $"d{t.Id} crashed by d{caller.Id} (SCHEDOP_remote_shutdown)");
        else
            caller.Hypervisor.ShutdownDomain(t, (ShutdownReason)reason);
        return 0;
    }

    // struct sched_poll { XEN_GUEST_HANDLE(evtchn_port_t) ports @0; unsigned int nr_ports @8; uint64_t timeout @16; }
    private static long DoPoll(Vcpu v, ulong arg)
    {
        if (!GuestMemory.Read(v, arg, out ulong portsVa) || !GuestMemory.Read(v, arg + 8, out uint nr)
            || !GuestMemory.Read(v, arg + 16, out ulong timeout)) return -XenErrno.EFAULT;
        if (nr > EventChannelTable.MaxPollPorts) return -XenErrno.EINVAL;
        // As Xen: polling is for a vCPU with upcalls masked (evtchn_upcall_mask set).
        if (!EventChannelTable.UpcallsMasked(v.Domain, v.Id)) return -XenErrno.EINVAL;
        Span<uint> ports = stackalloc uint[EventChannelTable.MaxPollPorts];
        for (int i = 0; i < (int)nr; i++)
            if (!GuestMemory.Read(v, portsVa + (ulong)i * 4, out ports[i])) return -XenErrno.EFAULT;
        int rc = EventChannelTable.BeginPoll(v, ports[..(int)nr], (long)timeout);
        if (rc < 0) return rc;
        if (rc == 1) return 0; // already pending
        if (timeout != 0) VcpuTimers.Of(v).SetPollTimeout((long)timeout);
        v.Block(EventChannelTable.PollPredicate(v));
        return 0;
    }
}
