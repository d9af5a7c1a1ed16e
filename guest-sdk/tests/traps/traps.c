/*
 * traps - guest-side test kernel for the 64-bit PV trap interface, run
 * through the real stack (emulated CPU, hypercall page): set_trap_table and
 * bounce frames for #DE, #BP, #UD, #NM, #GP, #PF, #AC and int n (DPL checks,
 * int 0x80, TI_IF), HYPERVISOR_iret, the failsafe callback, callback_op and
 * its errors, privileged-instruction emulation (rdmsr/wrmsr, CR0, cli/sti,
 * forced-emulation CPUID, rep ins/outs), fpu_taskswitch, debug registers
 * and the instruction, data and I/O breakpoints they set,
 * update_descriptor, set_segment_base, and event upcalls (after a send and
 * after SCHEDOP_block).  Every check prints one line on failure; the last
 * line is "traps: <passed>/<total> checks passed"; then the guest idles.
 */
#include <paravirt/pv.h>
#include <paravirt/callback.h>
#include <paravirt/mmu.h>
#include <paravirt/traps.h>
#include <paravirt/physdev.h>

#define PV_XSTR(x) #x
#define PV_STR(x) PV_XSTR(x)

__asm__(
#include "entry.inc"
);

extern char trap_de[], trap_db[], trap_bp[], trap_ud[], trap_nm[], trap_ss[], trap_gp[], trap_pf[], trap_ac[];
extern char trap_int30[], trap_int32[], trap_int80[], failsafe_entry[];
unsigned long try_bad_iret(void);
unsigned long run_user(void *rip, void *rsp);
extern char syscall_entry[], user_code[];
unsigned long saved_rsp; /* try_bad_iret's stack, for failsafe_entry */

/* The register block trap_common builds (lowest address first). */
struct trap_frame {
    uint64_t r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax;
    uint64_t vector, error, rip, cs, rflags, rsp, ss;
};
_Static_assert(sizeof(struct trap_frame) == 22 * 8, "trap_frame");

void trap_dispatch(struct trap_frame *f);

static int passed, total;

#define CHECK(cond, ...) do {                                   \
        total++;                                                \
        if (cond) passed++;                                     \
        else { pv_printf("FAIL line %d: ", __LINE__);           \
               pv_printf(__VA_ARGS__); pv_printf("\n"); }       \
    } while (0)

/* What the last trap saw, and how far to move RIP past a faulting instruction. */
static volatile uint64_t last_vector = ~0UL, last_error, last_rip, last_cs, last_cr2;
static volatile unsigned int traps_taken, last_mask;
static volatile uint64_t skip;
/* #DB: resume with EFLAGS.RF (as Linux does after an instruction breakpoint), and the DR6 each one saw. */
static volatile int db_set_rf;
static volatile uint64_t db_dr6, db_rip;
/* Every trap in order: vector and the interrupted cs. */
static volatile uint64_t log_vector[16], log_cs[16];
static volatile unsigned int log_n;

void trap_dispatch(struct trap_frame *f)
{
    vcpu_info_t *vi = &pv_shared_info->vcpu_info[0];
    last_vector = f->vector;
    last_error = f->error;
    last_rip = f->rip;
    last_cs = f->cs;
    last_cr2 = vi->arch.cr2;
    last_mask = vi->evtchn_upcall_mask;
    traps_taken++;
    if (log_n < 16) {
        log_vector[log_n] = f->vector;
        log_cs[log_n] = f->cs;
        log_n++;
    }
    /* Faults restart the instruction: step over it.  Traps (#BP, int n) are already past it, and #NM
     * retries it (the hypervisor cleared TS when delivering). */
    if (f->vector == 0 || f->vector == 6 || f->vector == 12 || f->vector == 13 || f->vector == 14 || f->vector == 17)
        f->rip += skip;
    if (f->vector == 17)
        f->rflags &= ~(1UL << 18); /* return with alignment checking off */
    if (f->vector == 1) {
        db_dr6 = HYPERVISOR_get_debugreg(6);
        db_rip = f->rip;
        HYPERVISOR_set_debugreg(6, 0xffff0ff0UL); /* the handler clears DR6, as a kernel's does */
        if (db_set_rf)
            f->rflags |= 1UL << 16;
    }
    /* Return with the interrupted context's event mask (saved in cs bits 32-39). */
    f->rflags = (f->cs >> 32) & 0xff ? (f->rflags & ~0x200UL) : (f->rflags | 0x200UL);
}

static void reset(uint64_t skip_bytes)
{
    last_vector = ~0UL;
    last_error = 0;
    traps_taken = 0;
    skip = skip_bytes;
}

static const trap_info_t trap_table[] = {
    { 0, 0, FLAT_KERNEL_CS, (unsigned long)trap_de },
    { 1, 0, FLAT_KERNEL_CS, (unsigned long)trap_db },
    { 3, 3, FLAT_KERNEL_CS, (unsigned long)trap_bp },
    { 6, 0, FLAT_KERNEL_CS, (unsigned long)trap_ud },
    { 7, 0, FLAT_KERNEL_CS, (unsigned long)trap_nm },
    { 12, 0, FLAT_KERNEL_CS, (unsigned long)trap_ss },
    { 13, 0, FLAT_KERNEL_CS, (unsigned long)trap_gp },
    { 14, 0, FLAT_KERNEL_CS, (unsigned long)trap_pf },
    { 17, 0, FLAT_KERNEL_CS, (unsigned long)trap_ac },
    { 0x30, 1, FLAT_KERNEL_CS, (unsigned long)trap_int30 },          /* DPL 1: the kernel may int 0x30 */
    { 0x31, 0, FLAT_KERNEL_CS, (unsigned long)trap_int30 },          /* DPL 0: int 0x31 is #GP */
    { 0x32, 1 | TI_IF, FLAT_KERNEL_CS, (unsigned long)trap_int32 },  /* masks events on entry */
    { 0x80, 0, FLAT_KERNEL_CS, (unsigned long)trap_int80 },          /* direct trap: no DPL check */
    { 0, 0, 0, 0 },
};

static void check_exceptions(void)
{
    /* #DE: div %ecx with ecx = 0 (2 bytes). */
    reset(2);
    __asm__ __volatile__("xorl %%edx, %%edx; movl $1, %%eax; xorl %%ecx, %%ecx; .byte 0xf7, 0xf1"
                         ::: "rax", "rcx", "rdx", "memory");
    CHECK(traps_taken == 1 && last_vector == 0, "#DE delivered (vector %lu)", last_vector);
    CHECK((last_cs & 3) == 0 && (last_cs & 0xffff) == (FLAT_KERNEL_CS & ~3), "kernel context has cs RPL 0 (%lx)", last_cs);

    /* #UD: ud2 (2 bytes). */
    reset(2);
    __asm__ __volatile__("ud2" ::: "memory");
    CHECK(traps_taken == 1 && last_vector == 6, "#UD delivered (vector %lu)", last_vector);

    /* #BP: int3 is a trap, RIP already after it. */
    reset(0);
    __asm__ __volatile__("int3" ::: "memory");
    CHECK(traps_taken == 1 && last_vector == 3, "#BP delivered (vector %lu)", last_vector);

    /* #GP(0): in from a port a domU may not touch (1 byte). */
    reset(1);
    __asm__ __volatile__("movl $0x60, %%edx; inb %%dx, %%al" ::: "rax", "rdx", "memory");
    CHECK(traps_taken == 1 && last_vector == 13 && last_error == 0, "#GP for in (vector %lu error %lx)", last_vector, last_error);

    /* A non-canonical store faults through the segment the operand uses; 64-bit mode ignores ES/CS/SS/DS
     * overrides, so an RBP base means SS (#SS(0)) even under ds:, and ss: on another base is DS (#GP(0)).
     * The faulting stores are raw bytes, so the skip lengths are exact: 3e 88 45 00 (4) and 36 88 00 (3). */
    reset(4);
    __asm__ __volatile__("push %%rbp; movabsq $0x8000000040000000, %%rbp; .byte 0x3e, 0x88, 0x45, 0x00; pop %%rbp"
                         ::: "memory");
    CHECK(traps_taken == 1 && last_vector == 12 && last_error == 0, "#SS(0) for ds:(%%rbp) non-canonical (vector %lu error %lx)", last_vector, last_error);
    reset(3);
    __asm__ __volatile__("movabsq $0x8000000040000000, %%rax; .byte 0x36, 0x88, 0x00" ::: "rax", "memory");
    CHECK(traps_taken == 1 && last_vector == 13 && last_error == 0, "#GP(0) for ss:(%%rax) non-canonical (vector %lu error %lx)", last_vector, last_error);

    /* #PF: load from an unmapped address (2 bytes: mov (%rax), %eax). */
    reset(2);
    __asm__ __volatile__("movl $0x10, %%eax; .byte 0x8b, 0x00" ::: "rax", "memory");
    CHECK(traps_taken == 1 && last_vector == 14, "#PF delivered (vector %lu)", last_vector);
    CHECK(last_cr2 == 0x10, "vcpu_info.arch.cr2 = %lx", last_cr2);
    CHECK((last_error & 1) == 0 && (last_error & 2) == 0, "#PF error: not present, read (%lx)", last_error);
    CHECK((last_error & 4) == 0, "#PF error: user bit clear for a guest-kernel access (%lx)", last_error);

    /* The mask seen inside a handler without TI_IF is the interrupted one. */
    pv_shared_info->vcpu_info[0].evtchn_upcall_mask = 1;
    reset(2);
    __asm__ __volatile__("ud2" ::: "memory");
    CHECK(last_mask == 1, "mask kept across a trap gate without TI_IF");
    CHECK(pv_shared_info->vcpu_info[0].evtchn_upcall_mask == 1, "iret restored mask 1");
}

/* #AC: the guest kernel runs at CPL 3 with CR0.AM, so EFLAGS.AC turns alignment checking on. */
static void check_alignment_check(void)
{
    static uint64_t words[2];
    unsigned long flags;

    reset(3);
    __asm__ __volatile__("pushfq\n\torl $0x40000, (%%rsp)\n\tpopfq\n\t"
                         ".byte 0x48, 0x8b, 0x00" /* mov (%%rax), %%rax */
                         :: "a"((char *)words + 1) : "memory", "cc");
    CHECK(traps_taken == 1 && last_vector == 17 && last_error == 0, "misaligned load with EFLAGS.AC: #AC(0) (%u, vector %lu)", traps_taken, last_vector);
    reset(0);
    __asm__ __volatile__("pushfq\n\torl $0x40000, (%%rsp)\n\tpopfq\n\t"
                         "movq (%1), %%rdx\n\tpushfq\n\tpopq %0\n\t"
                         "pushfq\n\tandl $~0x40000, (%%rsp)\n\tpopfq"
                         : "=r"(flags) : "r"(words) : "rdx", "memory", "cc");
    CHECK(traps_taken == 0 && (flags & 0x40000), "an aligned load with EFLAGS.AC does not fault");
}

static void check_software_interrupts(void)
{
    vcpu_info_t *vi = &pv_shared_info->vcpu_info[0];
    uint64_t before;

    reset(0);
    __asm__ __volatile__("int $0x30" ::: "memory");
    CHECK(traps_taken == 1 && last_vector == 0x30, "int 0x30 (DPL 1) delivered from the kernel");

    reset(2);
    __asm__ __volatile__("lea 0f(%%rip), %0; 0: int $0x31" : "=r"(before) :: "memory");
    CHECK(traps_taken == 1 && last_vector == 13, "int 0x31 (DPL 0) is #GP (vector %lu)", last_vector);
    CHECK(last_error == ((0x31 << 3) | 2), "#GP error code (0x31 << 3) | 2 (%lx)", last_error);
    CHECK(last_rip == before, "#GP at the int instruction");

    reset(0);
    __asm__ __volatile__("int $0x80" ::: "memory");
    CHECK(traps_taken == 1 && last_vector == 0x80, "int 0x80 with a handler is delivered directly");

    vi->evtchn_upcall_mask = 0;
    reset(0);
    __asm__ __volatile__("int $0x32" ::: "memory");
    CHECK(traps_taken == 1 && last_mask == 1, "TI_IF masks events on entry");
    CHECK(vi->evtchn_upcall_mask == 0, "iret unmasked them again (rflags.IF)");
    vi->evtchn_upcall_mask = 1;
}

static void check_hypercalls(void)
{
    trap_info_t bad[2] = { { 14, 0, FLAT_KERNEL_CS, 0x0000800000000000UL }, { 0, 0, 0, 0 } };
    CHECK(HYPERVISOR_set_trap_table(bad) == -XEN_EINVAL, "set_trap_table non-canonical");
    CHECK(HYPERVISOR_set_trap_table((const trap_info_t *)0x10) == -XEN_EFAULT, "set_trap_table unmapped");
    CHECK(HYPERVISOR_set_trap_table(trap_table) == 0, "set_trap_table again");

    CHECK(HYPERVISOR_callback_register(9, 0, 0x1000) == -XEN_ENOSYS, "register unknown type");
    CHECK(HYPERVISOR_callback_register(CALLBACKTYPE_failsafe, 0, 0x0000800000000000UL) == -XEN_EINVAL, "register non-canonical");
    CHECK(HYPERVISOR_callback_unregister(CALLBACKTYPE_event) == -XEN_EINVAL, "unregister event");
    CHECK(HYPERVISOR_callback_register(CALLBACKTYPE_nmi, 0, 0x1000) == 0, "register nmi");
    CHECK(HYPERVISOR_callback_unregister(CALLBACKTYPE_nmi) == 0, "unregister nmi");
    CHECK(HYPERVISOR_callback_op(5, NULL) == -XEN_ENOSYS, "callback_op unknown cmd");

    CHECK(HYPERVISOR_stack_switch(FLAT_KERNEL_SS, (unsigned long)__builtin_frame_address(0)) == 0, "stack_switch");

    CHECK(HYPERVISOR_set_debugreg(0, 0xffffffff80001000UL) == 0, "set DR0");
    CHECK(HYPERVISOR_get_debugreg(0) == 0xffffffff80001000UL, "get DR0");
    CHECK(HYPERVISOR_set_debugreg(1, 0xffff800000001000UL) == -XEN_EPERM, "DR1 in Xen's range");
    CHECK(HYPERVISOR_set_debugreg(7, 1UL << 13) == -XEN_EPERM, "DR7.GD");
    CHECK(HYPERVISOR_set_debugreg(4, 0) == -XEN_EINVAL, "set DR4");
    CHECK(HYPERVISOR_get_debugreg(6) == 0xffff0ff0UL, "DR6 reset value");

    CHECK(HYPERVISOR_set_segment_base(7, 0) == -XEN_EINVAL, "set_segment_base bad which");
    CHECK(HYPERVISOR_set_segment_base(SEGBASE_FS, 0x0000800000000000UL) == -XEN_EINVAL, "FS base non-canonical");

    /* update_descriptor on a page of our own: DPL raised to 3; misaligned and system descriptors refused. */
    uint64_t *page = pv_page_alloc();
    uint64_t ma = (uint64_t)pv_virt_to_mfn(page) << 12;
    CHECK(HYPERVISOR_update_descriptor(ma + 8, 0x00cf92000000ffffUL) == 0, "update_descriptor");
    CHECK(page[1] == 0x00cff2000000ffffUL, "descriptor DPL fixed up (%lx)", page[1]);
    CHECK(HYPERVISOR_update_descriptor(ma + 4, 0x00cff2000000ffffUL) == -XEN_EINVAL, "update_descriptor misaligned");
    CHECK(HYPERVISOR_update_descriptor(ma + 16, 0x0000890000000067UL) == -XEN_EINVAL, "update_descriptor TSS");
}

static void check_privileged_ops(void)
{
    uint32_t lo, hi;
    uint64_t cr0;
    vcpu_info_t *vi = &pv_shared_info->vcpu_info[0];

    CHECK(HYPERVISOR_set_segment_base(SEGBASE_FS, 0x123456789000UL) == 0, "set FS base");
    reset(0);
    __asm__ __volatile__("rdmsr" : "=a"(lo), "=d"(hi) : "c"(0xc0000100) : "memory");
    CHECK(traps_taken == 0 && (((uint64_t)hi << 32) | lo) == 0x123456789000UL, "rdmsr FS_BASE emulated");
    __asm__ __volatile__("wrmsr" :: "a"(0), "d"(0), "c"(0xc0000100) : "memory");
    CHECK(HYPERVISOR_set_segment_base(SEGBASE_FS, 0) == 0 && traps_taken == 0, "wrmsr FS_BASE emulated");

    reset(2);
    __asm__ __volatile__("rdmsr" : "=a"(lo), "=d"(hi) : "c"(0xc0000082) : "memory");
    CHECK(traps_taken == 1 && last_vector == 13, "rdmsr LSTAR is #GP");

    reset(0);
    __asm__ __volatile__("mov %%cr0, %0" : "=r"(cr0) :: "memory");
    CHECK(traps_taken == 0 && (cr0 & 0x80000001UL) == 0x80000001UL, "mov from cr0 (%lx)", cr0);

    /* cli/sti: #GP unless the virtual IOPL admits the kernel (ring 1); then skipped, the event mask untouched. */
    vi->evtchn_upcall_mask = 0;
    reset(1);
    __asm__ __volatile__("cli" ::: "memory");
    CHECK(traps_taken == 1 && last_vector == 13 && vi->evtchn_upcall_mask == 0, "cli with IOPL 0 is #GP");
    struct physdev_set_iopl iopl = { .iopl = 1 };
    CHECK(HYPERVISOR_physdev_op(PHYSDEVOP_set_iopl, &iopl) == 0, "set_iopl 1");
    reset(0);
    __asm__ __volatile__("cli" ::: "memory");
    CHECK(traps_taken == 0 && vi->evtchn_upcall_mask == 0, "cli with IOPL 1 is skipped, mask untouched");
    vi->evtchn_upcall_mask = 1;
    __asm__ __volatile__("sti" ::: "memory");
    CHECK(traps_taken == 0 && vi->evtchn_upcall_mask == 1, "sti with IOPL 1 is skipped, mask untouched");
    iopl.iopl = 0;
    CHECK(HYPERVISOR_physdev_op(PHYSDEVOP_set_iopl, &iopl) == 0, "set_iopl 0");

    /* CPUID through the forced-emulation prefix: Xen's signature and version. */
    uint32_t a = 0x40000000, b, c = 0, d;
    __asm__ __volatile__(XEN_CPUID : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
    CHECK(b == 0x566e6558 && c == 0x65584d4d && d == 0x4d4d566e, "XenVMMXenVMM signature");
    CHECK(a >= 0x40000002, "max Xen leaf %x", a);
    a = 0x40000001; c = 0;
    __asm__ __volatile__(XEN_CPUID : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
    CHECK((long)a == HYPERVISOR_xen_version(XENVER_version, NULL), "cpuid version = xen_version");
    a = 1; c = 0;
    __asm__ __volatile__("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
    CHECK((c & (1u << 31)) && !(c & (1u << 5)), "plain cpuid: hypervisor bit, no VMX (%x)", c);

    /* Segment loads check the hypervisor's descriptors: FLAT_USER_DS32 loads, a made-up selector faults. */
    unsigned short sel = FLAT_RING3_DS32, back;
    reset(0);
    __asm__ __volatile__("mov %1, %%fs; mov %%fs, %0; xorl %%eax, %%eax; mov %%eax, %%fs" : "=r"(back) : "r"(sel) : "rax", "memory");
    CHECK(traps_taken == 0 && back == FLAT_RING3_DS32, "mov FLAT_RING3_DS32 to fs (%x)", back);
    reset(2);
    sel = 0x1003;
    __asm__ __volatile__("mov %0, %%ax; .byte 0x8e, 0xe0" :: "r"(sel) : "rax", "memory"); /* mov %ax, %fs */
    CHECK(traps_taken == 1 && last_vector == 13 && last_error == 0x1000, "bad selector #GP(sel) (%lx)", last_error);
}

static void check_fpu_taskswitch(void)
{
    reset(0);
    CHECK(HYPERVISOR_fpu_taskswitch(1) == 0, "fpu_taskswitch(1)");
    __asm__ __volatile__(".byte 0x0f, 0x28, 0xc8" ::: "memory"); /* movaps %xmm0, %xmm1 */
    CHECK(traps_taken == 1 && last_vector == 7, "#NM after fpu_taskswitch (vector %lu, %u traps)", last_vector, traps_taken);
    __asm__ __volatile__(".byte 0x0f, 0x28, 0xc8" ::: "memory");
    CHECK(traps_taken == 1, "TS cleared by the #NM delivery");
}

static void check_failsafe(void)
{
    CHECK(HYPERVISOR_callback_register(CALLBACKTYPE_failsafe, 0, (unsigned long)failsafe_entry) == 0, "register failsafe");
    unsigned long rip = try_bad_iret();
    CHECK(rip == 0x0000800000000000UL, "failsafe callback got the bad rip (%lx)", rip);
    pv_shared_info->vcpu_info[0].evtchn_upcall_mask = 1;
}

/*
 * Guest user mode: a user L4 (a copy of the kernel's, made read-only and
 * registered with MMUEXT_NEW_USER_BASEPTR), HYPERVISOR_iret into user code,
 * syscall through the syscall callback and back with VGCF_in_syscall,
 * int 0x80, a user-mode #PF, int 0x30 and rdmsr refused with #GP, and the
 * exit syscall back into the kernel.
 */
static uint8_t kernel_stack[16384] __attribute__((aligned(16)));
static uint8_t user_stack[4096] __attribute__((aligned(16)));

static void check_user_mode(void)
{
    uint64_t *l4 = pv_page_alloc();
    const uint64_t *cur = (const uint64_t *)pv_start_info->pt_base;
    xen_pfn_t mfn = pv_virt_to_mfn(l4);
    for (int i = 0; i < 512; i++)
        l4[i] = (i >= PV_L4_FIRST_XEN_SLOT && i <= PV_L4_LAST_XEN_SLOT) ? 0 : cur[i];
    CHECK(HYPERVISOR_update_va_mapping((unsigned long)l4, pv_make_pte(mfn, _PAGE_PRESENT | _PAGE_USER | _PAGE_ACCESSED),
                                       UVMF_INVLPG) == 0, "user L4 read-only");
    CHECK(pv_new_user_baseptr(mfn) == 0, "NEW_USER_BASEPTR");
    CHECK(HYPERVISOR_stack_switch(FLAT_KERNEL_SS, (unsigned long)(kernel_stack + sizeof(kernel_stack))) == 0, "stack_switch");
    CHECK(HYPERVISOR_callback_register(CALLBACKTYPE_syscall, 0, (unsigned long)syscall_entry) == 0, "register syscall");

    reset(2);
    log_n = 0;
    unsigned long r = run_user(user_code, user_stack + sizeof(user_stack));
    CHECK(r == 1007, "syscall round trip from user mode (%lu)", r);
    CHECK(log_n == 4, "four traps from user mode (%u)", log_n);
    CHECK(log_vector[0] == 0x80 && (log_cs[0] & 0xffff) == FLAT_USER_CS, "int 0x80 from user (cs %lx)", log_cs[0]);
    CHECK(log_vector[1] == 14 && last_cr2 == 0x10, "user #PF (cr2 %lx)", last_cr2);
    CHECK(log_vector[2] == 13, "int 0x30 (DPL 1) from user is #GP (%lu)", log_vector[2]);
    CHECK(log_vector[3] == 13 && (log_cs[3] & 3) == 3, "rdmsr from user is #GP (%lu)", log_vector[3]);
    pv_shared_info->vcpu_info[0].evtchn_upcall_mask = 1;
}

/* A guest GDT: one DPL 0 data descriptor with base 0x12345678, fixed up to DPL 3 and usable from fs. */
static void check_gdt(void)
{
    uint64_t *gdt = pv_page_alloc();
    for (int i = 0; i < 512; i++)
        gdt[i] = 0;
    gdt[1] = 0x12cf92345678ffffUL;
    xen_ulong_t frames[1] = { pv_virt_to_mfn(gdt) };
    CHECK(HYPERVISOR_update_va_mapping((unsigned long)gdt, pv_make_pte(frames[0], _PAGE_PRESENT | _PAGE_USER | _PAGE_ACCESSED),
                                       UVMF_INVLPG) == 0, "GDT page read-only");
    CHECK(HYPERVISOR_set_gdt(frames, FIRST_RESERVED_GDT_ENTRY + 1) == -XEN_EINVAL, "set_gdt too many entries");
    CHECK(HYPERVISOR_set_gdt(frames, 16) == 0, "set_gdt");
    CHECK(gdt[1] == 0x12cff2345678ffffUL, "descriptor DPL fixed up to 3 (%lx)", gdt[1]);
    uint32_t lo, hi;
    unsigned short sel = 0x0b;
    reset(0);
    __asm__ __volatile__("mov %0, %%fs" :: "r"(sel) : "memory");
    __asm__ __volatile__("rdmsr" : "=a"(lo), "=d"(hi) : "c"(0xc0000100) : "memory");
    CHECK(traps_taken == 0 && lo == 0x12345678 && hi == 0, "fs from the guest GDT has its base (%x)", lo);
    sel = 0x83; /* index 16: past the 16 entries */
    reset(2);
    __asm__ __volatile__("mov %0, %%ax; .byte 0x8e, 0xe0" :: "r"(sel) : "rax", "memory");
    CHECK(traps_taken == 1 && last_vector == 13 && last_error == 0x80, "selector past the GDT limit #GP (%lx)", last_error);
    sel = 0;
    __asm__ __volatile__("mov %0, %%fs" :: "r"(sel) : "memory");
}

static volatile unsigned int upcalls;

static void on_event(evtchn_port_t port, void *data)
{
    (void)port;
    (void)data;
    upcalls++;
}

static void check_upcalls(void)
{
    evtchn_bind_ipi_t ipi = { .vcpu = 0, .port = 0 };
    CHECK(HYPERVISOR_event_channel_op(EVTCHNOP_bind_ipi, &ipi) == 0, "bind_ipi");
    CHECK(pv_evtchn_set_handler(ipi.port, on_event, NULL) == 0, "set handler");
    CHECK(pv_evtchn_enable_upcalls() == 0, "enable upcalls");
    upcalls = 0;
    CHECK(pv_evtchn_send(ipi.port) == 0, "send");
    CHECK(upcalls == 1, "upcall delivered on the way back from the send (%u)", upcalls);

    /* A timer event wakes SCHEDOP_block and is delivered before it returns. */
    evtchn_port_t timer;
    CHECK(pv_timer_port(&timer) == 0, "timer port");
    CHECK(pv_evtchn_set_handler(timer, on_event, NULL) == 0, "timer handler");
    upcalls = 0;
    CHECK(pv_timer_set_singleshot(pv_system_time_ns() + 1000000) == 0, "singleshot timer");
    while (upcalls == 0)
        HYPERVISOR_sched_op(SCHEDOP_block, NULL);
    CHECK(upcalls == 1, "timer upcall after SCHEDOP_block");
    pv_evtchn_disable_upcalls();
}

/*
 * Debug registers at work: an instruction breakpoint set with set_debugreg
 * faults into the #DB handler before the instruction (DR6.B0), and resuming
 * with RF runs it; a data breakpoint traps after the store (B1); with
 * CR4.DE an I/O breakpoint traps after an out and after each ins
 * iteration it matches (B2); rep insb/outsb move data as emulated.
 */
__attribute__((noinline, noclone)) static int bp_target(int x)
{
    __asm__ __volatile__("" ::: "memory");
    return x + 1;
}

static volatile uint32_t watched[2];

static void check_debug_breakpoints(void)
{
    int (*volatile target)(int) = bp_target;
    unsigned long at = (unsigned long)target;

    CHECK(HYPERVISOR_set_debugreg(0, at) == 0, "DR0 = bp_target");
    CHECK(HYPERVISOR_set_debugreg(7, 1) == 0, "DR7.L0 (execute)");
    reset(0);
    db_set_rf = 1;
    int r = target(41);
    CHECK(r == 42 && traps_taken == 1 && last_vector == 1, "instruction breakpoint: #DB, then it ran (%d, %u traps)", r, traps_taken);
    CHECK(db_rip == at, "#DB before the instruction (rip %lx, want %lx)", db_rip, at);
    CHECK((db_dr6 & 0x400f) == 1, "DR6.B0 (dr6 %lx)", db_dr6);
    r = target(1);
    CHECK(r == 2 && traps_taken == 2, "the breakpoint stays armed (%u traps)", traps_taken);
    CHECK(HYPERVISOR_set_debugreg(7, 0) == 0, "DR7 cleared");
    r = target(2);
    CHECK(r == 3 && traps_taken == 2, "no #DB once DR7 is clear");
    db_set_rf = 0;

    /* DR1: 4-byte write breakpoint on watched[1] (R/W 01, LEN 11). */
    CHECK(HYPERVISOR_set_debugreg(1, (unsigned long)&watched[1]) == 0, "DR1 = &watched[1]");
    CHECK(HYPERVISOR_set_debugreg(7, (1UL << 2) | (1UL << 20) | (3UL << 22)) == 0, "DR7.L1 write, 4 bytes");
    reset(0);
    uint32_t v = watched[1];
    watched[0] = 5;
    CHECK(traps_taken == 0, "a read and a store beside the range do not trap (%u)", traps_taken);
    unsigned long after;
    __asm__ __volatile__("movl $7, %1\n1:\tlea 1b(%%rip), %0" : "=r"(after), "=m"(watched[1]) :: "memory");
    CHECK(traps_taken == 1 && last_vector == 1 && watched[1] == 7, "data breakpoint: #DB after the store (%u)", traps_taken);
    CHECK(db_rip == after, "a trap: rip after the store (%lx, want %lx)", db_rip, after);
    CHECK((db_dr6 & 0x400f) == 2, "DR6.B1 (dr6 %lx)", db_dr6);
    (void)v;
    CHECK(HYPERVISOR_set_debugreg(7, 0) == 0, "DR7 cleared");

    /* MOV SS shadow: a read breakpoint on the selector mov %ss loads is held until the end of the next
     * instruction, so the #DB arrives after the nop, not between the two. */
    static volatile uint16_t ss_sel;
    __asm__ __volatile__("mov %%ss, %0" : "=m"(ss_sel));
    CHECK(HYPERVISOR_set_debugreg(1, (unsigned long)&ss_sel) == 0, "DR1 = &ss_sel");
    CHECK(HYPERVISOR_set_debugreg(7, (1UL << 2) | (3UL << 20) | (1UL << 22)) == 0, "DR7.L1 read/write, 2 bytes");
    reset(0);
    unsigned long after_nop;
    __asm__ __volatile__("mov %1, %%ss\n\tnop\n1:\tlea 1b(%%rip), %0" : "=r"(after_nop) : "m"(ss_sel) : "memory");
    CHECK(traps_taken == 1 && last_vector == 1, "mov ss: one #DB (%u)", traps_taken);
    CHECK(db_rip == after_nop, "mov ss: #DB after the next instruction (%lx, want %lx)", db_rip, after_nop);
    CHECK((db_dr6 & 0x400f) == 2, "mov ss: DR6.B1 (dr6 %lx)", db_dr6);
    CHECK(HYPERVISOR_set_debugreg(7, 0) == 0, "DR7 cleared");

    /* I/O: set_iopl 1, CR4.DE, DR2 = port 0x80 (R/W 10). */
    struct physdev_set_iopl iopl = { .iopl = 1 };
    CHECK(HYPERVISOR_physdev_op(PHYSDEVOP_set_iopl, &iopl) == 0, "set_iopl 1");
    uint8_t buf[8] = { 0, 0, 0, 0, 0, 0, 0, 0 };
    uint8_t *p = buf;
    unsigned long n = 5;
    reset(0);
    __asm__ __volatile__("rep insb" : "+D"(p), "+c"(n) : "d"(0x80) : "memory");
    CHECK(traps_taken == 0 && n == 0 && p == buf + 5 && buf[4] == 0xff && buf[5] == 0, "rep insb: all ones, rdi and rcx stepped");
    const uint8_t *q = buf;
    n = 3;
    __asm__ __volatile__("rep outsb" : "+S"(q), "+c"(n) : "d"(0x80) : "memory");
    CHECK(traps_taken == 0 && n == 0 && q == buf + 3, "rep outsb");
    unsigned long cr4;
    __asm__ __volatile__("mov %%cr4, %0" : "=r"(cr4));
    __asm__ __volatile__("mov %0, %%cr4" :: "r"(cr4 | 8) : "memory");
    CHECK(HYPERVISOR_set_debugreg(2, 0x80) == 0, "DR2 = port 0x80");
    CHECK(HYPERVISOR_set_debugreg(7, (1UL << 4) | (2UL << 24)) == 0, "DR7.L2 I/O (with CR4.DE)");
    reset(0);
    __asm__ __volatile__("movb $0, %%al\n\toutb %%al, $0x80\n1:\tlea 1b(%%rip), %0" : "=r"(after) :: "rax", "memory");
    CHECK(traps_taken == 1 && last_vector == 1 && db_rip == after && (db_dr6 & 0x400f) == 4,
          "I/O breakpoint: #DB after the out, DR6.B2 (%u, dr6 %lx)", traps_taken, db_dr6);
    p = buf;
    n = 3;
    reset(0);
    __asm__ __volatile__("rep insb" : "+D"(p), "+c"(n) : "d"(0x80) : "memory");
    CHECK(n == 0 && traps_taken == 3, "rep insb on a watched port: a #DB per iteration (%u)", traps_taken);
    CHECK(HYPERVISOR_set_debugreg(7, 0) == 0, "DR7 cleared");
    __asm__ __volatile__("mov %0, %%cr4" :: "r"(cr4) : "memory");
    iopl.iopl = 0;
    CHECK(HYPERVISOR_physdev_op(PHYSDEVOP_set_iopl, &iopl) == 0, "set_iopl 0");
}

int pv_main(start_info_t *si)
{
    (void)si;
    pv_shared_info->vcpu_info[0].evtchn_upcall_mask = 1;
    CHECK(HYPERVISOR_set_trap_table(trap_table) == 0, "set_trap_table");
    check_exceptions();
    check_alignment_check();
    check_software_interrupts();
    check_hypercalls();
    check_privileged_ops();
    check_fpu_taskswitch();
    check_debug_breakpoints();
    check_failsafe();
    check_user_mode();
    check_gdt();
    check_upcalls();
    /* A figure, not a check: the cost of one trap round trip (bounce frame, handler, HYPERVISOR_iret). */
    reset(0);
    uint64_t t0 = pv_system_time_ns();
    for (int i = 0; i < 10000; i++)
        __asm__ __volatile__("int $0x30" ::: "memory");
    uint64_t t1 = pv_system_time_ns();
    pv_printf("traps: int 0x30 round trip %lu ns (%u traps)\n", (unsigned long)((t1 - t0) / 10000), traps_taken);
    t0 = pv_system_time_ns();
    for (int i = 0; i < 10000; i++)
        HYPERVISOR_xen_version(XENVER_version, NULL);
    t1 = pv_system_time_ns();
    pv_printf("traps: xen_version hypercall round trip %lu ns (for comparison)\n", (unsigned long)((t1 - t0) / 10000));
    pv_printf("traps: %d/%d checks passed\n", passed, total);
    /* Idle until the host destroys the domain. */
    for (;;)
        HYPERVISOR_sched_op(SCHEDOP_block, NULL);
}
