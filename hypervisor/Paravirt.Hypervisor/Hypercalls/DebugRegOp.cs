using Paravirt.Hypervisor.Abi;
using Paravirt.Hypervisor.Traps;

namespace Paravirt.Hypervisor.Hypercalls;

/// <summary>
/// HYPERVISOR_set_debugreg(reg, value) / HYPERVISOR_get_debugreg(reg) (xen/arch/x86/pv/misc-hypercalls.c,
/// set_debugreg). The values are kept per vCPU, and DR0-DR3/DR7 are handed to the vCPU's CPU
/// (<see cref="Paravirt.Cpu.IVcpu.SetDebugRegisters"/>), which raises #DB for the breakpoints it models.
/// </summary>
public static class DebugRegOp
{
    // DR6: bits 4-11 and 16-31 read as one, bit 12 and bits 32-63 as zero (SDM vol. 3, 18.2.3).
    private const ulong Dr6ReservedOne = 0xFFFF_0FF0, Dr6Writable = 0xFFFF_EFFF;
    // DR7: bit 10 reads as one; bits 11, 12, 14, 15 and 32-63 are zero; GD (13) is privileged.
    private const ulong Dr7ReservedOne = 0x400, Dr7Writable = 0xFFFF_27FF, Dr7GeneralDetect = 1UL << 13;
    private const ulong Dr7EnableMask = 0xFF, CrDe = PrivilegedOpEmulator.Cr4De;

    /// <summary>
    /// DR0-3 take a linear address the guest could access (-EPERM for Xen's range or a non-canonical one);
    /// DR6 and DR7 are forced to their reserved values; DR7.GD is -EPERM, as is an I/O breakpoint without
    /// CR4.DE; DR4, DR5 and others are -EINVAL.
    /// </summary>
    public static long Set(Vcpu v, int reg, ulong value)
    {
        var dr = v.DebugRegisters;
        switch (reg)
        {
            case 0: case 1: case 2: case 3:
                if (!PrivilegedOpEmulator.IsCanonical(value)
                    || (value >= X86_64.HypervisorVirtStart && value < X86_64.HypervisorVirtEnd)) return -XenErrno.EPERM;
                dr[reg] = value;
                LoadIntoCpu(v);
                return 0;
            case 6:
                dr[6] = (value & Dr6Writable) | Dr6ReservedOne;
                return 0;
            case 7:
            {
                value = (value & Dr7Writable) | Dr7ReservedOne;
                if ((value & Dr7GeneralDetect) != 0) return -XenErrno.EPERM;
                if ((value & Dr7EnableMask) != 0)
                {
                    // R/W bits of each breakpoint: 10b is an I/O breakpoint, valid only with CR4.DE.
                    for (int i = 16; i < 32; i += 4)
                        if (((value >> i) & 3) == 2 && (v.GuestCr4Bits & CrDe) == 0) return -XenErrno.EPERM;
                }
                dr[7] = value;
                LoadIntoCpu(v);
                return 0;
            }
            default:
                return -XenErrno.EINVAL;
        }
    }

    private static void LoadIntoCpu(Vcpu v)
    {
        var dr = v.DebugRegisters;
        v.Cpu.SetDebugRegisters(dr[0], dr[1], dr[2], dr[3], dr[7]);
    }

    /// <summary>DR0-3, DR6, DR7; DR4/DR5 alias DR6/DR7 unless CR4.DE; others -EINVAL.</summary>
    public static long Get(Vcpu v, int reg)
    {
        var dr = v.DebugRegisters;
        switch (reg)
        {
            case 0: case 1: case 2: case 3: case 6: case 7:
                return (long)dr[reg];
            case 4: case 5:
                if ((v.GuestCr4Bits & CrDe) != 0) return -XenErrno.EINVAL;
                return (long)dr[reg + 2];
            default:
                return -XenErrno.EINVAL;
        }
    }
}
