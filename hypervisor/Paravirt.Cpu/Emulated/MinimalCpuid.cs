namespace Paravirt.Cpu.Emulated;

/// <summary>
/// CPUID of a minimal x86-64 processor, used when the hypervisor installs no <see cref="IVcpu.Cpuid"/> policy.
/// Reports the x86-64 baseline (SDM vol. 2, CPUID; AMD64 APM vol. 3, appendix E) plus what this platform runs:
/// long mode, NX, SYSCALL, RDTSCP, LAHF/SAHF in 64-bit mode, CMPXCHG16B, POPCNT and LZCNT.
/// </summary>
public static class MinimalCpuid
{
    public const uint MaxBasicLeaf = 1, MaxExtendedLeaf = 0x8000_0008;

    // "GenuineIntel" as EBX, EDX, ECX: the vendor string guests know how to treat.
    private const uint VendorEbx = 0x756e_6547, VendorEdx = 0x4965_6e69, VendorEcx = 0x6c65_746e;

    public static (uint Eax, uint Ebx, uint Ecx, uint Edx) Query(uint leaf, uint subleaf)
    {
        _ = subleaf;
        switch (leaf)
        {
            case 0:
                return (MaxBasicLeaf, VendorEbx, VendorEcx, VendorEdx);
            case 1:
            {
                // Family 6, model 0x0F, stepping 1. ECX: CMPXCHG16B (13), POPCNT (23).
                // EDX: FPU (0), TSC (4), MSR (5), PAE (6), CX8 (8), CMOV (15), FXSR (24), SSE (25), SSE2 (26)
                // (the x86-64 baseline, all executed; see docs/cpu.md for the x87 and SSE limits).
                const uint eax = (6 << 8) | (0xF << 4) | 1;
                const uint ecx = (1u << 13) | (1u << 23);
                const uint edx = (1u << 0) | (1u << 4) | (1u << 5) | (1u << 6) | (1u << 8) | (1u << 15)
                                 | (1u << 24) | (1u << 25) | (1u << 26);
                return (eax, 0, ecx, edx);
            }
            case 0x8000_0000:
                return (MaxExtendedLeaf, 0, 0, 0);
            case 0x8000_0001:
                // ECX: LAHF/SAHF in 64-bit mode (0), LZCNT/ABM (5). EDX: SYSCALL (11), NX (20), RDTSCP (27), LM (29).
                return (0, 0, (1u << 0) | (1u << 5), (1u << 11) | (1u << 20) | (1u << 27) | (1u << 29));
            case 0x8000_0008:
                // 48 linear address bits, 52 physical (the page-table format's limit).
                return ((48 << 8) | 52, 0, 0, 0);
            default:
                // Leaves above the maximum: Intel returns the highest basic leaf's data; zeros are the common,
                // safe answer for "not supported".
                return (0, 0, 0, 0);
        }
    }
}
