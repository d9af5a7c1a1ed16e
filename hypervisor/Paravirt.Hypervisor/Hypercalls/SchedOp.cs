using Paravirt.Hypervisor.Abi;
using Paravirt.Hypervisor.Events;

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
                Thread.Yield();
                return 0;
            case Block:
                // As Xen: enable event delivery, then sleep unless an event is already waiting.
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
            case RemoteShutdown:
                return d.IsPrivileged ? -XenErrno.ENOSYS : -XenErrno.EPERM;
            default:
                return -XenErrno.ENOSYS;
        }
    }
}
