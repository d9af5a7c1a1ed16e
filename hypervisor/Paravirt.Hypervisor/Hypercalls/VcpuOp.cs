using Paravirt.Hypervisor.Abi;
using Paravirt.Hypervisor.Time;

namespace Paravirt.Hypervisor.Hypercalls;

/// <summary>HYPERVISOR_vcpu_op(cmd, vcpuid, arg) (xen/include/public/vcpu.h): timers, and bringing vCPUs up and down (Vcpu.Smp.cs).</summary>
public static class VcpuOp
{
    public const int Initialise = 0, Up = 1, Down = 2, IsUp = 3, GetRunstateInfo = 4, RegisterRunstateMemoryArea = 5,
        SetPeriodicTimer = 6, StopPeriodicTimer = 7, SetSingleshotTimer = 8, StopSingleshotTimer = 9,
        RegisterVcpuInfo = 10, SendNmi = 11, GetPhysid = 12, RegisterVcpuTimeMemoryArea = 13;

    /// <summary>VCPU_SSHOTTMR_future: fail with -ETIME rather than fire at once when the deadline has passed.</summary>
    public const uint SingleshotFuture = 1;

    public static long Do(Vcpu v, ulong cmd, ulong vcpuId, ulong arg)
    {
        var d = v.Domain;
        if (vcpuId >= (ulong)d.Vcpus.Count) return -XenErrno.ENOENT;
        var target = d.Vcpus[(int)vcpuId];
        switch (cmd)
        {
            case Initialise: // struct vcpu_guest_context (Vcpu.Smp.cs)
                return target.Initialise(v, arg);
            case Up:
                return target.Up();
            case Down:
                return target.Down();
            case IsUp:
                return target.IsUp ? 1 : 0;
            case GetRunstateInfo: // struct vcpu_runstate_info
                return target.CopyRunstateTo(v, arg);
            case RegisterRunstateMemoryArea: // struct vcpu_register_runstate_memory_area { uint64_t addr; }
            {
                if (!GuestMemory.Read(v, arg, out ulong area)) return -XenErrno.EFAULT;
                return target.RegisterRunstateArea(v, area);
            }
            case RegisterVcpuInfo: // struct vcpu_register_vcpu_info { uint64_t mfn; uint32_t offset; uint32_t rsvd; }
            {
                if (!GuestMemory.Read(v, arg, out ulong mfn) || !GuestMemory.Read(v, arg + 8, out uint offset))
                    return -XenErrno.EFAULT;
                return target.RegisterVcpuInfo(v, mfn, offset);
            }
            case SetPeriodicTimer: // struct vcpu_set_periodic_timer { uint64_t period_ns; }
            {
                if (!GuestMemory.Read(v, arg, out ulong period)) return -XenErrno.EFAULT;
                if (period < VcpuTimers.MinPeriodNs || period > long.MaxValue / 2) return -XenErrno.EINVAL;
                VcpuTimers.Of(target).SetPeriodic((long)period);
                return 0;
            }
            case StopPeriodicTimer:
                VcpuTimers.Of(target).SetPeriodic(0);
                return 0;
            case SetSingleshotTimer: // struct vcpu_set_singleshot_timer { uint64_t timeout_abs_ns; uint32_t flags; }
            {
                if (target != v) return -XenErrno.EINVAL;
                if (!GuestMemory.Read(v, arg, out ulong deadline) || !GuestMemory.Read(v, arg + 8, out uint flags))
                    return -XenErrno.EFAULT;
                long now = SystemClock.Of(d.Hypervisor).Now();
                if ((flags & SingleshotFuture) != 0 && (long)deadline < now) return -XenErrno.ETIME;
                VcpuTimers.Of(v).SetSingleshot((long)deadline < 0 ? now : (long)deadline);
                return 0;
            }
            case StopSingleshotTimer:
                if (target != v) return -XenErrno.EINVAL;
                VcpuTimers.Of(v).StopSingleshot();
                return 0;
            case SendNmi: // arg must be NULL
                if (arg != 0) return -XenErrno.EINVAL;
                target.SendNmi();
                return 0;
            default:
                return -XenErrno.ENOSYS;
        }
    }
}
