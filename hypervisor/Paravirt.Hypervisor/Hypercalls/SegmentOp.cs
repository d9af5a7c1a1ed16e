using Paravirt.Hypervisor.Abi;
using Paravirt.Hypervisor.Traps;

namespace Paravirt.Hypervisor.Hypercalls;

/// <summary>HYPERVISOR_set_segment_base(which, base) (do_set_segment_base, 64-bit PV only).</summary>
public static class SegmentOp
{
    /// <summary>
    /// SEGBASE_FS: the FS base; SEGBASE_GS_KERNEL: the active GS base (hypercalls run in kernel mode);
    /// SEGBASE_GS_USER: the inactive one that user mode gets; each -EINVAL unless canonical.
    /// SEGBASE_GS_USER_SEL: load the user GS selector (RPL forced to 3) and take the user GS base from its
    /// descriptor; a selector that would fault loads null instead, as Xen does (no error: kernels BUG on one).
    /// Any other <paramref name="which"/> is -EINVAL.
    /// </summary>
    public static long Do(Vcpu v, ulong which, ulong value)
    {
        var r = v.Registers;
        switch (which)
        {
            case TrapAbi.SegbaseFs:
                if (!PrivilegedOpEmulator.IsCanonical(value)) return -XenErrno.EINVAL;
                r.FsBase = value;
                return 0;
            case TrapAbi.SegbaseGsKernel:
                if (!PrivilegedOpEmulator.IsCanonical(value)) return -XenErrno.EINVAL;
                r.GsBase = value;
                return 0;
            case TrapAbi.SegbaseGsUser:
                if (!PrivilegedOpEmulator.IsCanonical(value)) return -XenErrno.EINVAL;
                r.KernelGsBase = value;
                return 0;
            case TrapAbi.SegbaseGsUserSel:
            {
                ushort sel = (ushort)value;
                if (sel > 3) sel |= 3;
                ulong userBase = 0;
                if (sel > 3)
                {
                    if (IsLoadableDataSelector(v, sel, out ulong desc)) userBase = DescriptorTables.BaseOf(desc);
                    else sel = 0;
                }
                else sel = 0;
                r.Gs = sel;
                r.KernelGsBase = userBase;
                return 0;
            }
            default:
                return -XenErrno.EINVAL;
        }
    }

    /// <summary>What a ring-3 <c>mov %gs</c> would accept: present data or readable code with DPL 3.</summary>
    private static bool IsLoadableDataSelector(Vcpu v, ushort sel, out ulong desc)
    {
        if (!v.Descriptors.Lookup(sel, out desc)) return false;
        uint b = (uint)(desc >> 32);
        bool present = (b & DescriptorTables.Present) != 0, segment = (b & (1u << 12)) != 0;
        bool code = (b & (1u << 11)) != 0, readable = (b & (1u << 9)) != 0, conforming = code && (b & (1u << 10)) != 0;
        int dpl = (int)((b >> 13) & 3);
        return present && segment && (!code || readable) && (conforming || dpl == 3);
    }
}
