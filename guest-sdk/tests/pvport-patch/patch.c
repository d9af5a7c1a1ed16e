/*
 * pvport-patch: a bootable guest with raw cpuid instructions that have room
 * for `pvport patch` to rewrite them into Xen's forced-emulation form
 * (ud2; .ascii "xen"; cpuid). Booted unpatched and patched by
 * tests/Paravirt.GuestSdk.Tests/PvportPatchBootTests.cs: both must run to
 * "done" and print exactly the same lines. The patched image executes
 * ud2 + "xen" before each cpuid: a hypervisor that did not emulate the
 * forced form would deliver #UD and, with no trap table, crash the domain.
 * (Plain cpuid reports the host CPU on Xen without CPUID faulting; with
 * faulting, and on Paravirt, both forms answer from the domain's policy,
 * whose leaf 0x40000000 is "XenVMMXenVMM".)
 *
 * cpuid_pad_before: a 5-byte nop, then cpuid (the cpuid stays in place).
 * cpuid_pad_after:  cpuid, then a 5-byte nop (the cpuid moves forward).
 *
 * The rest are instructions with no same-size PV form, which `pvport patch`
 * turns into int3 trampolines (libpv's #BP handler performs the PV
 * equivalent; see paravirt/trampoline.h).  Two groups:
 *  - "emulated": instructions Xen's privileged-op emulation also completes
 *    (mov from cr2/cr3, mov to cr3, mov to/from dr0, rdmsr/wrmsr of
 *    the FS base, the user GS base and the TSC, wbinvd, clts) and a cpuid with
 *    no padding.  The unpatched kernel runs them trapping into the
 *    hypervisor; the patched one through the trampolines; each line printed
 *    must be the same.
 *  - "trampoline-only": cli, sti, hlt, popfq restoring IF, invlpg, which
 *    unpatched fault (Xen emulates cli/sti only as no-ops, and only above
 *    IOPL 0) or silently misbehave (popf ignores IF at CPL 3).
 *    They run unless the command line is "emulated-only"; each line says
 *    what the native instruction means, so "yes" is the right answer.
 */
#include <paravirt/pv.h>
#include <paravirt/mmu.h>
#include <paravirt/traps.h>

struct regs { uint32_t a, b, c, d; };

#define NOP5 ".byte 0x0f, 0x1f, 0x44, 0x00, 0x00\n\t"   /* nopl 0x0(%rax,%rax,1) */

__attribute__((noinline, noclone)) static struct regs cpuid_pad_before(uint32_t leaf)
{
    struct regs r;
    __asm__ volatile(NOP5 "cpuid" : "=a"(r.a), "=b"(r.b), "=c"(r.c), "=d"(r.d) : "a"(leaf), "c"(0));
    return r;
}

__attribute__((noinline, noclone)) static struct regs cpuid_pad_after(uint32_t leaf)
{
    struct regs r;
    __asm__ volatile("cpuid\n\t" NOP5 : "=a"(r.a), "=b"(r.b), "=c"(r.c), "=d"(r.d) : "a"(leaf), "c"(0));
    return r;
}

/* Three registers' worth of ASCII, as CPUID's vendor and signature leaves lay them out. */
static void text12(char out[13], uint32_t x, uint32_t y, uint32_t z)
{
    uint32_t w[3] = { x, y, z };
    memcpy(out, w, 12);
    for (int i = 0; i < 12; i++)
        if (out[i] < 0x20 || out[i] > 0x7e)
            out[i] = '.';
    out[12] = '\0';
}

/* ---- The "emulated" group. */

__attribute__((noinline, noclone)) static void do_cli(void) { __asm__ volatile("cli" ::: "memory"); }
__attribute__((noinline, noclone)) static void do_sti(void) { __asm__ volatile("sti" ::: "memory"); }

__attribute__((noinline, noclone)) static unsigned long read_cr2(void)
{
    unsigned long v;
    __asm__ volatile("mov %%cr2, %0" : "=r"(v));
    return v;
}

__attribute__((noinline, noclone)) static unsigned long read_cr3(void)
{
    unsigned long v;
    __asm__ volatile("mov %%cr3, %0" : "=r"(v));
    return v;
}

__attribute__((noinline, noclone)) static void write_cr3(unsigned long v)
{
    __asm__ volatile("mov %0, %%cr3" : : "r"(v) : "memory");
}

__attribute__((noinline, noclone)) static unsigned long dr0_round_trip(unsigned long v)
{
    unsigned long out;
    __asm__ volatile("mov %1, %%dr0\n\tmov %%dr0, %0" : "=r"(out) : "r"(v) : "memory");
    return out;
}

/* The MSR goes into ecx right before rdmsr/wrmsr, as pvport needs to know it. */
#define MSR_FS_BASE        0xc0000100
#define MSR_KERNEL_GS_BASE 0xc0000102
#define WRMSR(msr, v) __asm__ volatile("mov $" #msr ", %%ecx\n\twrmsr" : : "a"((uint32_t)(v)), "d"((uint32_t)((v) >> 32)) : "rcx", "memory")
#define RDMSR(msr, v) do { uint32_t lo_, hi_; \
        __asm__ volatile("mov $" #msr ", %%ecx\n\trdmsr" : "=a"(lo_), "=d"(hi_) : : "rcx"); \
        (v) = ((uint64_t)hi_ << 32) | lo_; } while (0)

__attribute__((noinline, noclone)) static void set_fs_base(uint64_t v) { WRMSR(0xc0000100, v); }
__attribute__((noinline, noclone)) static uint64_t get_fs_base(void) { uint64_t v; RDMSR(0xc0000100, v); return v; }
__attribute__((noinline, noclone)) static void set_user_gs_base(uint64_t v) { WRMSR(0xc0000102, v); }
__attribute__((noinline, noclone)) static uint64_t get_user_gs_base(void) { uint64_t v; RDMSR(0xc0000102, v); return v; }
__attribute__((noinline, noclone)) static uint64_t read_tsc_msr(void) { uint64_t v; RDMSR(0x10, v); return v; }

__attribute__((noinline, noclone)) static void do_wbinvd(void) { __asm__ volatile("wbinvd" ::: "memory"); }
__attribute__((noinline, noclone)) static void do_clts(void) { __asm__ volatile("clts" ::: "memory"); }

/* An x87 instruction: #NM while CR0.TS is set (no trap table entry for it: the domain would crash). */
__attribute__((noinline, noclone)) static void use_fpu(void) { __asm__ volatile("fnop"); }

/* cpuid with no room for the forced-emulation form: pvport trampolines it. */
__attribute__((noinline, noclone)) static struct regs cpuid_tight(uint32_t leaf)
{
    struct regs r;
    __asm__ volatile("cpuid" : "=a"(r.a), "=b"(r.b), "=c"(r.c), "=d"(r.d) : "a"(leaf), "c"(0));
    return r;
}

static uint64_t fs_probe = 0x1122334455667788ULL;

static const char *yes(bool b) { return b ? "yes" : "NO"; }

static void emulated_group(void)
{
    vcpu_info_t *vi = &pv_shared_info->vcpu_info[0];
    pv_printf("pvport-patch: cr2 is vcpu_info.arch.cr2: %s\n", yes(read_cr2() == vi->arch.cr2));
    unsigned long boot_l4 = xen_pfn_to_cr3(pv_virt_to_mfn((const void *)pv_start_info->pt_base));
    unsigned long cr3 = read_cr3();
    pv_printf("pvport-patch: cr3 is the boot L4: %s\n", yes(cr3 == boot_l4));
    write_cr3(cr3);
    pv_printf("pvport-patch: cr3 reloaded: %s\n", yes(read_cr3() == boot_l4 && fs_probe == 0x1122334455667788ULL));

    pv_printf("pvport-patch: dr0 round trip: %s\n", yes(dr0_round_trip(0xffffffff80001000UL) == 0xffffffff80001000UL));
    dr0_round_trip(0);

    set_fs_base((uint64_t)(unsigned long)&fs_probe);
    uint64_t through_fs;
    __asm__ volatile("movq %%fs:0, %0" : "=r"(through_fs));
    pv_printf("pvport-patch: wrmsr FS_BASE takes effect: %s\n", yes(through_fs == fs_probe));
    pv_printf("pvport-patch: rdmsr FS_BASE reads it back: %s\n", yes(get_fs_base() == (uint64_t)(unsigned long)&fs_probe));
    set_fs_base(0);
    set_user_gs_base(0x7f0000001000ULL);
    pv_printf("pvport-patch: user GS base round trip: %s\n", yes(get_user_gs_base() == 0x7f0000001000ULL));
    set_user_gs_base(0);
    uint64_t t0 = read_tsc_msr(), t1 = read_tsc_msr();
    pv_printf("pvport-patch: rdmsr TSC advances: %s\n", yes(t1 > t0));

    do_wbinvd();
    pv_printf("pvport-patch: wbinvd returns\n");
    HYPERVISOR_fpu_taskswitch(1);
    do_clts();
    use_fpu();
    pv_printf("pvport-patch: clts clears CR0.TS (the FPU is usable)\n");

    char s[13];
    struct regs h = cpuid_tight(0x40000000);
    text12(s, h.b, h.c, h.d);
    pv_printf("pvport-patch: leaf 0x40000000 (tight): %s\n", s);
}

/* ---- The "trampoline-only" group. */

__attribute__((noinline, noclone)) static void sti_hlt(void) { __asm__ volatile("sti\n\thlt" ::: "memory"); }

/* local_irq_save / local_irq_restore as a native kernel writes them. */
__attribute__((noinline, noclone)) static unsigned long irq_save(void)
{
    unsigned long flags;
    __asm__ volatile("pushfq\n\tpopq %0\n\tcli" : "=r"(flags) : : "memory");
    return flags;
}

__attribute__((noinline, noclone)) static void irq_restore(unsigned long flags)
{
    __asm__ volatile("pushq %0\n\tpopfq" : : "r"(flags) : "memory", "cc");
}

/* popfq with CF set, then setc: the arithmetic flags come through the trampoline. */
__attribute__((noinline, noclone)) static int popf_carry(unsigned long flags)
{
    unsigned char c;
    __asm__ volatile("pushq %1\n\tpopfq\n\tsetc %0" : "=q"(c) : "r"(flags | 1UL) : "memory", "cc");
    return c;
}

__attribute__((noinline, noclone)) static void do_invlpg(void *va)
{
    __asm__ volatile("invlpg (%0)" : : "r"(va) : "memory");
}

static volatile unsigned int timer_ticks;
static void on_timer(evtchn_port_t port, void *data)
{
    (void)port;
    (void)data;
    timer_ticks++;
}

static char remap_area[PV_PAGE_SIZE] __attribute__((aligned(PV_PAGE_SIZE)));

static void trampoline_group(void)
{
    vcpu_info_t *vi = &pv_shared_info->vcpu_info[0];

    /* cli/sti: Xen emulates neither as the event mask (#GP at IOPL 0; skipped above it). */
    do_cli();
    pv_printf("pvport-patch: cli masks events: %s\n", yes(vi->evtchn_upcall_mask == 1));
    do_sti();
    pv_printf("pvport-patch: sti unmasks events: %s\n", yes(vi->evtchn_upcall_mask == 0));

    /* hlt: sleeps until an event is delivered (a single-shot timer 5 ms out). */
    evtchn_port_t timer;
    if (pv_timer_port(&timer) != 0 || pv_evtchn_set_handler(timer, on_timer, NULL) != 0
        || pv_evtchn_enable_upcalls() != 0)
        pv_panic("pvport-patch: timer setup failed");
    do_cli();
    uint64_t start = pv_system_time_ns();
    pv_timer_set_singleshot(start + 5000000);
    sti_hlt();
    uint64_t slept = pv_system_time_ns() - start;
    pv_printf("pvport-patch: hlt sleeps until the timer event: %s\n", yes(timer_ticks == 1 && slept >= 5000000));
    pv_printf("pvport-patch: events unmasked after sti; hlt: %s\n", yes(vi->evtchn_upcall_mask == 0));

    /* popf: local_irq_save/restore round trips the virtual IF. */
    unsigned long flags = irq_save();
    bool masked_inside = vi->evtchn_upcall_mask == 1;
    irq_restore(flags);
    pv_printf("pvport-patch: popf restores events on: %s\n", yes(masked_inside && vi->evtchn_upcall_mask == 0));
    irq_restore(flags & ~0x200UL);
    pv_printf("pvport-patch: popf with IF clear masks events: %s\n", yes(vi->evtchn_upcall_mask == 1));
    pv_printf("pvport-patch: popf sets the carry flag: %s\n", yes(popf_carry(flags & ~0x200UL) == 1));
    pv_printf("pvport-patch: popf kept events masked: %s\n", yes(vi->evtchn_upcall_mask == 1));

    /* invlpg after moving a mapping to another frame without a flush: the new frame shows. */
    char *a = pv_page_alloc(), *b = pv_page_alloc();
    if (a == NULL || b == NULL)
        pv_panic("pvport-patch: no pages");
    a[0] = 'a';
    b[0] = 'b';
    pv_map_mfn(remap_area, pv_virt_to_mfn(a), true);
    char before = ((volatile char *)remap_area)[0];
    /* No flush flag on this update (UVMF_NONE): the invlpg is what drops a stale translation. */
    uint64_t pte = ((uint64_t)pv_virt_to_mfn(b) << PV_PAGE_SHIFT) | 0x3 | (1ULL << 63);
    if (HYPERVISOR_update_va_mapping((unsigned long)remap_area, pte, 0) != 0)
        pv_panic("pvport-patch: update_va_mapping failed");
    do_invlpg(remap_area);
    char after = ((volatile char *)remap_area)[0];
    pv_printf("pvport-patch: invlpg, then the new mapping shows: %s\n", yes(before == 'a' && after == 'b'));
}

static bool cmdline_is(const char *want)
{
    return strncmp((const char *)pv_start_info->cmd_line, want, MAX_GUEST_CMDLINE) == 0;
}

int pv_main(start_info_t *si)
{
    char s[13];
    (void)si;

    struct regs v = cpuid_pad_before(0);
    text12(s, v.b, v.d, v.c);
    pv_printf("pvport-patch: vendor %s\n", s);

    struct regs h = cpuid_pad_before(0x40000000);
    text12(s, h.b, h.c, h.d);
    pv_printf("pvport-patch: leaf 0x40000000 (before): %s\n", s);

    h = cpuid_pad_after(0x40000000);
    text12(s, h.b, h.c, h.d);
    pv_printf("pvport-patch: leaf 0x40000000 (after): %s\n", s);

    emulated_group();
    if (!cmdline_is("emulated-only"))
        trampoline_group();

    pv_printf("pvport-patch: done\n");
    return 0;
}
