using Paravirt.Hypervisor.Abi;

namespace Paravirt.Hypervisor.Hypercalls;

/// <summary>
/// hypercall_create_continuation for a 64-bit PV guest: a long hypercall stops part-way and makes the guest execute
/// the same <c>syscall</c> again with updated arguments, so the vCPU can be preempted (paused, kicked) between
/// pieces. The entry path (<see cref="HypercallTable.Dispatch"/>) stores the returned value in RAX and resumes at
/// RCX; rewinding RCX over the 2-byte <c>syscall</c> and returning the hypercall number re-enters it.
/// Only meaningful for a hypercall that came from a guest <c>syscall</c>.
/// </summary>
internal static class Continuation
{
    /// <summary>MMU_UPDATE_PREEMPTED (xen.h): set in the count of a restarted mmu_update / mmuext_op.</summary>
    public const uint MmuUpdatePreempted = 0x8000_0000u;
    /// <summary>MEMOP_EXTENT_SHIFT (memory.h): memory_op carries the extent to resume from above the command bits.</summary>
    public const int MemopExtentShift = 6;
    public const ulong MemopCmdMask = (1UL << MemopExtentShift) - 1;
    /// <summary>How many sub-operations one hypercall entry performs before it lets the vCPU be preempted.</summary>
    public const int Budget = 1024;

    /// <summary>True when the batch should stop after <paramref name="done"/> items of this entry (hypercall_preempt_check).</summary>
    public static bool PreemptCheck(Vcpu v, long done) =>
        done > 0 && (done % Budget == 0 || v.Domain.IsShutdown || v.Domain.IsDying);

    public static long Create(Vcpu v, int nr, ulong a1, ulong a2, ulong a3 = 0, ulong a4 = 0)
    {
        var mc = v.Multicall;
        if (mc.Active)
        {
            // Inside a multicall the continuation goes into the entry's arguments (hypercall_create_continuation with
            // MCSF_in_multicall); the multicall writes them back and restarts itself at that entry.
            mc.Args[0] = a1;
            mc.Args[1] = a2;
            mc.Args[2] = a3;
            mc.Args[3] = a4;
            mc.SubcallPreempted = true;
            return nr;
        }
        var r = v.Registers;
        r.Rdi = a1;
        r.Rsi = a2;
        r.Rdx = a3;
        r.R10 = a4;
        r.Rcx -= 2; // back onto the syscall instruction
        return nr;
    }

    /// <summary>
    /// __addr_ok for a 64-bit PV guest: below the canonical hole's top half start (2^47) or above Xen's range.
    /// </summary>
    public static bool AddrOk(ulong addr) => addr < (1UL << 47) || addr >= X86_64.HypervisorVirtEnd;

    /// <summary>guest_handle_okay: the element count does not overflow and the start address is a guest address.</summary>
    public static bool HandleOk(ulong addr, ulong count, ulong size) => count < ulong.MaxValue / size && AddrOk(addr);
}
