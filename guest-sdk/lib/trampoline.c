/*
 * trampoline.c - the runtime half of `pvport patch` int3 trampolines
 * (paravirt/trampoline.h): the side table the patcher fills, and the #BP
 * handler that performs the PV equivalent of each patched instruction.
 */
#include <paravirt/pv.h>
#include <paravirt/mmu.h>
#include <paravirt/smp.h>
#include <paravirt/trampoline.h>
#include <paravirt/traps.h>

#include "internal.h"

/* In .data with its contents in the file, so the patcher can fill it; count 0 until it does. */
struct pv_trampoline_table pv_trampoline_table __attribute__((section(".data.pv_trampolines"), used, aligned(16))) = {
    .magic = { 'P', 'V', 'T', 'R', 'A', 'M', 'P', '1' },
    .capacity = PV_TRAMPOLINE_CAPACITY,
    .count = 0,
};
unsigned long pv_trampoline_hits;

extern struct pv_cpu pv_cpus[PV_SMP_MAX_VCPUS];
extern char pv_trampoline_entry[];

/* The frame trampoline_entry.S builds (lowest address first). */
struct pv_trampoline_frame {
    uint64_t r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax;
    uint64_t rip, cs, rflags, rsp, ss;
};
_Static_assert(sizeof(struct pv_trampoline_frame) == 20 * 8, "frame");
void pv_trampoline_trap(struct pv_trampoline_frame *f);

#define RFLAGS_IF 0x200UL
/* The flags popf may change at CPL 0 besides IF: CF PF AF ZF SF TF DF OF NT AC ID. */
#define RFLAGS_POPF_MASK 0x254dd5UL

#define MSR_TSC            0x00000010u
#define MSR_FS_BASE        0xc0000100u
#define MSR_GS_BASE        0xc0000101u
#define MSR_KERNEL_GS_BASE 0xc0000102u

static bool installed;

static const trap_info_t bp_trap[] = {
    /* vector 3, events masked on entry (TI_IF); int3 reaches the guest whatever the DPL. */
    { 3, TI_IF, FLAT_KERNEL_CS, (unsigned long)pv_trampoline_entry },
    { 0, 0, 0, 0 },
};

void pv_trampoline_init(void)
{
    const struct pv_trampoline_table *t = &pv_trampoline_table;
    if (t->count == 0)
        return;
    if (t->count > t->capacity)
        pv_panic("pvport trampoline table: %u entries in room for %u", t->count, t->capacity);
    long rc = HYPERVISOR_set_trap_table(bp_trap);
    if (rc != 0)
        pv_panic("pvport trampolines: set_trap_table failed (%ld)", rc);
    installed = true;
}

void pv_trampoline_fill_context(struct vcpu_guest_context *ctx)
{
    if (!installed)
        return;
    struct vcpu_trap_info *ti = &ctx->trap_ctxt[3];
    ti->vector = bp_trap[0].vector;
    ti->flags = bp_trap[0].flags;
    ti->cs = bp_trap[0].cs;
    ti->address = bp_trap[0].address;
}

xen_pfn_t pv_current_l4_mfn(void)
{
    xen_pfn_t l4 = pv_smp_cpu(pv_smp_processor_id())->l4_mfn;
    return l4 != 0 ? l4 : pv_virt_to_mfn((const void *)pv_start_info->pt_base);
}

static const struct pv_trampoline *lookup(uint64_t address)
{
    const struct pv_trampoline_table *t = &pv_trampoline_table;
    uint32_t lo = 0, hi = t->count < t->capacity ? t->count : t->capacity;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        uint64_t a = t->entries[mid].address;
        if (a == address)
            return &t->entries[mid];
        if (a < address)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* General register n in x86 numbering (rsp: the interrupted stack pointer). */
static uint64_t *gpr(struct pv_trampoline_frame *f, unsigned int n)
{
    switch (n) {
    case 0: return &f->rax;   case 1: return &f->rcx;   case 2: return &f->rdx;   case 3: return &f->rbx;
    case 4: return &f->rsp;   case 5: return &f->rbp;   case 6: return &f->rsi;   case 7: return &f->rdi;
    case 8: return &f->r8;    case 9: return &f->r9;    case 10: return &f->r10;  case 11: return &f->r11;
    case 12: return &f->r12;  case 13: return &f->r13;  case 14: return &f->r14;  case 15: return &f->r15;
    default: return NULL;
    }
}

static uint64_t operand_address(struct pv_trampoline_frame *f, const struct pv_trampoline *e)
{
    uint64_t a = (uint64_t)(int64_t)e->disp;
    uint64_t *base = gpr(f, e->base), *index = gpr(f, e->index);
    if (base != NULL)
        a += *base;
    if (index != NULL)
        a += *index * e->scale;
    return a;
}

static inline uint64_t read_tsc(void)
{
    uint32_t lo, hi;
    __asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

/*
 * pvport only trampolines an rdmsr/wrmsr whose MSR it saw loaded into ecx
 * right before (mov $imm, %ecx) and that is one of these: the others have
 * no PV call and stay with the hypervisor's emulation.
 */
static void do_rdmsr(struct pv_trampoline_frame *f, struct pv_cpu *c, uint64_t at)
{
    uint32_t msr = (uint32_t)f->rcx;
    uint64_t v;
    switch (msr) {
    case MSR_TSC:            v = read_tsc(); break;
    case MSR_FS_BASE:        v = c->fs_base; break;
    case MSR_GS_BASE:        v = c->gs_base_kernel; break;     /* kernel mode: the active GS base is the kernel's */
    case MSR_KERNEL_GS_BASE: v = c->gs_base_user; break;
    default:
        pv_panic("trampoline at %p: rdmsr of MSR %#x, which has no PV equivalent", (void *)at, msr);
    }
    f->rax = (uint32_t)v;
    f->rdx = v >> 32;
}

static void do_wrmsr(struct pv_trampoline_frame *f, struct pv_cpu *c, uint64_t at)
{
    uint32_t msr = (uint32_t)f->rcx;
    uint64_t v = ((f->rdx & 0xffffffffUL) << 32) | (f->rax & 0xffffffffUL);
    int which;
    unsigned long *copy;
    switch (msr) {
    case MSR_FS_BASE:        which = SEGBASE_FS;        copy = &c->fs_base; break;
    case MSR_GS_BASE:        which = SEGBASE_GS_KERNEL; copy = &c->gs_base_kernel; break;
    case MSR_KERNEL_GS_BASE: which = SEGBASE_GS_USER;   copy = &c->gs_base_user; break;
    default:
        pv_panic("trampoline at %p: wrmsr of MSR %#x, which has no PV equivalent", (void *)at, msr);
    }
    long rc = HYPERVISOR_set_segment_base(which, v);
    if (rc != 0)
        pv_panic("trampoline at %p: wrmsr %#x <- %#lx refused (%ld)", (void *)at, msr, (unsigned long)v, rc);
    *copy = v;
}

void pv_trampoline_trap(struct pv_trampoline_frame *f)
{
    uint64_t at = f->rip - 1;           /* #BP is a trap: rip is past the int3 */
    bool kernel = (f->cs & 3) == 0;     /* guest kernel frames carry RPL 0 */
    const struct pv_trampoline *e = kernel ? lookup(at) : NULL;
    if (e == NULL)
        pv_panic("int3 at %p (cs %#lx) is not a pvport trampoline", (void *)at, (unsigned long)(f->cs & 0xffff));

    __atomic_fetch_add(&pv_trampoline_hits, 1, __ATOMIC_RELAXED);
    struct pv_cpu *c = pv_smp_cpu(pv_smp_processor_id());
    /* The event mask of the interrupted context (bounce frame: cs bits 32-39); iret restores !rflags.IF. */
    bool masked = ((f->cs >> 32) & 0xff) != 0;
    uint64_t *reg = gpr(f, e->reg);
    long rc = 0;

    switch (e->action) {
    case PV_TRAMP_CLI:
        masked = true;
        break;
    case PV_TRAMP_STI:
        masked = false;                 /* iret unmasks and delivers whatever is pending */
        break;
    case PV_TRAMP_HLT:
        /* Sleeps until an event is pending; Xen unmasks events for the block, so the upcall runs here. */
        HYPERVISOR_sched_op(SCHEDOP_block, NULL);
        PV_WRITE_ONCE(pv_this_vcpu_info()->evtchn_upcall_mask, 1);
        break;
    case PV_TRAMP_POPF: {
        uint64_t v = *(const uint64_t *)f->rsp;
        f->rsp += 8;
        f->rflags = (f->rflags & ~RFLAGS_POPF_MASK) | (v & RFLAGS_POPF_MASK);
        masked = (v & RFLAGS_IF) == 0;
        break;
    }
    case PV_TRAMP_MOV_FROM_CR:
        if (reg == NULL || (e->arg != 2 && e->arg != 3))
            goto bad;
        *reg = e->arg == 2 ? pv_this_vcpu_info()->arch.cr2 : xen_pfn_to_cr3(pv_current_l4_mfn());
        break;
    case PV_TRAMP_MOV_TO_CR:
        if (reg == NULL || e->arg != 3)
            goto bad;
        rc = pv_new_baseptr(xen_cr3_to_pfn(*reg));
        if (rc != 0)
            pv_panic("trampoline at %p: mov %%cr3 <- %#lx refused (%ld)", (void *)at, (unsigned long)*reg, rc);
        c->l4_mfn = xen_cr3_to_pfn(*reg);
        break;
    case PV_TRAMP_RDMSR:
        do_rdmsr(f, c, at);
        break;
    case PV_TRAMP_WRMSR:
        do_wrmsr(f, c, at);
        break;
    case PV_TRAMP_INVLPG:
        rc = pv_invlpg_local(operand_address(f, e));
        if (rc != 0)
            pv_panic("trampoline at %p: invlpg refused (%ld)", (void *)at, rc);
        break;
    case PV_TRAMP_CACHE_FLUSH:
        break;                          /* a domU may not flush caches: Xen ignores wbinvd/invd from it */
    case PV_TRAMP_CLTS:
        HYPERVISOR_fpu_taskswitch(0);
        break;
    case PV_TRAMP_MOV_FROM_DR:
        if (reg == NULL)
            goto bad;
        *reg = HYPERVISOR_get_debugreg(e->arg);
        break;
    case PV_TRAMP_CPUID: {
        /* Xen's forced-emulation form: the domain's CPUID policy answers. */
        uint32_t a = (uint32_t)f->rax, b, cx = (uint32_t)f->rcx, d;
        __asm__ __volatile__("ud2; .ascii \"xen\"; cpuid" : "+a"(a), "=b"(b), "+c"(cx), "=d"(d));
        f->rax = a;
        f->rbx = b;
        f->rcx = cx;
        f->rdx = d;
        break;
    }
    case PV_TRAMP_MOV_TO_DR:
        if (reg == NULL)
            goto bad;
        rc = HYPERVISOR_set_debugreg(e->arg, *reg);
        if (rc != 0)
            pv_panic("trampoline at %p: mov %%dr%u <- %#lx refused (%ld)", (void *)at, e->arg, (unsigned long)*reg, rc);
        break;
    default:
        goto bad;
    }
    f->rip = e->address + e->length;
    f->rflags = masked ? (f->rflags & ~RFLAGS_IF) : (f->rflags | RFLAGS_IF);
    return;
bad:
    pv_panic("pvport trampoline at %p: bad entry (action %u reg %u arg %u)", (void *)at, e->action, e->reg, e->arg);
}
