using Paravirt.Hypervisor.Abi;

namespace Paravirt.Hypervisor.Hypercalls;

/// <summary>
/// Entry from a guest's <c>syscall</c> in kernel mode (pv_hypercall): number in RAX, arguments in RDI, RSI,
/// RDX, R10, R8; the result goes back in RAX. Each family's file only marshals and calls typed operations.
/// </summary>
public sealed class HypercallTable
{
    private readonly Hypervisor _hv;
    private readonly long[] _counts = new long[64];

    public HypercallTable(Hypervisor hv) => _hv = hv;

    public long CountOf(int nr) => nr >= 0 && nr < _counts.Length ? Interlocked.Read(ref _counts[nr]) : 0;

    public void Dispatch(Vcpu v)
    {
        var r = v.Registers;
        ulong nr = r.Rax;
        if (nr == Hypercall.Iret) { Interlocked.Increment(ref _counts[nr]); IretOp.Do(v); return; } // does not return to the caller
        long result = Call(v, nr, r.Rdi, r.Rsi, r.Rdx, r.R10, r.R8);
        if (v.Multicall.ExitedByIret)
        {
            // A multicall ended in HYPERVISOR_iret: the registers are the context it restored.
            v.Multicall.ExitedByIret = false;
            return;
        }
        r.Rax = (ulong)result;
        // Return as Xen's syscall exit path does: to RCX with the flags saved in R11, interrupts on (the guest's
        // own interrupt flag is evtchn_upcall_mask), IOPL 0.
        r.Rip = r.Rcx;
        r.Rflags = (r.R11 & ~(0x3000UL)) | Paravirt.Cpu.VcpuRegisters.RflagsFixed | Paravirt.Cpu.VcpuRegisters.RflagsIf;
    }

    public long Call(Vcpu v, ulong nr, ulong a1, ulong a2, ulong a3, ulong a4, ulong a5)
    {
        if (nr < (ulong)_counts.Length) Interlocked.Increment(ref _counts[nr]);
        return nr switch
        {
            Hypercall.XenVersion => XenVersionOp.Do(v, a1, a2),
            Hypercall.ConsoleIo => ConsoleIoOp.Do(v, a1, a2, a3),
            Hypercall.SchedOp => SchedOp.Do(v, a1, a2),
            Hypercall.EventChannelOp => EventChannelOp.Do(v, a1, a2),
            Hypercall.GrantTableOp => GrantTableOp.Do(v, a1, a2, a3),
            Hypercall.SetTimerOp => SetTimerOp.Do(v, a1),
            Hypercall.VcpuOp => VcpuOp.Do(v, a1, a2, a3),
            Hypercall.MmuUpdate => MmuUpdateOp.Do(v, a1, a2, a3, a4),
            Hypercall.MmuextOp => MmuextOp.Do(v, a1, a2, a3, a4),
            Hypercall.UpdateVaMapping => UpdateVaMappingOp.Do(v, a1, a2, a3),
            Hypercall.UpdateVaMappingOtherdomain => UpdateVaMappingOp.DoOtherDomain(v, a1, a2, a3, a4),
            Hypercall.MemoryOp => MemoryOp.Do(v, a1, a2),
            Hypercall.SetTrapTable => SetTrapTableOp.Do(v, a1),
            Hypercall.CallbackOp => CallbackOp.Do(v, a1, a2),
            Hypercall.SetCallbacks => CallbackOp.SetCallbacks(v, a1, a2, a3),
            Hypercall.NmiOp => CallbackOp.NmiOp(v, a1, a2),
            Hypercall.StackSwitch => StackSwitchOp.Do(v, a1, a2),
            Hypercall.SetSegmentBase => SegmentOp.Do(v, a1, a2),
            Hypercall.SetGdt => GdtOp.SetGdt(v, a1, a2),
            Hypercall.UpdateDescriptor => GdtOp.UpdateDescriptor(v, a1, a2),
            Hypercall.FpuTaskswitch => FpuOp.Do(v, a1),
            Hypercall.SetDebugreg => DebugRegOp.Set(v, (int)a1, a2),
            Hypercall.GetDebugreg => DebugRegOp.Get(v, (int)a1),
            Hypercall.Multicall => MulticallOp.Do(v, a1, a2),
            Hypercall.VmAssist => VmAssistOp.Do(v, a1, a2),
            Hypercall.PhysdevOp => PhysdevOp.Do(v, a1, a2),
            Hypercall.PhysdevOpCompat => PhysdevOp.DoCompat(v, a1),
            _ => -XenErrno.ENOSYS,
        };
    }
}
