namespace Paravirt.Cpu;

/// <summary>
/// One virtual CPU of a platform. Not thread-safe except <see cref="Kick"/>: one host thread runs it,
/// and the hypervisor touches <see cref="Registers"/> only while <see cref="Run"/> is not executing.
/// </summary>
public interface IVcpu : IDisposable
{
    VcpuRegisters Registers { get; }

    /// <summary>Execute guest code until an exit. Never throws for anything the guest does.</summary>
    VcpuExit Run();

    /// <summary>Make a running (or the next) <see cref="Run"/> return <see cref="VcpuExitReason.Kicked"/> soon.
    /// Safe from any thread.</summary>
    void Kick();

    /// <summary>Drop every cached translation (CR3 load, TLB flush).</summary>
    void FlushTlb();

    /// <summary>Drop cached translations for the page containing <paramref name="linearAddress"/>.</summary>
    void InvalidatePage(ulong linearAddress);

    /// <summary>
    /// CPUID as the guest sees it; set by the hypervisor (PV-filtered leaves). Arguments: leaf, subleaf;
    /// result: eax, ebx, ecx, edx. When null the platform reports a minimal x86-64 CPU.
    /// </summary>
    Func<uint, uint, (uint Eax, uint Ebx, uint Ecx, uint Edx)>? Cpuid { get; set; }

    /// <summary>
    /// The descriptor tables segment-register loads consult (the hypervisor's GDT/LDT view for the guest). When
    /// null, or for a platform that does not model descriptors, every non-null selector load faults #GP(selector).
    /// </summary>
    DescriptorLookup? Descriptors { get => null; set { } }

    /// <summary>CR0.TS as the guest set it (fpu_taskswitch): the next x87/SSE instruction raises #NM.</summary>
    bool TaskSwitched { get => false; set { } }

    /// <summary>
    /// Load the guest's DR0-DR3 and DR7 (validated by the hypervisor). A platform that raises breakpoints from them
    /// reports the DR6 status bits of its last #DB exit in <see cref="DebugStatus"/>; the default ignores them.
    /// The emulated platform raises instruction breakpoints (R/W = 00, a fault) and data breakpoints (R/W = 01
    /// writes, 11 reads or writes, LEN 1/2/4/8 bytes: a trap after the instruction, or after the hitting iteration
    /// of a rep string instruction); not I/O breakpoints.
    /// </summary>
    void SetDebugRegisters(ulong dr0, ulong dr1, ulong dr2, ulong dr3, ulong dr7) { }

    /// <summary>DR6 status bits (B0-B3, BS) of the last #DB exit; 0 after any other exit or when the platform does
    /// not report them. A single-step and data breakpoints trapping on the same instruction share one #DB and set
    /// BS and their Bn together.</summary>
    ulong DebugStatus => 0;
}

/// <summary>
/// Find the 8-byte descriptor for <paramref name="selector"/> (TI bit picks GDT or LDT). Returns false when the
/// selector is beyond the table's limit (the load then faults #GP(selector), SDM vol. 3, 5.4).
/// </summary>
public delegate bool DescriptorLookup(ushort selector, out ulong descriptor);

/// <summary>A way of running vCPUs over <see cref="MachineMemory"/>: emulated (Iced) or KVM.</summary>
public interface IPlatform
{
    string Name { get; }
    IVcpu CreateVcpu(MachineMemory memory);
}
