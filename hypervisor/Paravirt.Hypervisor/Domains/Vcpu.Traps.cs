using System.Runtime.CompilerServices;
using Paravirt.Cpu;
using Paravirt.Hypervisor.Abi;
using Paravirt.Hypervisor.Traps;

namespace Paravirt.Hypervisor;

/// <summary>
/// The 64-bit PV trap state Xen keeps per vCPU (arch.pv: trap_ctxt, the callbacks, kernel_ss/kernel_sp, GDT,
/// debug registers, virtual CR0.TS/CR2/CR4) and the paths that use it: the guest kernel/user mode toggle, bounce
/// frames (xen/arch/x86/x86_64/entry.S create_bounce_frame), exception and software-interrupt delivery
/// (pv/traps.c), syscall from user mode, and event upcalls. Only the vCPU's own thread touches this state.
/// </summary>
public sealed partial class Vcpu
{
    /// <summary>How a bounce frame is built (Xen's TBF_* flags).</summary>
    [Flags]
    internal enum BounceFlags
    {
        None = 0,
        /// <summary>Push an error code (TBF_EXCEPTION_ERRCODE).</summary>
        ErrorCode = 1,
        /// <summary>Set evtchn_upcall_mask on entry (TBF_INTERRUPT).</summary>
        MaskEvents = 2,
        /// <summary>Push DS, ES, FS, GS too (TBF_FAILSAFE).</summary>
        Failsafe = 4,
    }

    /// <summary>The virtual IDT (trap_ctxt), one entry per vector; set_trap_table fills it.</summary>
    internal TrapInfo[] TrapTable { get; } = new TrapInfo[TrapAbi.Vectors];

    /// <summary>CALLBACKTYPE_event: the evtchn upcall entry (0 = none; events are then not delivered by upcall).</summary>
    public ulong EventCallback { get; internal set; }
    /// <summary>CALLBACKTYPE_failsafe: entered when a return to the guest fails (bad frame or selector).</summary>
    public ulong FailsafeCallback { get; internal set; }
    /// <summary>CALLBACKTYPE_syscall: entered on <c>syscall</c> from guest user mode.</summary>
    public ulong SyscallCallback { get; internal set; }
    /// <summary>CALLBACKTYPE_syscall32 / sysenter: recorded for 32-bit user code (not run by this platform).</summary>
    public ulong Syscall32Callback { get; internal set; }
    public ulong SysenterCallback { get; internal set; }
    internal bool FailsafeDisablesEvents, SyscallDisablesEvents, Syscall32DisablesEvents, SysenterDisablesEvents;

    /// <summary>kernel_ss from stack_switch (the RPL forced to 3).</summary>
    public ushort KernelStackSegment { get; internal set; } = X86_64.FlatKernelSs64;

    /// <summary>Guest GDT frames from set_gdt and its entry count (gdt_ents).</summary>
    internal ulong[] GdtFrames { get; set; } = [];
    public int GdtEntries { get; internal set; }

    /// <summary>DR0-DR7 as set_debugreg left them (DR4/DR5 unused).</summary>
    internal ulong[] DebugRegisters { get; } = [0, 0, 0, 0, 0, 0, TrapAbi.Dr6Default, TrapAbi.Dr7Default];

    /// <summary>The guest's virtual CR2 (arch.pv.ctrlreg[2]): the address of the last page fault delivered.</summary>
    public ulong GuestCr2 { get; internal set; }
    /// <summary>The guest's virtual CR4 bits it may set (TSD, DE).</summary>
    internal ulong GuestCr4Bits { get; set; }
    /// <summary>Virtual IOPL (PHYSDEVOP_set_iopl); 0 for a domU: no port I/O, cli/sti only in kernel mode.</summary>
    internal int VirtualIopl { get; set; }

    private const ulong Dr6Bs = 1UL << 14, Dr6BreakpointBits = 0xFUL, Dr6StickyBits = (1UL << 13) | (1UL << 14) | (1UL << 15);

    /// <summary>x86_merge_dr6: a #DB overwrites B0-B3 with its own matches and accumulates BD, BS and BT.</summary>
    internal static ulong MergeDr6(ulong dr6, ulong pending) =>
        (dr6 & ~Dr6BreakpointBits) | (pending & (Dr6BreakpointBits | Dr6StickyBits));

    /// <summary>
    /// The shadow LDT (Xen's per-vCPU LDT mapping): for each LDT page, 1 + the frame mapped on first use, or 0. Each
    /// mapped frame holds a seg_desc type reference. Read and written only under the PV MMU's lock.
    /// </summary>
    internal ulong[] ShadowLdt { get; } = new ulong[Memory.PvMmu.MaxLdtPages];

    /// <summary>
    /// A segment load that failed because its LDT page could not be mapped: the CPU reports #GP(selector), and the
    /// guest gets the #PF at <see cref="PendingLdtFaultAddress"/> Xen passes back instead (handle_ldt_mapping_fault).
    /// </summary>
    internal int PendingLdtFaultSelector { get; set; } = -1;
    internal ulong PendingLdtFaultAddress { get; set; }
    /// <summary>The LDT page could not be looked at just then (the MMU was busy): the load is retried, not faulted.</summary>
    internal bool PendingLdtRetry { get; set; }

    /// <summary>MMUEXT_SET_LDT's effect: a new LDT base and size; the old shadow mapping goes (pv_destroy_ldt).</summary>
    internal void SetLdt(ulong linearBase, uint entries)
    {
        if (LdtEntries == entries && LdtBase == linearBase) return;
        Domain.Hypervisor.Mmu.DestroyShadowLdt(this);
        LdtBase = linearBase;
        LdtEntries = entries;
        Cpu.FlushTlb();
    }

    private int _nmiPending;

    /// <summary>An NMI is waiting for delivery (VCPUOP_send_nmi; arch.nmi_pending).</summary>
    public bool NmiPending => Volatile.Read(ref _nmiPending) != 0;

    /// <summary>The NMI bit of Xen's async_exception_mask: set while the guest's NMI handler runs, until its iret.</summary>
    public bool NmiMasked { get; internal set; }

    /// <summary>VCPUOP_send_nmi: mark an NMI pending (once) and kick the vCPU, waking it from a block.</summary>
    internal void SendNmi()
    {
        if (Interlocked.Exchange(ref _nmiPending, 1) != 0) return;
        Wake();
        Cpu.Kick();
    }

    /// <summary>
    /// process_nmi (entry.S): a pending NMI, unless one is being handled, goes to the NMI callback (trap-table entry 2,
    /// registered with events masked) and masks NMIs until the guest's iret. With no callback registered the NMI is
    /// dropped, as Xen's set_guest_nmi_trapbounce leaves it. Returns false if delivering crashed the domain.
    /// </summary>
    private bool DeliverPendingNmi()
    {
        if (NmiMasked || Interlocked.Exchange(ref _nmiPending, 0) == 0) return true;
        ref readonly var ti = ref TrapTable[ExceptionVector.Nmi];
        if (ti.Address == 0) return true;
        NmiMasked = true;
        return CreateBounceFrame(ti.Address, ti.MasksEvents ? BounceFlags.MaskEvents : BounceFlags.None, 0, ExceptionVector.Nmi);
    }

    /// <summary>The multicall being run on this vCPU, if any (mc_state).</summary>
    internal Hypercalls.MulticallState Multicall { get; } = new();

    /// <summary>PHYSDEVOP_set_iobitmap: the guest virtual address of its I/O permission bitmap and the ports it covers.</summary>
    internal ulong IoBitmap { get; set; }
    internal uint IoBitmapLimit { get; set; }

    /// <summary>CR3 of kernel mode when the kernel L4 was never recorded in <see cref="GuestTableMfn"/>.</summary>
    private ulong _kernelCr3;
    private PrivilegedOpEmulator? _privOp;
    private DescriptorTables? _descriptors;

    internal DescriptorTables Descriptors => _descriptors ??= new DescriptorTables(this);

    /// <summary>Install the PV views on the platform CPU: the filtered CPUID policy and the descriptor tables.</summary>
    private void InitTrapState()
    {
        var policy = new PvCpuidPolicy(this);
        Cpu.Cpuid = policy.Query;
        Cpu.Descriptors = Descriptors.Lookup;
    }

    /// <summary>
    /// toggle_guest_mode: flip between guest kernel and guest user mode. As swapgs, the active and inactive GS
    /// bases trade places; CR3 becomes the page-table base of the new mode (guest_table / guest_table_user).
    /// </summary>
    internal void ToggleGuestMode()
    {
        var r = Registers;
        if (InKernelMode) _kernelCr3 = r.Cr3;
        InKernelMode = !InKernelMode;
        (r.GsBase, r.KernelGsBase) = (r.KernelGsBase, r.GsBase);
        ulong cr3 = InKernelMode
            ? (GuestTableMfn != 0 ? PageTableBaseFor(true) : _kernelCr3)
            : PageTableBaseFor(false);
        if (cr3 != r.Cr3)
        {
            r.Cr3 = cr3;
            Cpu.FlushTlb();
        }
    }

    /// <summary>CR3 of guest kernel mode, whichever mode the vCPU is in now.</summary>
    internal ulong KernelPageTableBase =>
        InKernelMode ? Registers.Cr3 : GuestTableMfn != 0 ? PageTableBaseFor(true) : _kernelCr3;

    // ---- vcpu_info access ---------------------------------------------------------------------------------

    // Through the one accessor (Vcpu.Smp.cs): vcpu_info may have moved with VCPUOP_register_vcpu_info.
    private unsafe byte* VcpuInfo => VcpuInfoPointer(Domain, Id);

    private bool HasVcpuInfo => VcpuInfoAddress != ulong.MaxValue;

    internal unsafe byte UpcallMask
    {
        get => HasVcpuInfo ? Volatile.Read(ref *(VcpuInfo + SharedInfoLayout.VcpuUpcallMask)) : (byte)1;
        set
        {
            if (!HasVcpuInfo) return;
            Volatile.Write(ref *(VcpuInfo + SharedInfoLayout.VcpuUpcallMask), value);
            NoteVcpuInfoWrite(Domain, Id);
        }
    }

    private unsafe bool UpcallPendingFlag => HasVcpuInfo && Volatile.Read(ref *(VcpuInfo + SharedInfoLayout.VcpuUpcallPending)) != 0;

    private unsafe void WriteVcpuInfoCr2(ulong cr2)
    {
        if (!HasVcpuInfo) return;
        Unsafe.WriteUnaligned(VcpuInfo + SharedInfoLayout.VcpuArchCr2, cr2);
        NoteVcpuInfoWrite(Domain, Id);
    }

    // ---- bounce frames ------------------------------------------------------------------------------------

    /// <summary>
    /// create_bounce_frame: enter the guest kernel at <paramref name="eip"/> with, on its stack (from user mode the
    /// kernel stack of stack_switch, after switching to kernel mode and page tables), aligned down to 16 bytes,
    /// lowest address first: RCX, R11, [DS, ES, FS, GS,] [error code,] RIP, CS | saved_upcall_mask &lt;&lt; 32,
    /// RFLAGS (IF = !saved_upcall_mask), RSP, SS. CS has RPL 0 when the interrupted context was guest kernel mode.
    /// Returns false when the frame could not be written; the domain has then been crashed with the reason.
    /// <paramref name="source"/> names what is delivered, for that reason only: a vector (0-255) or one of the
    /// Source* values; <paramref name="detail"/> adds to it (rare paths only: nothing is formatted on success).
    /// </summary>
    internal bool CreateBounceFrame(ulong eip, BounceFlags flags, uint errorCode, int source, string? detail = null)
    {
        var r = Registers;
        var d = Domain;
        if (eip == 0)
        {
            d.Hypervisor.CrashDomain(d, $"d{d.Id}v{Id} {SourceName(source, detail)}: no guest handler registered");
            return false;
        }
        bool fromUser = !InKernelMode;
        ulong cs = r.Cs;
        ulong top;
        if (fromUser)
        {
            top = KernelStackPointer;
        }
        else
        {
            top = r.Rsp;
            cs &= ~3UL; // tells the guest it interrupted kernel context
        }
        top &= ~0xFUL;
        int words = 7 + ((flags & BounceFlags.ErrorCode) != 0 ? 1 : 0) + ((flags & BounceFlags.Failsafe) != 0 ? 4 : 0);
        ulong frame = top - (ulong)words * 8;
        if (!IsGuestStackRange(frame, top))
        {
            d.Hypervisor.CrashDomain(d, $"d{d.Id}v{Id} fault while delivering {SourceName(source, detail)}: bounce frame at {frame:x16} is outside the guest's address space");
            return false;
        }
        byte savedMask = UpcallMask;
        Span<ulong> f = stackalloc ulong[12];
        int i = 0;
        f[i++] = r.Rcx;
        f[i++] = r.R11;
        if ((flags & BounceFlags.Failsafe) != 0)
        {
            f[i++] = r.Ds;
            f[i++] = r.Es;
            f[i++] = r.Fs;
            f[i++] = r.Gs;
        }
        if ((flags & BounceFlags.ErrorCode) != 0) f[i++] = errorCode;
        f[i++] = r.Rip;
        f[i++] = cs | ((ulong)savedMask << 32);
        // RFLAGS.IOPL in the frame: the virtual IOPL under VMASST_TYPE_architectural_iopl, else 0 (create_bounce_frame).
        ulong iopl = d.HasVmAssist(Hypercalls.VmAssistOp.TypeArchitecturalIopl) ? (ulong)(VirtualIopl & 3) << 12 : 0;
        f[i++] = (r.Rflags & ~(Rflags.IF | Rflags.IOPL)) | iopl | (savedMask == 0 ? Rflags.IF : 0);
        f[i++] = r.Rsp;
        f[i++] = r.Ss;
        if (fromUser) ToggleGuestMode();
        if (!GuestMemory.CopyTo(this, frame, System.Runtime.InteropServices.MemoryMarshal.AsBytes(f[..i])))
        {
            d.Hypervisor.CrashDomain(d, $"d{d.Id}v{Id} fault while delivering {SourceName(source, detail)}: guest kernel stack at {frame:x16} is not mapped writable" +
                (fromUser ? $" (kernel_sp {KernelStackPointer:x16})" : ""));
            return false;
        }
        if ((flags & BounceFlags.MaskEvents) != 0) UpcallMask = 1;
        // IA32 semantics of a trap: TF, VM, RF and NT clear; AC too, as Xen does for kernel entry.
        r.Rflags = (r.Rflags & ~(Rflags.AC | Rflags.VM | Rflags.RF | Rflags.NT | Rflags.TF | Rflags.IOPL)) | Rflags.IF | Rflags.Fixed1;
        r.Ss = X86_64.FlatKernelSs64;
        r.Rsp = frame;
        r.Cs = X86_64.FlatKernelCs64;
        r.Rip = eip;
        return true;
    }

    /// <summary>A bounce frame must lie in canonical guest space, clear of Xen's reserved range.</summary>
    private static bool IsGuestStackRange(ulong low, ulong top)
    {
        if (low > top) return false; // wrapped below zero
        static bool Canonical(ulong a) => (ulong)((long)(a << 16) >> 16) == a;
        ulong last = top - 1;
        if (!Canonical(low) || !Canonical(last)) return false;
        if ((low >> 47) != (last >> 47)) return false; // straddles the canonical hole
        return last < X86_64.HypervisorVirtStart || low >= X86_64.HypervisorVirtEnd;
    }

    // ---- event and exception delivery ---------------------------------------------------------------------

    /// <summary>
    /// pv_inject_event for a hardware exception or a permitted software interrupt: bounce to the trap table's
    /// handler, masking events if its TI flag says so; #PF first records CR2 in vcpu_info.arch.cr2. A vector
    /// with no handler crashes the domain ("Unhandled … fault/trap"), as Xen's null trap bounce does.
    /// </summary>
    internal bool InjectTrap(byte vector, bool hasErrorCode, uint errorCode, ulong cr2 = 0)
    {
        ref readonly var ti = ref TrapTable[vector];
        if (vector == ExceptionVector.PageFault)
        {
            // A 64-bit PV kernel runs in ring 3, so the CPU reports every fault as a user access: Xen re-sets
            // error_code.user from the guest's own mode (kernel mode: clear; user mode: set).
            errorCode = (errorCode & ~PfecUserMode) | (InKernelMode ? 0u : PfecUserMode);
            GuestCr2 = cr2;
            Registers.Cr2 = cr2;
            WriteVcpuInfoCr2(cr2);
        }
        if (ti.Address == 0)
        {
            var d = Domain;
            d.Hypervisor.CrashDomain(d, $"d{d.Id}v{Id} Unhandled {VectorName(vector)} fault/trap [#{vector}, ec={errorCode:x4}]"
                + (vector == ExceptionVector.PageFault ? $" cr2 {cr2:x16}" : "") + $" at {Registers.Rip:x16}"
                + (InKernelMode ? "" : " (guest user mode)"));
            return false;
        }
        var flags = (hasErrorCode ? BounceFlags.ErrorCode : BounceFlags.None) | (ti.MasksEvents ? BounceFlags.MaskEvents : BounceFlags.None);
        return CreateBounceFrame(ti.Address, flags, errorCode, vector);
    }

    /// <summary>PFEC_user_mode: bit 2 of a page-fault error code.</summary>
    internal const uint PfecUserMode = 1u << 2;

    internal const int SourceEventUpcall = -1, SourceSyscall = -2, SourceFailsafe = -3;

    private static string SourceName(int source, string? detail) => source switch
    {
        SourceEventUpcall => "event upcall",
        SourceSyscall => "syscall",
        SourceFailsafe => $"failsafe callback ({detail})",
        _ => VectorName((byte)source),
    };

    private static string VectorName(byte vector) => vector switch
    {
        ExceptionVector.PageFault => "page fault",
        ExceptionVector.GeneralProtection => "general protection",
        ExceptionVector.InvalidOpcode => "invalid opcode",
        ExceptionVector.DivideError => "divide error",
        < 32 => ExceptionVector.Name(vector),
        _ => $"software interrupt 0x{vector:x}",
    };

    /// <summary>
    /// test_guest_events, after a pending NMI (<see cref="DeliverPendingNmi"/>): with events unmasked (evtchn_upcall_mask clear), one pending (evtchn_upcall_pending) and
    /// an event callback registered, bounce to the callback with events masked. Returns false if that crashed
    /// the domain.
    /// </summary>
    internal bool DeliverPendingEvents()
    {
        if (!DeliverPendingNmi()) return false;
        if (EventCallback == 0 || !HasVcpuInfo) return true;
        if (UpcallMask != 0 || !UpcallPendingFlag) return true;
        return CreateBounceFrame(EventCallback, BounceFlags.MaskEvents, 0, SourceEventUpcall);
    }

    /// <summary>
    /// The failsafe callback (entry.S failsafe_callback): a return to the guest could not load its frame; the
    /// guest gets the would-be context plus its data selectors.
    /// </summary>
    internal bool DeliverFailsafe(string why) =>
        CreateBounceFrame(FailsafeCallback, BounceFlags.Failsafe | (FailsafeDisablesEvents ? BounceFlags.MaskEvents : BounceFlags.None), 0,
            SourceFailsafe, why);

    /// <summary>
    /// A <c>syscall</c> from guest user mode (switch_to_kernel): bounce to the syscall callback on the kernel
    /// stack with kernel page tables, masking events if it was registered with CALLBACKF_mask_events, and with
    /// RFLAGS.DF clear. With no callback the instruction raises #UD, as SYSCALL does when disabled.
    /// </summary>
    private void HandleUserSyscall()
    {
        var r = Registers;
        if (SyscallCallback == 0)
        {
            r.Rip -= 2; // #UD is a fault: at the syscall instruction
            InjectTrap(ExceptionVector.InvalidOpcode, false, 0);
            return;
        }
        if (CreateBounceFrame(SyscallCallback, SyscallDisablesEvents ? BounceFlags.MaskEvents : BounceFlags.None, 0, SourceSyscall))
            r.Rflags &= ~Rflags.DF;
    }

    /// <summary>
    /// <c>int n</c>, <c>int3</c>, <c>into</c> (RIP after the instruction). #BP and #OF are delivered like
    /// exceptions (Xen's IDT lets ring 3 raise them). int 0x80 with a handler is bounced directly
    /// (int80_direct_trap). Any other vector needs a trap-table entry whose DPL admits the caller (1 for guest
    /// kernel, 3 for user); otherwise #GP with error code (vector &lt;&lt; 3) | 2 at the instruction.
    /// </summary>
    private void HandleSoftwareInterrupt(byte vector)
    {
        if (vector == ExceptionVector.Breakpoint || vector == ExceptionVector.Overflow)
        {
            InjectTrap(vector, false, 0);
            return;
        }
        ref readonly var ti = ref TrapTable[vector];
        if ((vector == 0x80 && ti.Address != 0) || ti.Dpl >= (InKernelMode ? 1 : 3))
        {
            InjectTrap(vector, false, 0);
            return;
        }
        Registers.Rip -= 2; // int imm8: a #GP is a fault at the instruction
        InjectTrap(ExceptionVector.GeneralProtection, true, ((uint)vector << 3) | 2);
    }

    /// <summary>
    /// An exit that belongs to the guest: <c>syscall</c> from guest user mode, an exception, or a software
    /// interrupt. Emulated where Xen emulates, otherwise delivered through a bounce frame, or the domain crashed.
    /// </summary>
    internal void HandleGuestExit(VcpuExit exit)
    {
        switch (exit.Reason)
        {
            case VcpuExitReason.Syscall: HandleUserSyscall(); break;
            case VcpuExitReason.Exception: HandleException(exit); break;
            case VcpuExitReason.SoftwareInterrupt: HandleSoftwareInterrupt(exit.Vector); break;
        }
    }

    /// <summary>A fault or trap from the CPU: emulate what Xen emulates, reflect the rest to the guest.</summary>
    private void HandleException(VcpuExit exit)
    {
        switch (exit.Vector)
        {
            case ExceptionVector.PageFault:
                // Xen's ptwr first: a kernel store into one of its own L1 tables is validated and applied as an
                // mmu_update would be; every other #PF is the guest's.
                if (_domain.Hypervisor.Mmu.TryEmulatePageTableWrite(this, exit)) return;
                InjectTrap(ExceptionVector.PageFault, true, exit.ErrorCode, exit.FaultAddress);
                return;
            case ExceptionVector.GeneralProtection:
                if (TakePendingLdtFault(exit.ErrorCode, out ulong ldtAddress, out bool retry))
                {
                    if (retry) return; // RIP is still at the segment load
                    // The LDT page behind the selector could not be mapped: the #PF, at the LDT address (error code:
                    // a supervisor read of a page that is not present, as the descriptor fetch saw it).
                    InjectTrap(ExceptionVector.PageFault, true, 0, ldtAddress);
                    return;
                }
                if (exit.ErrorCode == 0 && (_privOp ??= new PrivilegedOpEmulator(this)).TryEmulate()) return;
                InjectTrap(ExceptionVector.GeneralProtection, true, exit.ErrorCode);
                return;
            case ExceptionVector.InvalidOpcode:
                if ((_privOp ??= new PrivilegedOpEmulator(this)).TryForcedEmulation()) return;
                InjectTrap(ExceptionVector.InvalidOpcode, false, 0);
                return;
            case ExceptionVector.DeviceNotAvailable:
                // do_device_not_available: the guest asked for the trap with fpu_taskswitch; it is delivered once
                // and CR0.TS cleared, so the handler need not clts.
                Cpu.TaskSwitched = false;
                InjectTrap(ExceptionVector.DeviceNotAvailable, false, 0);
                return;
            case ExceptionVector.Debug:
                // pv_inject_DB: the #DB's pending bits merged into the guest's DR6 as Xen's x86_merge_dr6 does
                // (B0-B3 overwritten, BD/BS/BT accumulated). The CPU reports what it raised; one that reports
                // nothing: BS for a single step (TF was set), none for an icebp (int1), which so clears B0-B3.
                ulong pending = Cpu.DebugStatus;
                if (pending == 0 && (Registers.Rflags & Rflags.TF) != 0) pending = Dr6Bs;
                RaiseDebugTrap(pending);
                return;
            default:
                InjectTrap(exit.Vector, exit.HasErrorCode, exit.ErrorCode);
                return;
        }
    }

    private bool TakePendingLdtFault(uint errorCode, out ulong address, out bool retry)
    {
        int selector = PendingLdtFaultSelector;
        PendingLdtFaultSelector = -1;
        address = PendingLdtFaultAddress;
        retry = PendingLdtRetry;
        PendingLdtRetry = false;
        return selector >= 0 && (uint)selector == (errorCode & 0xFFFC);
    }

    /// <summary>
    /// The end of an emulated instruction: RIP past it, then the #DB it would have raised (pv_emulate_privileged_op):
    /// <paramref name="bpmatch"/> for I/O breakpoints it hit, BS if it was single-stepped (TF).
    /// </summary>
    internal void CompleteEmulatedInstruction(ulong length, ulong bpmatch = 0)
    {
        var r = Registers;
        r.Rip += length;
        if ((r.Rflags & Rflags.TF) != 0) bpmatch |= Dr6Bs;
        if (bpmatch != 0) RaiseDebugTrap(bpmatch);
    }

    /// <summary>pv_inject_DB: merge <paramref name="pending"/> into DR6 and deliver #DB at the current RIP.</summary>
    internal void RaiseDebugTrap(ulong pending)
    {
        DebugRegisters[6] = MergeDr6(DebugRegisters[6], pending);
        InjectTrap(ExceptionVector.Debug, false, 0);
    }
}
