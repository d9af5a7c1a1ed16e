using Paravirt.Hypervisor.Abi;

namespace Paravirt.Hypervisor.Hypercalls;

/// <summary>
/// The per-vCPU multicall state (Xen's struct mc_state): whether a multicall is running (_MCSF_in_multicall), the
/// entry being executed, and whether that entry's hypercall asked to be continued. Only the vCPU's own thread uses it.
/// </summary>
internal sealed class MulticallState
{
    /// <summary>_MCSF_in_multicall: a multicall is running on this vCPU; another one inside it is refused.</summary>
    public bool Active;
    /// <summary>The current entry's hypercall created a continuation (hcall_preempted): its new arguments are in <see cref="Args"/>.</summary>
    public bool SubcallPreempted;
    /// <summary>The current entry was HYPERVISOR_iret: the vCPU's registers are the restored context (mc_exit).</summary>
    public bool ExitedByIret;
    /// <summary>multicall_entry.args of the current entry; a continuation rewrites them here rather than in registers.</summary>
    public readonly ulong[] Args = new ulong[MulticallOp.ArgCount];
}

/// <summary>
/// HYPERVISOR_multicall(call_list, nr_calls) (xen/include/public/xen.h struct multicall_entry; common/multicall.c,
/// arch/x86/pv/hypercall.c): run each struct multicall_entry { xen_ulong_t op @0, result @8; xen_ulong_t args[6] @16 }
/// (64 bytes) in order, storing each hypercall's return value in its result field. Failing entries do not stop the
/// batch; the multicall itself returns 0, -EFAULT for an unusable list or result field, or -EINVAL when entered
/// from inside another multicall. An entry that is HYPERVISOR_iret ends the batch with the restored context
/// (mc_exit); an entry after which the vCPU is no longer in guest kernel mode ends it and continues the rest later
/// (mc_preempt). A long batch, or an entry whose own hypercall is preempted (its updated arguments written back
/// into the entry), continues through a restarted multicall over the remaining entries.
/// </summary>
public static class MulticallOp
{
    public const int EntrySize = 64, ArgCount = 6;
    /// <summary>How many entries one multicall runs before it lets the vCPU be preempted.</summary>
    public const int Budget = 128;

    public static long Do(Vcpu v, ulong callList, ulong nrArg)
    {
        var mc = v.Multicall;
        // A multicall inside a multicall: refused, and the outer one's state stays as it is.
        if (mc.Active) return -XenErrno.EINVAL;
        uint nr = (uint)nrArg;
        mc.Active = true;
        mc.ExitedByIret = false;
        try
        {
            return Run(v, mc, callList, nr);
        }
        finally
        {
            mc.Active = false;
            mc.SubcallPreempted = false;
        }
    }

    private static long Run(Vcpu v, MulticallState mc, ulong callList, uint nr)
    {
        var table = v.Domain.Hypervisor.Hypercalls;
        long rc = Continuation.HandleOk(callList, nr, EntrySize) ? 0 : -XenErrno.EFAULT;
        bool exit = false, preempt = false;
        uint i = 0;
        Span<ulong> entry = stackalloc ulong[2 + ArgCount];
        var entryBytes = System.Runtime.InteropServices.MemoryMarshal.AsBytes(entry);
        for (; rc == 0 && !exit && !preempt && i < nr; i++)
        {
            if (i != 0 && PreemptCheck(v, i)) return Continue(v, callList, nr - i);
            if (!GuestMemory.CopyFrom(v, callList, entryBytes)) { rc = -XenErrno.EFAULT; break; }
            ulong op = entry[0];
            for (int a = 0; a < ArgCount; a++) mc.Args[a] = entry[2 + a];
            mc.SubcallPreempted = false;
            long result;
            if (op == Hypercall.Iret)
            {
                // do_iret inside a multicall (arch_do_multicall_call: mc_exit): the frame is read at the caller's RSP
                // and the restored RAX is what the multicall returns.
                IretOp.Do(v);
                mc.ExitedByIret = true;
                exit = true;
                result = (long)v.Registers.Rax;
            }
            else
            {
                var args = mc.Args;
                result = table.Call(v, op, args[0], args[1], args[2], args[3], args[4]);
            }
            if (exit)
            {
                GuestMemory.Write(v, callList + 8, result); // best effort only
                rc = result;
            }
            else if (!GuestMemory.Write(v, callList + 8, result)) rc = -XenErrno.EFAULT;
            else if (mc.SubcallPreempted)
            {
                // The entry's hypercall continues: write its updated arguments back into the entry, then restart
                // the multicall at this entry.
                entry[1] = (ulong)result;
                for (int a = 0; a < ArgCount; a++) entry[2 + a] = mc.Args[a];
                if (GuestMemory.CopyTo(v, callList, entryBytes)) return Continue(v, callList, nr - i);
                rc = -XenErrno.EFAULT;
            }
            else
            {
                callList += EntrySize;
                // mc_preempt: the call left guest kernel mode (nothing but iret does for now); the rest waits.
                preempt = !v.InKernelMode;
            }
        }
        if (preempt && i < nr) return Continue(v, callList, nr - i);
        return rc;
    }

    /// <summary>hypercall_preempt_check between entries: the budget is spent, or the vCPU must stop (shutdown, blocked).</summary>
    private static bool PreemptCheck(Vcpu v, uint done) =>
        done % Budget == 0 || v.Domain.IsShutdown || v.Domain.IsDying || v.IsBlocked;

    /// <summary>The multicall itself continues with the remaining entries (it is not inside a multicall: never nested).</summary>
    private static long Continue(Vcpu v, ulong callList, uint remaining)
    {
        v.Multicall.Active = false;
        return Continuation.Create(v, Hypercall.Multicall, callList, remaining);
    }
}
