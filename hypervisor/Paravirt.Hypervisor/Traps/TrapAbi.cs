using System.Runtime.InteropServices;

namespace Paravirt.Hypervisor.Traps;

/// <summary>
/// struct trap_info (xen/include/public/arch-x86/xen.h): one entry of a PV guest's virtual IDT, as
/// HYPERVISOR_set_trap_table takes it. 16 bytes; address 0 ends a table.
/// </summary>
[StructLayout(LayoutKind.Sequential, Pack = 8)]
public struct TrapInfo
{
    /// <summary>Exception or software-interrupt vector.</summary>
    public byte Vector;
    /// <summary>Bits 0-1: the least privileged ring allowed to raise it with <c>int n</c>; bit 2: mask events on entry.</summary>
    public byte Flags;
    /// <summary>Code selector of the handler (64-bit PV: always FLAT_KERNEL_CS in effect).</summary>
    public ushort Cs;
    /// <summary>Handler address; 0 = no handler.</summary>
    public ulong Address;

    /// <summary>TI_GET_DPL.</summary>
    public readonly int Dpl => Flags & TrapAbi.TiDplMask;
    /// <summary>TI_GET_IF: event delivery is masked on entry, like an interrupt gate.</summary>
    public readonly bool MasksEvents => (Flags & TrapAbi.TiIf) != 0;
}

/// <summary>
/// Constants of the 64-bit PV trap interface: xen/include/public/arch-x86/xen.h (TI_*, VGCF_*),
/// arch-x86/xen-x86_64.h (iret frame, FLAT_* selectors, SEGBASE_*), callback.h (CALLBACKTYPE_*).
/// </summary>
public static class TrapAbi
{
    public const int TiDplMask = 3, TiIf = 4;
    public const int TrapInfoSize = 16;
    public const int Vectors = 256;

    /// <summary>VGCF_in_syscall (xen-x86_64.h): the iret frame came from a syscall; rcx/r11 are not restored.</summary>
    public const ulong VgcfInSyscall = 1UL << 8;

    /// <summary>struct iret_context: rax, r11, rcx, flags, rip, cs, rflags, rsp, ss (72 bytes), rax at the lowest address.</summary>
    public const int IretRax = 0, IretR11 = 8, IretRcx = 16, IretFlags = 24, IretRip = 32, IretCs = 40, IretRflags = 48,
        IretRsp = 56, IretSs = 64, IretContextSize = 72;

    /// <summary>HYPERVISOR_set_segment_base: which.</summary>
    public const int SegbaseFs = 0, SegbaseGsUser = 1, SegbaseGsKernel = 2, SegbaseGsUserSel = 3;

    /// <summary>The GDT from this entry on belongs to the hypervisor (FIRST_RESERVED_GDT_PAGE 14 × 512).</summary>
    public const int FirstReservedGdtEntry = 14 * 512;
    public const int GdtEntriesPerFrame = 512;
    public const int MaxGdtFrames = FirstReservedGdtEntry / GdtEntriesPerFrame;

    /// <summary>Debug-register resets (SDM vol. 3, 18.2): DR6 reserved ones, DR7 bit 10.</summary>
    public const ulong Dr6Default = 0xFFFF_0FF0, Dr7Default = 0x400;
}

/// <summary>CALLBACKTYPE_* of xen/include/public/callback.h.</summary>
public static class CallbackType
{
    public const int Event = 0, Failsafe = 1, Syscall = 2, SysenterDeprecated = 3, Nmi = 4, Sysenter = 5, Syscall32 = 7;

    /// <summary>CALLBACKF_mask_events: set evtchn_upcall_mask on entry.</summary>
    public const ushort FlagMaskEvents = 1;

    public const int OpRegister = 0, OpUnregister = 1;
}

/// <summary>x86 RFLAGS bits the PV trap paths touch (SDM vol. 1, 3.4.3).</summary>
internal static class Rflags
{
    public const ulong CF = 1, Fixed1 = 1UL << 1, TF = 1UL << 8, IF = 1UL << 9, DF = 1UL << 10, IOPL = 3UL << 12,
        NT = 1UL << 14, RF = 1UL << 16, VM = 1UL << 17, AC = 1UL << 18;
}
