namespace Paravirt.PortAnalysis;

/// <summary>What an instruction is about, from a porter's point of view: which part of the PV interface replaces it.</summary>
public enum SensitiveCategory
{
    InterruptFlag, Idle, PortIo, DescriptorTable, ControlRegister, DebugRegister, Msr, TlbFlush, CacheControl,
    SegmentBase, ExceptionReturn, SystemCall, Cpuid, TimeStampCounter, PerformanceCounter, FpuState,
    ExtendedState, AccessProtection, Virtualization, ForcedEmulation,
}

/// <summary>
/// What the instruction does when a PV guest kernel runs it. A 64-bit PV kernel runs at CPL 3 with IOPL 0 under
/// Xen's ABI, so privileged instructions fault (and Xen's privileged-op emulation may or may not complete them,
/// always slowly), while "sensitive but unprivileged" ones execute and give a wrong or meaningless answer.
/// </summary>
public enum Cpl3Behaviour
{
    /// <summary>#GP or #UD: the hypervisor traps it; at best emulated slowly, at worst the domain is crashed.</summary>
    Faults,
    /// <summary>Executes without a fault but gives the hypervisor's or the hardware's state, not the guest's: a silent bug.</summary>
    Misbehaves,
    /// <summary>Allowed in a PV guest and behaves as on bare metal; listed because its meaning differs (advisory).</summary>
    Works,
}

/// <summary>
/// One entry of the catalogue: a kind of sensitive instruction, how it behaves at CPL 3 and what a PV port uses
/// instead. <see cref="Id"/> is stable (it is the JSON and the patch rules' key). <paramref name="Advisory"/> marks a
/// rule whose instruction is only wrong in some uses that a static scan cannot tell apart (pushf is harmless in a
/// register dump, wrong in local_irq_save).
/// </summary>
public sealed record SensitiveRule(string Id, SensitiveCategory Category, Cpl3Behaviour Behaviour, string Effect, string Replacement, bool Advisory = false)
{
    /// <summary>A finding of this rule must be changed before the kernel works as a PV guest (advisory ones need a look, not necessarily a change).</summary>
    public bool RequiresPort => !Advisory && Behaviour != Cpl3Behaviour.Works;
}
