using Paravirt.Hypervisor.Abi;

namespace Paravirt.Hypervisor.Hypercalls;

/// <summary>
/// HYPERVISOR_vm_assist(cmd, type) (xen/include/public/xen.h VMASST_*; common/domain.c do_vm_assist): turn one of
/// the VM assists a 64-bit PV guest may use on or off for the whole domain. -EINVAL for a type Xen does not offer
/// 64-bit PV guests (checked first), -ENOSYS for an unknown command.
/// </summary>
public static class VmAssistOp
{
    public const int CmdEnable = 0, CmdDisable = 1;
    public const int Type4gbSegments = 0, Type4gbSegmentsNotify = 1, TypeWritablePagetables = 2, TypePaeExtendedCr3 = 3,
        TypeArchitecturalIopl = 4, TypeRunstateUpdateFlag = 5, TypeM2pStrict = 32;

    /// <summary>
    /// NATIVE_VM_ASSIST_VALID (xen/arch/x86/include/asm/config.h): what arch_vm_assist_valid_mask gives a 64-bit PV
    /// domain. writable_pagetables is accepted for compatibility; the writable-page-table emulation is always on,
    /// as in current Xen.
    /// </summary>
    public const ulong ValidMask = (1UL << Type4gbSegments) | (1UL << Type4gbSegmentsNotify) | (1UL << TypeWritablePagetables)
        | (1UL << TypePaeExtendedCr3) | (1UL << TypeArchitecturalIopl) | (1UL << TypeRunstateUpdateFlag) | (1UL << TypeM2pStrict);

    public static long Do(Vcpu v, ulong cmd, ulong typeArg)
    {
        // Both are unsigned int in the prototype.
        uint type = (uint)typeArg;
        if (type >= 64 || (ValidMask & (1UL << (int)type)) == 0) return -XenErrno.EINVAL;
        switch ((uint)cmd)
        {
            case CmdEnable:
                // Turning m2p_strict on gives every existing L4 the M2P (user bases lose it as they are installed).
                if (type == TypeM2pStrict && !v.Domain.HasVmAssist(TypeM2pStrict)) v.Domain.Hypervisor.Mmu.FillRoMptOfAllL4s(v.Domain);
                v.Domain.SetVmAssist((int)type, true);
                return 0;
            case CmdDisable:
                v.Domain.SetVmAssist((int)type, false);
                return 0;
            default:
                return -XenErrno.ENOSYS;
        }
    }
}
