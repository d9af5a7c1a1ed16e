using Iced.Intel;
using static Paravirt.PortAnalysis.Cpl3Behaviour;
using static Paravirt.PortAnalysis.SensitiveCategory;

namespace Paravirt.PortAnalysis;

/// <summary>
/// The catalogue of instructions a Xen x86-64 PV port must replace, and the classifier that maps a decoded Iced
/// <see cref="Instruction"/> to its rule. Classification uses Iced's mnemonic and operand registers, never text.
/// Hypercall and structure names are Xen's public ABI (xen.h, sched.h, arch-x86/xen-x86_64.h, callback.h, physdev.h);
/// the guest SDK's headers in guest-sdk/include/paravirt carry the same names.
/// </summary>
public static class SensitiveInstructions
{
    private const string GpCpl3 = "#GP(0): privileged, the PV kernel runs at CPL 3";
    private const string GpCpl3Emulated = GpCpl3 + "; Xen's privileged-op emulation completes it, at a trap per execution";

    public static readonly SensitiveRule Cli = new("cli", InterruptFlag, Faults,
        "#GP(0): CPL 3 with IOPL 0 may not touch IF; events are not masked",
        "vcpu_info.evtchn_upcall_mask = 1 (compiler barrier after)");
    public static readonly SensitiveRule Sti = new("sti", InterruptFlag, Faults,
        "#GP(0): CPL 3 with IOPL 0 may not touch IF; events stay masked",
        "vcpu_info.evtchn_upcall_mask = 0, then if evtchn_upcall_pending: force the upcall (e.g. HYPERVISOR_xen_version(0) or a self-notify)");
    public static readonly SensitiveRule Popf = new("popf", InterruptFlag, Misbehaves,
        "IF in the popped value is silently ignored at CPL 3 > IOPL: a saved \"interrupts off\" state is never restored",
        "restore vcpu_info.evtchn_upcall_mask from the saved flags (local_irq_restore over the upcall mask), popf only for the arithmetic flags");
    public static readonly SensitiveRule Pushf = new("pushf", InterruptFlag, Misbehaves,
        "the pushed IF is the real one (always 1 in a PV guest), not the guest's virtual interrupt state",
        "where IF is consulted (local_irq_save, irqs_disabled): read vcpu_info.evtchn_upcall_mask; reading the other flags is fine",
        Advisory: true);
    public static readonly SensitiveRule Hlt = new("hlt", Idle, Faults,
        GpCpl3,
        "HYPERVISOR_sched_op(SCHEDOP_block) with events unmasked (the vCPU sleeps until an event is pending)");
    public static readonly SensitiveRule MonitorMwait = new("monitor-mwait", Idle, Faults,
        "#UD/#GP(0) at CPL 3 (and MONITOR/MWAIT are hidden from PV guests)",
        "HYPERVISOR_sched_op(SCHEDOP_block), or SCHEDOP_poll on specific event channels");
    public static readonly SensitiveRule PortIo = new("port-io", SensitiveCategory.PortIo, Faults,
        "#GP(0) at CPL 3 with IOPL 0 and no I/O bitmap; Xen emulates it only for ports granted to the domain (dom0 / ioports=)",
        "a PV front-end (console ring, xenbus devices); a privileged domain with granted ports: HYPERVISOR_physdev_op(PHYSDEVOP_set_iopl)");
    public static readonly SensitiveRule Lgdt = new("lgdt", DescriptorTable, Faults,
        GpCpl3,
        "HYPERVISOR_set_gdt(frames, entries): the GDT lives in read-only guest frames; update entries with HYPERVISOR_update_descriptor");
    public static readonly SensitiveRule Lidt = new("lidt", DescriptorTable, Faults,
        GpCpl3,
        "HYPERVISOR_set_trap_table(trap_info[]): vector, flags (DPL), cs, handler address");
    public static readonly SensitiveRule Lldt = new("lldt", DescriptorTable, Faults,
        GpCpl3,
        "HYPERVISOR_mmuext_op(MMUEXT_SET_LDT) with linear_addr and nr_ents");
    public static readonly SensitiveRule Ltr = new("ltr", DescriptorTable, Faults,
        GpCpl3 + "; the TSS belongs to the hypervisor",
        "none needed: set the kernel stack with HYPERVISOR_stack_switch(ss, rsp); I/O permission with PHYSDEVOP_set_iopl / set_iobitmap");
    public static readonly SensitiveRule StoreDescriptorTable = new("store-descriptor-table", DescriptorTable, Misbehaves,
        "executes at CPL 3 (#GP only when UMIP is on) and returns the hypervisor's GDT/IDT/LDT/TR, not the guest's",
        "keep the guest's own copy of what it registered with set_gdt / set_trap_table / MMUEXT_SET_LDT");
    public static readonly SensitiveRule Smsw = new("smsw", ControlRegister, Misbehaves,
        "executes at CPL 3 (#GP only when UMIP is on) and returns the real CR0 low word (TS, MP, EM as Xen set them)",
        "keep a guest copy of CR0; TS changes go through HYPERVISOR_fpu_taskswitch");
    public static readonly SensitiveRule Lmsw = new("lmsw", ControlRegister, Faults,
        GpCpl3,
        "HYPERVISOR_fpu_taskswitch(1/0) for TS; the other CR0 bits are the hypervisor's");
    public static readonly SensitiveRule Cr0Write = new("mov-cr0-write", ControlRegister, Faults,
        GpCpl3Emulated + " (only TS is honoured)",
        "HYPERVISOR_fpu_taskswitch(set) for CR0.TS; paging/protection bits are fixed by the hypervisor");
    public static readonly SensitiveRule Cr0Read = new("mov-cr0-read", ControlRegister, Faults,
        GpCpl3Emulated,
        "keep a guest copy of CR0 (TS as last set with HYPERVISOR_fpu_taskswitch)");
    public static readonly SensitiveRule Cr2Read = new("mov-cr2-read", ControlRegister, Faults,
        GpCpl3Emulated,
        "read vcpu_info.arch.cr2: Xen stores the faulting address there before delivering #PF");
    public static readonly SensitiveRule Cr3Write = new("mov-cr3-write", ControlRegister, Faults,
        GpCpl3Emulated,
        "HYPERVISOR_mmuext_op(MMUEXT_PIN_L4_TABLE, then MMUEXT_NEW_BASEPTR with the MFN; MMUEXT_NEW_USER_BASEPTR for the user half)");
    public static readonly SensitiveRule Cr3Read = new("mov-cr3-read", ControlRegister, Faults,
        GpCpl3Emulated + " (the value is a machine address)",
        "keep the guest's current page-table root (pseudo-physical) in a variable; translate with the p2m/m2p");
    public static readonly SensitiveRule Cr4 = new("mov-cr4", ControlRegister, Faults,
        GpCpl3Emulated + " (writes are filtered)",
        "none: CR4 is the hypervisor's; discover features with CPUID (forced-emulation form) and XENVER_get_features");
    public static readonly SensitiveRule CrOther = new("mov-cr-other", ControlRegister, Faults,
        GpCpl3,
        "none: CR8 (TPR) and writes to CR2 have no PV meaning (no local APIC: use event-channel masking and priorities)");
    public static readonly SensitiveRule DebugRegister = new("mov-dr", SensitiveCategory.DebugRegister, Faults,
        GpCpl3Emulated,
        "HYPERVISOR_set_debugreg(reg, value) / HYPERVISOR_get_debugreg(reg)");
    public static readonly SensitiveRule Rdmsr = new("rdmsr", Msr, Faults,
        GpCpl3Emulated + " for a small read-only set; others read 0 or inject #GP",
        "FS/GS bases: keep a guest copy; platform MSRs (dom0): HYPERVISOR_platform_op; otherwise drop the access");
    public static readonly SensitiveRule Wrmsr = new("wrmsr", Msr, Faults,
        GpCpl3Emulated + " for a few MSRs; most writes are dropped or refused",
        "FS/GS bases: HYPERVISOR_set_segment_base(SEGBASE_FS / SEGBASE_GS_USER / SEGBASE_GS_KERNEL); LSTAR/STAR/SYSENTER: HYPERVISOR_callback_op(CALLBACKOP_register, CALLBACKTYPE_syscall / sysenter)");
    public static readonly SensitiveRule Invlpg = new("invlpg", TlbFlush, Faults,
        GpCpl3,
        "HYPERVISOR_mmuext_op(MMUEXT_INVLPG_LOCAL / MMUEXT_INVLPG_MULTI), or UVMF_INVLPG on HYPERVISOR_update_va_mapping");
    public static readonly SensitiveRule Invpcid = new("invpcid", TlbFlush, Faults,
        GpCpl3 + " (and PCID is not offered to PV guests)",
        "HYPERVISOR_mmuext_op(MMUEXT_TLB_FLUSH_LOCAL / MMUEXT_TLB_FLUSH_ALL / MMUEXT_INVLPG_*)");
    public static readonly SensitiveRule CacheFlush = new("cache-flush", CacheControl, Faults,
        GpCpl3Emulated + " (a no-op unless the domain may flush caches)",
        "usually nothing (no device memory); privileged domains: HYPERVISOR_mmuext_op(MMUEXT_FLUSH_CACHE)");
    public static readonly SensitiveRule Swapgs = new("swapgs", SegmentBase, Faults,
        GpCpl3,
        "remove it: Xen switches between the kernel and user GS bases on every guest kernel/user transition; set the user base with HYPERVISOR_set_segment_base(SEGBASE_GS_USER)");
    public static readonly SensitiveRule FsGsBase = new("fsgsbase", SegmentBase, Faults,
        "#UD: CR4.FSGSBASE is not enabled for PV guests",
        "HYPERVISOR_set_segment_base(SEGBASE_FS / SEGBASE_GS_USER / SEGBASE_GS_KERNEL / SEGBASE_GS_USER_SEL); keep guest copies for reads");
    public static readonly SensitiveRule Iret = new("iret", ExceptionReturn, Misbehaves,
        "runs at CPL 3 but cannot restore IF, switch to the user page tables or return from a hypervisor-delivered frame",
        "HYPERVISOR_iret: push rax, r11, rcx, flags (VGCF_in_syscall) and the return frame, then jump to the hypercall page's iret entry");
    public static readonly SensitiveRule Sysret = new("sysret", SystemCall, Faults,
        GpCpl3,
        "HYPERVISOR_iret with VGCF_in_syscall in the frame's flags");
    public static readonly SensitiveRule Sysexit = new("sysexit", SystemCall, Faults,
        GpCpl3,
        "HYPERVISOR_iret");
    public static readonly SensitiveRule Sysenter = new("sysenter", SystemCall, Faults,
        "#UD/#GP in a 64-bit PV kernel (SYSENTER MSRs are the hypervisor's)",
        "a kernel does not enter itself: call the code directly; user entry points are registered with CALLBACKOP_register");
    public static readonly SensitiveRule Syscall = new("syscall", SystemCall, Works,
        "traps to the hypervisor: from a 64-bit PV kernel SYSCALL *is* the hypercall instruction (rax = hypercall number)",
        "make hypercalls through the hypercall page (call hypercall_page + nr * 32), never with an inline syscall");
    public static readonly SensitiveRule Cpuid = new("cpuid", SensitiveCategory.Cpuid, Misbehaves,
        "executes without a trap (no CPUID faulting) and reports the host CPU, not the domain's CPUID policy; no Xen leaves",
        "forced-emulation form: ud2; .ascii \"xen\"; cpuid (XEN_EMULATE_PREFIX; `pvport patch` does it where 5 bytes of padding allow)");
    public static readonly SensitiveRule Rdtsc = new("rdtsc", TimeStampCounter, Works,
        "allowed (CR4.TSD clear under Xen's default tsc_mode); the TSC is the host's, its rate not necessarily constant across migration",
        "keep for pvclock, but compute system time from vcpu_info.time (vcpu_time_info: tsc_timestamp, system_time, tsc_to_system_mul, tsc_shift, version)");
    public static readonly SensitiveRule Rdtscp = new("rdtscp", TimeStampCounter, Works,
        "allowed like rdtsc; TSC_AUX is whatever the hypervisor set",
        "as rdtsc: vcpu_time_info for time; do not use TSC_AUX as a CPU number (use VCPUOP / the guest's own per-CPU data)");
    public static readonly SensitiveRule Rdpmc = new("rdpmc", PerformanceCounter, Faults,
        "#GP(0) at CPL 3 unless the hypervisor sets CR4.PCE (it does not for PV guests without vPMU)",
        "HYPERVISOR_xenpmu_op (XENPMU_*) when the vPMU is offered; otherwise drop the counter read");
    public static readonly SensitiveRule Clts = new("clts", FpuState, Faults,
        GpCpl3Emulated,
        "HYPERVISOR_fpu_taskswitch(0)");
    public static readonly SensitiveRule Xsetbv = new("xsetbv", ExtendedState, Faults,
        GpCpl3Emulated + " against the domain's xstate policy",
        "keep, or better: take XCR0 as CPUID (forced-emulation) reports it and avoid writing it");
    public static readonly SensitiveRule SupervisorXsave = new("xsaves-xrstors", ExtendedState, Faults,
        GpCpl3 + " (supervisor-state save/restore is CPL 0 only)",
        "xsave/xsaveopt and xrstor (user-state forms)");
    public static readonly SensitiveRule StacClac = new("stac-clac", AccessProtection, Faults,
        "#UD at CPL 3 (and SMAP is not offered to PV guests)",
        "remove it: a PV kernel has no SMAP; user and kernel are separated by page tables (`pvport patch` turns it into a 3-byte nop)");
    public static readonly SensitiveRule VmCall = new("vmcall", Virtualization, Faults,
        "#UD: not an HVM guest, there is no VMCALL/VMMCALL path",
        "the hypercall page (call hypercall_page + nr * 32)");
    public static readonly SensitiveRule Vmx = new("vmx-svm", Virtualization, Faults,
        "#UD/#GP: hardware virtualisation is not offered to PV guests",
        "none: a PV guest cannot run a hypervisor");
    public static readonly SensitiveRule BadForcedEmulation = new("forced-emulation-misuse", ForcedEmulation, Faults,
        "the forced-emulation prefix (ud2; \"xen\") before an instruction Xen does not emulate there: the guest gets #UD",
        "use the prefix only before cpuid");

    /// <summary>Every rule, for documentation and tests.</summary>
    public static IReadOnlyList<SensitiveRule> All { get; } =
    [
        Cli, Sti, Popf, Pushf, Hlt, MonitorMwait, PortIo, Lgdt, Lidt, Lldt, Ltr, StoreDescriptorTable, Smsw, Lmsw,
        Cr0Write, Cr0Read, Cr2Read, Cr3Write, Cr3Read, Cr4, CrOther, DebugRegister, Rdmsr, Wrmsr, Invlpg, Invpcid,
        CacheFlush, Swapgs, FsGsBase, Iret, Sysret, Sysexit, Sysenter, Syscall, Cpuid, Rdtsc, Rdtscp, Rdpmc, Clts,
        Xsetbv, SupervisorXsave, StacClac, VmCall, Vmx, BadForcedEmulation,
    ];

    /// <summary>The rule for <paramref name="instruction"/>, or null when it is fine in a PV kernel.</summary>
    public static SensitiveRule? Classify(in Instruction instruction)
    {
        switch (instruction.Mnemonic)
        {
            case Mnemonic.Cli: return Cli;
            case Mnemonic.Sti: return Sti;
            case Mnemonic.Popf: case Mnemonic.Popfd: case Mnemonic.Popfq: return Popf;
            case Mnemonic.Pushf: case Mnemonic.Pushfd: case Mnemonic.Pushfq: return Pushf;
            case Mnemonic.Hlt: return Hlt;
            case Mnemonic.Monitor: case Mnemonic.Mwait: case Mnemonic.Monitorx: case Mnemonic.Mwaitx: return MonitorMwait;
            case Mnemonic.In: case Mnemonic.Out:
            case Mnemonic.Insb: case Mnemonic.Insw: case Mnemonic.Insd:
            case Mnemonic.Outsb: case Mnemonic.Outsw: case Mnemonic.Outsd:
                return PortIo;
            case Mnemonic.Lgdt: return Lgdt;
            case Mnemonic.Lidt: return Lidt;
            case Mnemonic.Lldt: return Lldt;
            case Mnemonic.Ltr: return Ltr;
            case Mnemonic.Sgdt: case Mnemonic.Sidt: case Mnemonic.Sldt: case Mnemonic.Str: return StoreDescriptorTable;
            case Mnemonic.Smsw: return Smsw;
            case Mnemonic.Lmsw: return Lmsw;
            case Mnemonic.Mov: return ClassifyMov(instruction);
            case Mnemonic.Rdmsr: return Rdmsr;
            case Mnemonic.Wrmsr: case Mnemonic.Wrmsrns: return Wrmsr;
            case Mnemonic.Invlpg: case Mnemonic.Invlpga: return Invlpg;
            case Mnemonic.Invpcid: return Invpcid;
            case Mnemonic.Wbinvd: case Mnemonic.Invd: case Mnemonic.Wbnoinvd: return CacheFlush;
            case Mnemonic.Swapgs: return Swapgs;
            case Mnemonic.Wrfsbase: case Mnemonic.Wrgsbase: case Mnemonic.Rdfsbase: case Mnemonic.Rdgsbase: return FsGsBase;
            case Mnemonic.Iret: case Mnemonic.Iretd: case Mnemonic.Iretq: return Iret;
            case Mnemonic.Sysret: case Mnemonic.Sysretq: return Sysret;
            case Mnemonic.Sysexit: case Mnemonic.Sysexitq: return Sysexit;
            case Mnemonic.Sysenter: return Sysenter;
            case Mnemonic.Syscall: return Syscall;
            case Mnemonic.Cpuid: return Cpuid;
            case Mnemonic.Rdtsc: return Rdtsc;
            case Mnemonic.Rdtscp: return Rdtscp;
            case Mnemonic.Rdpmc: return Rdpmc;
            case Mnemonic.Clts: return Clts;
            case Mnemonic.Xsetbv: return Xsetbv;
            case Mnemonic.Xsaves: case Mnemonic.Xsaves64: case Mnemonic.Xrstors: case Mnemonic.Xrstors64: return SupervisorXsave;
            case Mnemonic.Stac: case Mnemonic.Clac: return StacClac;
            case Mnemonic.Vmcall: case Mnemonic.Vmmcall: return VmCall;
            case Mnemonic.Vmxon: case Mnemonic.Vmxoff: case Mnemonic.Vmlaunch: case Mnemonic.Vmresume: case Mnemonic.Vmptrld:
            case Mnemonic.Vmptrst: case Mnemonic.Vmclear: case Mnemonic.Vmread: case Mnemonic.Vmwrite: case Mnemonic.Invept:
            case Mnemonic.Invvpid: case Mnemonic.Vmrun: case Mnemonic.Vmload: case Mnemonic.Vmsave: case Mnemonic.Clgi:
            case Mnemonic.Stgi: case Mnemonic.Skinit:
                return Vmx;
            default: return null;
        }
    }

    private static SensitiveRule? ClassifyMov(in Instruction instruction)
    {
        if (instruction.OpCount != 2 || instruction.Op0Kind != OpKind.Register || instruction.Op1Kind != OpKind.Register) return null;
        Register dst = instruction.Op0Register, src = instruction.Op1Register;
        if (dst.IsDR() || src.IsDR()) return DebugRegister;
        bool write = dst.IsCR();
        if (!write && !src.IsCR()) return null;
        return (write ? dst : src) switch
        {
            Register.CR0 => write ? Cr0Write : Cr0Read,
            Register.CR2 => write ? CrOther : Cr2Read,
            Register.CR3 => write ? Cr3Write : Cr3Read,
            Register.CR4 => Cr4,
            _ => CrOther,
        };
    }
}
