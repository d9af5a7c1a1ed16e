using Paravirt.Cpu.Emulated;
using Paravirt.Hypervisor.Hypercalls;
using Paravirt.Hypervisor.Time;

namespace Paravirt.Hypervisor.Traps;

/// <summary>
/// CPUID as a 64-bit PV guest sees it (Xen's PV cpuid policy and xen/include/public/arch-x86/cpuid.h): the
/// platform CPU's leaves with what a PV guest cannot use hidden (VMX, SMX, SVM, MONITOR, the local APIC, MTRRs,
/// thermal and debug-store features, TSC deadline), CPUID.1:ECX.HYPERVISOR set, OSXSAVE following the guest's
/// CR4, and Xen's leaves from 0x40000000: the "XenVMMXenVMM" signature, the version, the hypercall page and
/// MSR base, TSC parameters and the PV leaf. Used for plain <c>cpuid</c> and the forced-emulation prefix alike.
/// </summary>
public sealed class PvCpuidPolicy
{
    public const uint XenLeafBase = 0x4000_0000, XenMaxLeaf = XenLeafBase + 5;
    public const uint SignatureEbx = 0x566e_6558, SignatureEcx = 0x6558_4d4d, SignatureEdx = 0x4d4d_566e; // "XenVMMXenVMM"
    /// <summary>XEN_CPUID_FEAT1_MMU_PT_UPDATE_PRESERVE_AD.</summary>
    public const uint Feat1PreserveAd = 1;

    // CPUID.1:ECX bits hidden from PV guests (SDM vol. 2, CPUID, table 3-10).
    private const uint HiddenEcx1 = (1u << 3) /* MONITOR */ | (1u << 4) /* DS-CPL */ | (1u << 5) /* VMX */
        | (1u << 6) /* SMX */ | (1u << 7) /* EST */ | (1u << 8) /* TM2 */ | (1u << 15) /* PDCM */
        | (1u << 18) /* DCA */ | (1u << 21) /* x2APIC */ | (1u << 24) /* TSC deadline */ | (1u << 27) /* OSXSAVE */;
    private const uint HypervisorEcx1 = 1u << 31;
    // CPUID.1:EDX bits hidden (table 3-11): VME, PSE36? kept simple: APIC, MTRR, ACPI, DS, TM, PBE, PSN.
    private const uint HiddenEdx1 = (1u << 1) /* VME */ | (1u << 9) /* APIC */ | (1u << 12) /* MTRR */
        | (1u << 18) /* PSN */ | (1u << 21) /* DS */ | (1u << 22) /* ACPI */ | (1u << 29) /* TM */ | (1u << 31) /* PBE */;
    private const uint HiddenEcxExt1 = 1u << 2; // SVM (AMD APM vol. 3, E.4.2)

    private readonly Vcpu _vcpu;

    public PvCpuidPolicy(Vcpu vcpu) => _vcpu = vcpu;

    public (uint Eax, uint Ebx, uint Ecx, uint Edx) Query(uint leaf, uint subleaf)
    {
        if (leaf >= XenLeafBase && leaf < XenLeafBase + 0x1_0000) return XenLeaf(leaf, subleaf);
        var (a, b, c, d) = MinimalCpuid.Query(leaf, subleaf);
        switch (leaf)
        {
            case 1:
                c = (c & ~HiddenEcx1) | HypervisorEcx1;
                if ((c & (1u << 26)) != 0 && (_vcpu.GuestCr4Bits & (1UL << 18)) != 0) c |= 1u << 27; // OSXSAVE = CR4.OSXSAVE
                d &= ~HiddenEdx1;
                // EBX[31:24]: initial APIC id; Xen reports vcpu_id * 2 for PV.
                b = (b & 0x00FF_FFFF) | ((uint)(_vcpu.Id * 2) << 24);
                break;
            case 0x8000_0001:
                c &= ~HiddenEcxExt1;
                break;
        }
        return (a, b, c, d);
    }

    private (uint, uint, uint, uint) XenLeaf(uint leaf, uint subleaf)
    {
        switch (leaf - XenLeafBase)
        {
            case 0:
                return (XenMaxLeaf, SignatureEbx, SignatureEcx, SignatureEdx);
            case 1:
                return ((uint)((XenVersionOp.Major << 16) | XenVersionOp.Minor), 0, 0, 0);
            case 2:
                // One hypercall page; Xen's MSRs start at 0x40000000; mmu_update with PRESERVE_AD is available.
                return (1, XenLeafBase, Feat1PreserveAd, 0);
            case 3:
            {
                var clock = SystemClock.Of(_vcpu.Domain.Hypervisor);
                uint khz = (uint)(clock.TscHz / 1000);
                return subleaf switch
                {
                    0 => (0, 0, khz, 0),                                      // native TSC, default mode, guest kHz, incarnation 0
                    1 => (0, 0, clock.TscToSystemMul, (uint)(byte)clock.TscShift), // no offset; the scale of vcpu_time_info
                    2 => (khz, 0, 0, 0),
                    _ => (0, 0, 0, 0),
                };
            }
            case 5:
                // PV leaf: sub-leaf 0 EBX[7:0] = machine address width (the physical bits of 0x80000008).
                return subleaf == 0 ? (0u, MinimalCpuid.Query(0x8000_0008, 0).Eax & 0xFF, 0u, 0u) : (0u, 0u, 0u, 0u);
            default:
                return (0, 0, 0, 0); // leaf 4 is HVM-only; beyond the maximum, nothing
        }
    }
}
