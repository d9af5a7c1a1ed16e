/*
 * runtime.c - from _start to pv_main and back out through SCHEDOP_shutdown.
 */
#include <paravirt/pv.h>

#if __has_include(<paravirt/memory.h>)
#include <paravirt/memory.h>
#endif

#include "internal.h"

start_info_t *pv_start_info;
shared_info_t *pv_shared_info;

/* The page the shared info frame is mapped over (its own frame is given up). */
static char shared_info_area[PV_PAGE_SIZE] __attribute__((aligned(PV_PAGE_SIZE)));

void pv_shared_info_init(const start_info_t *si)
{
    /*
     * start_info.shared_info is a MACHINE address; a PV guest maps it
     * itself.  Present, writable, not executable.
     */
    long rc = pv_map_mfn(shared_info_area, si->shared_info >> PV_PAGE_SHIFT, true);
    pv_shared_info = rc == 0 ? (shared_info_t *)shared_info_area : NULL;
}

xen_pfn_t pv_pfn_to_mfn(xen_pfn_t pfn)
{
    const start_info_t *si = pv_start_info;
    if (si == NULL || si->mfn_list == 0 || pfn >= si->nr_pages)
        return PV_INVALID_MFN;
    return ((const xen_pfn_t *)si->mfn_list)[pfn];
}

/*
 * The read-only M2P Xen maps into every PV guest (XENMEM_machphys_mapping
 * says where and how far); NULL if the hypervisor does not offer it.
 */
static const xen_pfn_t *m2p;
static unsigned long m2p_entries;
static bool m2p_probed;

static void m2p_probe(void)
{
    m2p_probed = true;
#ifdef XENMEM_machphys_mapping
    struct xen_machphys_mapping map;
    memset(&map, 0, sizeof(map));
    if (HYPERVISOR_memory_op(XENMEM_machphys_mapping, &map) != 0)
        return;
    if (map.v_start < MACH2PHYS_VIRT_START || map.v_end > MACH2PHYS_VIRT_END || map.v_end <= map.v_start)
        return;
    unsigned long entries = (map.v_end - map.v_start) / sizeof(xen_pfn_t);
    if (map.max_mfn + 1 < entries)
        entries = map.max_mfn + 1;
    m2p = (const xen_pfn_t *)map.v_start;
    m2p_entries = entries;
#endif
}

xen_pfn_t pv_mfn_to_pfn(xen_pfn_t mfn)
{
    const start_info_t *si = pv_start_info;
    if (si == NULL || si->mfn_list == 0)
        return PV_INVALID_MFN;
    if (!m2p_probed)
        m2p_probe();
    /* The M2P entry of a frame that is not ours means nothing: confirm it through the p2m. */
    if (m2p != NULL && mfn < m2p_entries) {
        xen_pfn_t pfn = m2p[mfn];
        if (pfn < si->nr_pages && pv_pfn_to_mfn(pfn) == mfn)
            return pfn;
    }
    const xen_pfn_t *p2m = (const xen_pfn_t *)si->mfn_list;
    for (unsigned long pfn = 0; pfn < si->nr_pages; pfn++)
        if (p2m[pfn] == mfn)
            return pfn;
    return PV_INVALID_MFN;
}

long pv_map_mfn(void *va, xen_pfn_t mfn, bool writable)
{
    if (((unsigned long)va & (PV_PAGE_SIZE - 1)) != 0)
        return -XEN_EINVAL;
    /* Present (| writable), never executable. */
    uint64_t pte = ((uint64_t)mfn << PV_PAGE_SHIFT) | 0x1 | (writable ? 0x2 : 0) | (1ULL << 63);
    return HYPERVISOR_update_va_mapping((unsigned long)va, pte, UVMF_INVLPG);
}

long pv_unmap(void *va)
{
    if (((unsigned long)va & (PV_PAGE_SIZE - 1)) != 0)
        return -XEN_EINVAL;
    return HYPERVISOR_update_va_mapping((unsigned long)va, 0, UVMF_INVLPG);
}

xen_pfn_t pv_virt_to_mfn(const void *va)
{
    unsigned long v = (unsigned long)va;
    if (v < PV_VIRT_BASE)
        return PV_INVALID_MFN;
    return pv_pfn_to_mfn((v - PV_VIRT_BASE) >> PV_PAGE_SHIFT);
}

void *pv_mfn_to_virt(xen_pfn_t mfn)
{
    const start_info_t *si = pv_start_info;
    if (si == NULL || si->mfn_list == 0)
        return NULL;

    /*
     * mfn_list is the initial p2m (one xen_pfn_t per pseudo-physical frame,
     * nr_pages entries).  The bootstrap region maps pfn N at VIRT_BASE + N
     * pages, and the builder puts the store and console rings inside it.
     * The p2m is guest-writable memory, so bound the pfn as well: it must
     * fit below the top of the address space.
     */
    const xen_pfn_t *p2m = (const xen_pfn_t *)si->mfn_list;
    const unsigned long max_pfn = (0UL - PV_VIRT_BASE) >> PV_PAGE_SHIFT;
    unsigned long nr = si->nr_pages < max_pfn ? si->nr_pages : max_pfn;

    for (unsigned long pfn = 0; pfn < nr; pfn++) {
        if (p2m[pfn] == mfn)
            return (void *)(PV_VIRT_BASE + (pfn << PV_PAGE_SHIFT));
    }
    return NULL;
}

void pv_yield(void)
{
    HYPERVISOR_sched_op(SCHEDOP_yield, NULL);
}

void pv_shutdown(unsigned int reason)
{
    sched_shutdown_t op = { .reason = reason };

    /*
     * On success the hypervisor pauses every vCPU of the domain, so the call
     * does not come back.  If it does (refused, or a broken hypervisor),
     * keep asking rather than run off the end: returning here would execute
     * whatever follows.
     */
    for (;;) {
        HYPERVISOR_sched_op(SCHEDOP_shutdown, &op);
        HYPERVISOR_sched_op(SCHEDOP_yield, NULL);
    }
}

void pv_dump_regs(const struct cpu_user_regs *r)
{
    pv_printf("rip %016lx  cs %04x  rflags %016lx  rsp %016lx  ss %04x\n",
              (unsigned long)r->rip, r->cs, (unsigned long)r->rflags, (unsigned long)r->rsp, r->ss);
    pv_printf("rax %016lx  rbx %016lx  rcx %016lx  rdx %016lx\n",
              (unsigned long)r->rax, (unsigned long)r->rbx, (unsigned long)r->rcx, (unsigned long)r->rdx);
    pv_printf("rsi %016lx  rdi %016lx  rbp %016lx  r8  %016lx\n",
              (unsigned long)r->rsi, (unsigned long)r->rdi, (unsigned long)r->rbp, (unsigned long)r->r8);
    pv_printf("r9  %016lx  r10 %016lx  r11 %016lx  r12 %016lx\n",
              (unsigned long)r->r9, (unsigned long)r->r10, (unsigned long)r->r11, (unsigned long)r->r12);
    pv_printf("r13 %016lx  r14 %016lx  r15 %016lx  err %08x vec %u\n",
              (unsigned long)r->r13, (unsigned long)r->r14, (unsigned long)r->r15,
              r->error_code, r->entry_vector);
}

void pv_panic(const char *fmt, ...)
{
    /*
     * The registers as they are on entry: the callee-saved ones still hold
     * the caller's values (the prologue may have pushed, not changed them
     * yet - gcc saves before it reuses), rip is the return address.
     */
    struct cpu_user_regs regs;
    memset(&regs, 0, sizeof(regs));
    __asm__ __volatile__("movq %%rbx, %0\n\tmovq %%r12, %1\n\tmovq %%r13, %2\n\t"
                         "movq %%r14, %3\n\tmovq %%r15, %4"
                         : "=m"(regs.rbx), "=m"(regs.r12), "=m"(regs.r13), "=m"(regs.r14), "=m"(regs.r15));
    __asm__ __volatile__("movq %%rbp, %0\n\tmovq %%rsp, %1\n\tpushfq\n\tpopq %2\n\t"
                         "movw %%cs, %3\n\tmovw %%ss, %4"
                         : "=m"(regs.rbp), "=m"(regs.rsp), "=m"(regs.rflags), "=m"(regs.cs), "=m"(regs.ss));
    regs.rip = (uint64_t)__builtin_return_address(0);
    regs.rdi = (uint64_t)fmt;

    static bool panicking;
    char msg[256];
    va_list ap;

    va_start(ap, fmt);
    pv_vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    pv_printf("panic: %s\n", msg);
    if (!panicking) {           /* a panic inside the dump must not recurse */
        panicking = true;
        pv_dump_regs(&regs);
        const uint64_t *sp = (const uint64_t *)regs.rsp;
        pv_printf("stack:");
        for (int i = 0; i < 8; i++)
            pv_printf(" %016lx", (unsigned long)sp[i]);
        pv_printf("\n");
    }
    pv_shutdown(SHUTDOWN_crash);
}

/* Called from _start on the runtime's own stack; never returns. */
PV_NORETURN void pv_boot(start_info_t *si);

void pv_boot(start_info_t *si)
{
    pv_start_info = si;

    /*
     * Without a plausible start_info nothing else (rings, p2m) can be
     * trusted: say so on the hypervisor console, which needs nothing but the
     * hypercall page, and crash.
     */
    if (si == NULL || memcmp(si->magic, XEN_START_INFO_MAGIC_PREFIX,
                             sizeof(XEN_START_INFO_MAGIC_PREFIX) - 1) != 0) {
        static char bad_magic[] = "paravirt: bad start_info magic\n";
        pv_start_info = NULL;
        HYPERVISOR_console_io(CONSOLEIO_write, sizeof(bad_magic) - 1, bad_magic);
        pv_shutdown(SHUTDOWN_crash);
    }

    pv_console_init(si);
    pv_shared_info_init(si);
    pv_mm_init(si);
    pv_xenbus_init(si);
    pv_trampoline_init();

    int rc = pv_main(si);
    if (rc != 0) {
        pv_printf("pv_main returned %d\n", rc);
        pv_shutdown(SHUTDOWN_crash);
    }
    pv_shutdown(SHUTDOWN_poweroff);
}
