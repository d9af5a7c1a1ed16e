using Paravirt.Hypervisor.Abi;
using Paravirt.Hypervisor.Traps;

namespace Paravirt.Hypervisor.Hypercalls;

/// <summary>
/// HYPERVISOR_iret (xen/arch/x86/pv/iret.c, do_iret; frame: struct iret_context in arch-x86/xen-x86_64.h). The
/// guest jumps to the hypercall page's iret entry, which pushes rcx, r11 and rax under the guest's
/// { flags, rip, cs, rflags, rsp, ss } and enters with syscall: the frame is at RSP. This hypercall does not
/// return to its caller, so it is dispatched outside the normal return path.
/// </summary>
public static class IretOp
{
    /// <summary>
    /// Restore RAX, CS:RIP, RFLAGS (IOPL and VM dropped, IF kept on; under VMASST_TYPE_architectural_iopl the IOPL
    /// becomes the virtual IOPL), SS:RSP, and RCX/R11 unless the frame has
    /// VGCF_in_syscall; a CS with RPL 3 returns to guest user mode (its page tables; none registered crashes the
    /// domain). evtchn_upcall_mask becomes !RFLAGS.IF. An unreadable frame crashes the domain; a frame the CPU
    /// could not load (non-canonical RIP, bad CS or SS) enters the failsafe callback instead.
    /// </summary>
    public static void Do(Vcpu v)
    {
        var r = v.Registers;
        var d = v.Domain;
        Span<ulong> f = stackalloc ulong[TrapAbi.IretContextSize / 8];
        if (!GuestMemory.CopyFrom(v, r.Rsp, System.Runtime.InteropServices.MemoryMarshal.AsBytes(f)))
        {
            d.Hypervisor.CrashDomain(d, $"d{d.Id}v{v.Id} HYPERVISOR_iret: frame at {r.Rsp:x16} is not readable");
            return;
        }
        ulong rax = f[0], r11 = f[1], rcx = f[2], flags = f[3], rip = f[4], cs = f[5], rflags = f[6], rsp = f[7], ss = f[8];
        if ((cs & 3) == 3 && v.InKernelMode)
        {
            if (v.GuestTableUserMfn == 0)
            {
                d.Hypervisor.CrashDomain(d, $"d{d.Id}v{v.Id} HYPERVISOR_iret: switching to guest user mode with no user page tables");
                return;
            }
            v.ToggleGuestMode();
        }
        // VMASST_TYPE_architectural_iopl: the frame's RFLAGS.IOPL becomes the virtual IOPL (Xen's do_iret).
        if (d.HasVmAssist(VmAssistOp.TypeArchitecturalIopl)) v.VirtualIopl = (int)((rflags & Rflags.IOPL) >> 12);
        r.Rip = rip;
        r.Cs = (ushort)(cs | 3);
        r.Rflags = (rflags & ~(Rflags.IOPL | Rflags.VM)) | Rflags.IF | Rflags.Fixed1;
        r.Rsp = rsp;
        r.Ss = (ushort)(ss | 3);
        if ((flags & TrapAbi.VgcfInSyscall) == 0)
        {
            r.R11 = r11;
            r.Rcx = rcx;
        }
        r.Rax = rax;
        v.UpcallMask = (rflags & Rflags.IF) == 0 ? (byte)1 : (byte)0;
        v.NmiMasked = false; // async_exception_cleanup: the NMI handler's iret lets the next NMI in

        // What the hardware iretq to the guest would refuse goes to the failsafe callback.
        string? bad = !PrivilegedOpEmulator.IsCanonical(rip) ? $"non-canonical rip {rip:x16}"
            : !v.Descriptors.IsUserCodeSelector(r.Cs) ? $"bad cs {r.Cs:x4}"
            : !v.Descriptors.IsUserStackSelector(r.Ss) ? $"bad ss {r.Ss:x4}"
            : null;
        if (bad != null) v.DeliverFailsafe("HYPERVISOR_iret: " + bad);
    }
}
