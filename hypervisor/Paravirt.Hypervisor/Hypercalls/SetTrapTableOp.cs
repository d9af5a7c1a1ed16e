using Paravirt.Hypervisor.Abi;
using Paravirt.Hypervisor.Traps;

namespace Paravirt.Hypervisor.Hypercalls;

/// <summary>HYPERVISOR_set_trap_table(const struct trap_info *table) (xen/arch/x86/pv/callback.c, do_set_trap_table).</summary>
public static class SetTrapTableOp
{
    public static long Do(Vcpu v, ulong table)
    {
        long rc = SetTrapTable(v, table, out ulong resumeAt);
        // hypercall_create_continuation: re-enter with the handle advanced past the installed entries.
        return rc == Preempted ? Continuation.Create(v, Hypercall.SetTrapTable, resumeAt, 0) : rc;
    }

    /// <summary>Internal marker: the vCPU should be preemptible; continue at the returned handle.</summary>
    public const long Preempted = long.MinValue;

    /// <summary>
    /// Install entries of a trap table until one with address 0. A null table clears the whole virtual IDT.
    /// Errors as Xen: -EFAULT when an entry cannot be read, -EINVAL for a non-canonical handler address (entries
    /// before the bad one stay installed, as in Xen, which installs entry by entry).
    /// </summary>
    public static long SetTrapTable(Vcpu v, ulong table, out ulong resumeAt)
    {
        resumeAt = 0;
        var dst = v.TrapTable;
        if (table == 0)
        {
            Array.Clear(dst);
            return 0;
        }
        for (long n = 0; ; n++)
        {
            if (Continuation.PreemptCheck(v, n))
            {
                resumeAt = table;
                return Preempted;
            }
            if (!GuestMemory.Read(v, table, out TrapInfo ti)) return -XenErrno.EFAULT;
            if (ti.Address == 0) return 0;
            if (!PrivilegedOpEmulator.IsCanonical(ti.Address)) return -XenErrno.EINVAL;
            // fixup_guest_code_selector: a 64-bit PV kernel's selectors carry RPL 3.
            if ((ti.Cs & 3) < 3) ti.Cs = (ushort)((ti.Cs & ~3) | 3);
            dst[ti.Vector] = ti;
            table += TrapAbi.TrapInfoSize;
        }
    }
}
