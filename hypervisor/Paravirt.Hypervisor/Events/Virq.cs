namespace Paravirt.Hypervisor.Events;

/// <summary>
/// Virtual IRQs: VIRQ_* of xen/include/public/xen.h. Per-vCPU VIRQs are bound separately on each vCPU; global
/// ones only on vCPU 0 (and may then be moved with EVTCHNOP_bind_vcpu).
/// </summary>
public static class Virq
{
    public const uint Timer = 0, Debug = 1, Console = 2, DomExc = 3, Tbuf = 4, Debugger = 6, Xenoprof = 7,
        ConRing = 8, PcpuState = 9, MemEvent = 10, Argo = 11, Enomem = 12, Xenpmu = 13,
        Arch0 = 16, Arch7 = 23;

    /// <summary>NR_VIRQS.</summary>
    public const int Count = 24;

    /// <summary>VIRQ_TIMER, VIRQ_DEBUG, VIRQ_XENOPROF and VIRQ_XENPMU are per-vCPU; x86 has no arch VIRQs in use, treated as global.</summary>
    public static bool IsPerVcpu(uint virq) => virq is Timer or Debug or Xenoprof or Xenpmu;
}
