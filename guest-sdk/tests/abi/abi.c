/*
 * abi - guest-side test kernel for the boot-time PV ABI calls beyond traps
 * and the MMU, run through the real stack: HYPERVISOR_multicall (per-entry
 * results, nesting refused, long batches and preempted sub-calls continued
 * by the hypervisor), vm_assist, physdev_op (set_iopl, set_iobitmap and the
 * port I/O they permit), xen_version features, segment-descriptor pages
 * (set_gdt, update_descriptor, the lazily mapped LDT and segment loads from
 * it), and a jump into the hypervisor's range (a #PF, the domain unharmed).  Every failed check
 * prints one line; the last line is "abi: <passed>/<total> checks passed";
 * then the guest idles.
 */
#include <paravirt/pv.h>
#include <paravirt/callback.h>
#include <paravirt/memory.h>
#include <paravirt/mmu.h>
#include <paravirt/physdev.h>
#include <paravirt/traps.h>

#define PV_XSTR(x) #x
#define PV_STR(x) PV_XSTR(x)

/* The trap entry stubs and iret paths of the traps test kernel. */
__asm__(
#include "../traps/entry.inc"
);

extern char trap_gp[], trap_pf[], nmi_entry[];
volatile unsigned int nmi_count;

/* The NMI callback: count, then HYPERVISOR_iret straight back (the frame: rcx, r11 under rip, cs, rflags, rsp, ss). */
__asm__(
    "    .pushsection .text\n"
    "    .globl nmi_entry\n"
    "nmi_entry:\n"
    "    popq    %rcx\n"
    "    popq    %r11\n"
    "    incl    nmi_count(%rip)\n"
    "    pushq   $0\n"
    "    jmp     hypercall_page + " PV_STR(__HYPERVISOR_iret * XEN_HYPERCALL_STUB_SIZE) "\n"
    "    .popsection\n"
);
unsigned long saved_rsp;

struct trap_frame {
    uint64_t r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax;
    uint64_t vector, error, rip, cs, rflags, rsp, ss;
};

void trap_dispatch(struct trap_frame *f);

static int passed, total;

#define CHECK(cond, ...) do {                                   \
        total++;                                                \
        if (cond) passed++;                                     \
        else { pv_printf("FAIL line %d: ", __LINE__);           \
               pv_printf(__VA_ARGS__); pv_printf("\n"); }       \
    } while (0)

static volatile uint64_t last_vector = ~0UL, last_error, last_rip, last_cr2;
static volatile unsigned int traps_taken;
static volatile uint64_t skip;
/* A #PF at an address the code jumped to returns as "ret" would (the caller pushed its return address). */
static volatile int return_from_jump;

void trap_dispatch(struct trap_frame *f)
{
    last_vector = f->vector;
    last_error = f->error;
    last_rip = f->rip;
    last_cr2 = pv_shared_info->vcpu_info[0].arch.cr2;
    traps_taken++;
    if (f->vector == 14 && return_from_jump) {
        f->rip = *(uint64_t *)f->rsp;
        f->rsp += 8;
    } else {
        f->rip += skip;
    }
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
    { 13, 0, FLAT_KERNEL_CS, (unsigned long)trap_gp },
    { 14, 0, FLAT_KERNEL_CS, (unsigned long)trap_pf },
    { 0, 0, 0, 0 },
};

static multicall_entry_t mc(unsigned long op, unsigned long a0, unsigned long a1, unsigned long a2)
{
    multicall_entry_t e = { .op = op, .result = 0xdeadbeef };
    e.args[0] = a0;
    e.args[1] = a1;
    e.args[2] = a2;
    return e;
}

/* ---- multicall --------------------------------------------------------------------------------------------- */

#define LONG_BATCH 300
#define LONG_MMU 2500
static multicall_entry_t batch[LONG_BATCH];
static mmu_update_t many[LONG_MMU];
#define LONG_EXT 1100
static mmuext_op_t ext_ops[LONG_EXT];
static char window[PV_PAGE_SIZE] __attribute__((aligned(PV_PAGE_SIZE)));

/* Machine address of the L1 entry that maps va in the boot tables. */
static uint64_t l1e_maddr(unsigned long va)
{
    uint64_t *t = (uint64_t *)pv_start_info->pt_base;
    xen_pfn_t mfn = pv_virt_to_mfn(t);
    for (int l = 4; l > 1; l--) {
        uint64_t e = t[(va >> (12 + 9 * (l - 1))) & 511];
        mfn = pv_pte_mfn(e);
        t = (uint64_t *)pv_mfn_to_virt(mfn);
    }
    return ((uint64_t)mfn << 12) + ((va >> 12) & 511) * 8;
}

static void test_multicall(void)
{
    domid_t self = DOMID_SELF;
    multicall_entry_t inner[1] = { mc(__HYPERVISOR_xen_version, XENVER_version, 0, 0) };
    multicall_entry_t calls[6] = {
        mc(__HYPERVISOR_xen_version, XENVER_version, 0, 0),
        mc(__HYPERVISOR_vm_assist, VMASST_CMD_enable, 6, 0),
        mc(__HYPERVISOR_memory_op, XENMEM_current_reservation, (unsigned long)&self, 0),
        mc(__HYPERVISOR_multicall, (unsigned long)inner, 1, 0),
        mc(60, 0, 0, 0),
        mc(__HYPERVISOR_xen_version, XENVER_pagesize, 0, 0),
    };
    long version = HYPERVISOR_xen_version(XENVER_version, NULL);
    CHECK(HYPERVISOR_multicall(calls, 6) == 0, "multicall of six");
    CHECK((long)calls[0].result == version, "entry 0: xen_version %lx", calls[0].result);
    CHECK((long)calls[1].result == -XEN_EINVAL, "entry 1: failing vm_assist %ld", (long)calls[1].result);
    CHECK((long)calls[2].result == (long)pv_start_info->nr_pages, "entry 2: current_reservation %ld", (long)calls[2].result);
    CHECK((long)calls[3].result == -XEN_EINVAL, "entry 3: nested multicall refused %ld", (long)calls[3].result);
    CHECK(inner[0].result == 0xdeadbeef, "the nested list was not run");
    CHECK((long)calls[4].result == -XEN_ENOSYS, "entry 4: unknown hypercall %ld", (long)calls[4].result);
    CHECK((long)calls[5].result == 4096, "entry 5 ran after the failures: %ld", (long)calls[5].result);
    CHECK(HYPERVISOR_multicall(calls, 0) == 0, "an empty multicall");

    /* The list itself unreadable: -EFAULT. */
    CHECK(HYPERVISOR_multicall((multicall_entry_t *)0x1000, 1) == -XEN_EFAULT, "unmapped list");
    CHECK(HYPERVISOR_multicall((multicall_entry_t *)0xffff800000000000UL, 1) == -XEN_EFAULT, "list in Xen's range");
    /* A read-only list: the entry runs, its result cannot be stored. */
    *(multicall_entry_t *)window = mc(__HYPERVISOR_xen_version, XENVER_version, 0, 0);
    xen_pfn_t wmfn = pv_virt_to_mfn(window);
    CHECK(HYPERVISOR_update_va_mapping((unsigned long)window, pv_make_pte(wmfn, _PAGE_PRESENT), UVMF_INVLPG) == 0,
          "map the window read-only");
    CHECK(HYPERVISOR_multicall((multicall_entry_t *)window, 1) == -XEN_EFAULT, "read-only list");
    CHECK(HYPERVISOR_update_va_mapping((unsigned long)window, pv_make_pte(wmfn, _PAGE_PRESENT | _PAGE_RW), UVMF_INVLPG) == 0,
          "map the window writable again");
    CHECK(((multicall_entry_t *)window)->result == 0xdeadbeef, "nothing was stored in it");

    /* More entries than one pass runs: the hypervisor continues the multicall. */
    for (int i = 0; i < LONG_BATCH; i++)
        batch[i] = mc(__HYPERVISOR_xen_version, i % 2 ? XENVER_pagesize : XENVER_version, 0, 0);
    CHECK(HYPERVISOR_multicall(batch, LONG_BATCH) == 0, "long multicall");
    int good = 0;
    for (int i = 0; i < LONG_BATCH; i++)
        good += (long)batch[i].result == (i % 2 ? 4096 : version);
    CHECK(good == LONG_BATCH, "every entry of the long batch has its result (%d)", good);

    /* An mmu_update longer than one pass inside a multicall: it is continued within the entry. */
    uint64_t pte = l1e_maddr((unsigned long)window);
    uint64_t val = pv_make_pte(pv_virt_to_mfn(window), _PAGE_PRESENT | _PAGE_RW | _PAGE_ACCESSED | _PAGE_DIRTY);
    for (int i = 0; i < LONG_MMU; i++)
        many[i] = pv_mmu_pt_update(pte, val);
    unsigned int done = 0;
    multicall_entry_t two[2] = {
        mc(__HYPERVISOR_mmu_update, (unsigned long)many, LONG_MMU, (unsigned long)&done),
        mc(__HYPERVISOR_xen_version, XENVER_version, 0, 0),
    };
    two[0].args[3] = DOMID_SELF;
    CHECK(HYPERVISOR_multicall(two, 2) == 0, "multicall with a long mmu_update");
    CHECK(two[0].result == 0 && done == LONG_MMU, "the mmu_update finished: result %ld, done %u", (long)two[0].result, done);
    CHECK((long)two[1].result == version, "the entry after it ran");
    window[0] = 1;
    CHECK(window[0] == 1, "the window is still mapped");

    /* The same batch straight through HYPERVISOR_mmu_update: continued by re-entering the syscall. */
    done = 0;
    CHECK(HYPERVISOR_mmu_update(many, LONG_MMU, &done, DOMID_SELF) == 0 && done == LONG_MMU,
          "a long mmu_update completes (done %u)", done);
    for (int i = 0; i < LONG_EXT; i++)
        ext_ops[i] = (mmuext_op_t){ .cmd = MMUEXT_INVLPG_LOCAL, .arg1.linear_addr = (unsigned long)window };
    ext_ops[LONG_EXT - 1].cmd = 99;
    done = 0;
    CHECK(HYPERVISOR_mmuext_op(ext_ops, LONG_EXT, &done, DOMID_SELF) == -XEN_ENOSYS && done == LONG_EXT - 1,
          "a long mmuext_op runs to its failing last op (done %u)", done);

    /* A failing mmu_update inside a multicall reports through its own result and done. */
    many[1] = pv_mmu_pt_update(pte, pv_make_pte((xen_pfn_t)pv_maximum_ram_page() + 16, _PAGE_PRESENT));
    done = 0;
    two[0] = mc(__HYPERVISOR_mmu_update, (unsigned long)many, 3, (unsigned long)&done);
    two[0].args[3] = DOMID_SELF;
    CHECK(HYPERVISOR_multicall(two, 2) == 0 && (long)two[0].result == -XEN_EPERM && done == 1,
          "failing mmu_update entry: %ld, done %u", (long)two[0].result, done);
}

/* ---- vm_assist, xen_version features ------------------------------------------------------------------------ */

static long features(unsigned int idx, uint32_t *map)
{
    xen_feature_info_t fi = { .submap_idx = idx };
    long rc = HYPERVISOR_xen_version(XENVER_get_features, &fi);
    *map = fi.submap;
    return rc;
}

static void test_vm_assist_and_features(void)
{
    CHECK(HYPERVISOR_vm_assist(VMASST_CMD_enable, VMASST_TYPE_writable_pagetables) == 0, "writable_pagetables");
    CHECK(HYPERVISOR_vm_assist(VMASST_CMD_enable, VMASST_TYPE_runstate_update_flag) == 0, "runstate_update_flag");
    CHECK(HYPERVISOR_vm_assist(VMASST_CMD_enable, VMASST_TYPE_m2p_strict) == 0, "m2p_strict");
    CHECK(HYPERVISOR_vm_assist(VMASST_CMD_disable, VMASST_TYPE_m2p_strict) == 0, "m2p_strict off");
    CHECK(HYPERVISOR_vm_assist(VMASST_CMD_enable, 6) == -XEN_EINVAL, "type 6");
    CHECK(HYPERVISOR_vm_assist(VMASST_CMD_enable, 31) == -XEN_EINVAL, "type 31");
    CHECK(HYPERVISOR_vm_assist(VMASST_CMD_enable, 64) == -XEN_EINVAL, "type 64");
    CHECK(HYPERVISOR_vm_assist(2, VMASST_TYPE_writable_pagetables) == -XEN_ENOSYS, "unknown command");
    CHECK(HYPERVISOR_vm_assist(2, 6) == -XEN_EINVAL, "the type is checked before the command");

    uint32_t map = 0;
    CHECK(features(0, &map) == 0, "get_features 0");
    CHECK(map & (1u << XENFEAT_mmu_pt_update_preserve_ad), "preserve_ad offered (%x)", map);
    CHECK(map & (1u << XENFEAT_highmem_assist), "highmem_assist offered (%x)", map);
    CHECK(map & (1u << XENFEAT_direct_mapped), "direct_mapped (%x)", map);
    CHECK(map & (1u << XENFEAT_gnttab_map_avail_bits), "gnttab_map_avail_bits (%x)", map);
    CHECK(!(map & ((1u << XENFEAT_auto_translated_physmap) | (1u << XENFEAT_writable_page_tables) | (1u << XENFEAT_dom0))),
          "a PV domU is not translated and not dom0 (%x)", map);
    CHECK(!(map & (1u << XENFEAT_pae_pgdir_above_4gb)), "no pae_pgdir_above_4gb before the assist");
    CHECK(HYPERVISOR_vm_assist(VMASST_CMD_enable, VMASST_TYPE_pae_extended_cr3) == 0, "pae_extended_cr3");
    CHECK(features(0, &map) == 0 && (map & (1u << XENFEAT_pae_pgdir_above_4gb)), "pae_pgdir_above_4gb after it");
    CHECK(features(1, &map) == -XEN_EINVAL, "submap 1");
    CHECK(HYPERVISOR_xen_version(XENVER_pagesize, NULL) == 4096, "pagesize");
    CHECK(HYPERVISOR_xen_version(XENVER_pagesize, &map) == -XEN_EINVAL, "pagesize with an argument");
    CHECK(HYPERVISOR_xen_version(XENVER_commandline, window) == -XEN_EPERM, "commandline is dom0's");
}

/* ---- physdev_op and port I/O --------------------------------------------------------------------------------- */

static unsigned int inb_80(void)
{
    unsigned int v = 0x1234;
    __asm__ __volatile__("inb $0x80, %%al" : "+a"(v) :: "memory");
    return v;
}

static unsigned int inw_dx(unsigned int port)
{
    unsigned int v = 0x12340000;
    __asm__ __volatile__("inw %%dx, %%ax" : "+a"(v) : "d"(port) : "memory");
    return v;
}

static void outb_80(unsigned int v)
{
    __asm__ __volatile__("outb %%al, $0x80" :: "a"(v) : "memory");
}

static uint8_t iobitmap[8192];

static long set_iopl(uint32_t iopl)
{
    struct physdev_set_iopl s = { .iopl = iopl };
    return HYPERVISOR_physdev_op(PHYSDEVOP_set_iopl, &s);
}

static long set_iobitmap(void *bitmap, uint32_t nr)
{
    struct physdev_set_iobitmap s = { .bitmap = bitmap, .nr_ports = nr };
    return HYPERVISOR_physdev_op(PHYSDEVOP_set_iobitmap, &s);
}

static void test_physdev(void)
{
    reset(2);
    unsigned int v = inb_80();
    CHECK(traps_taken == 1 && last_vector == 13 && last_error == 0, "inb without IOPL is #GP(0) (vector %lu)", last_vector);
    CHECK(v == 0x1234, "nothing was read");
    reset(2);
    outb_80(0x55);
    CHECK(traps_taken == 1 && last_vector == 13, "outb without IOPL is #GP");

    CHECK(set_iopl(4) == -XEN_EINVAL, "iopl 4");
    CHECK(HYPERVISOR_physdev_op(PHYSDEVOP_set_iopl, (void *)0x1000) == -XEN_EFAULT, "unreadable set_iopl");
    CHECK(HYPERVISOR_physdev_op(99, NULL) == -XEN_ENOSYS, "unknown physdev op");
    CHECK(set_iopl(1) == 0, "iopl 1");
    reset(0);
    v = inb_80();
    CHECK(traps_taken == 0 && v == 0x12ff, "inb with IOPL 1 reads all ones from a port not given (%x)", v);
    outb_80(0x55);
    CHECK(traps_taken == 0, "outb with IOPL 1 is dropped, not faulted");
    v = inw_dx(0x60);
    CHECK(traps_taken == 0 && v == 0x1234ffff, "inw through dx (%x)", v);
    CHECK(set_iopl(0) == 0, "iopl back to 0");

    /* An I/O bitmap allowing ports 0x60-0x6f, and port 0x80 allowed only through the compat entry's bitmap. */
    for (unsigned int i = 0; i < sizeof(iobitmap); i++)
        iobitmap[i] = 0xff;
    iobitmap[0x60 / 8] = 0;
    iobitmap[0x68 / 8] = 0;
    CHECK(set_iobitmap(iobitmap, 0x400) == 0, "set_iobitmap");
    reset(2);
    v = inw_dx(0x60);
    CHECK(traps_taken == 0 && v == 0x1234ffff, "a permitted port (%x)", v);
    v = inw_dx(0x6f);
    CHECK(traps_taken == 1 && last_vector == 13, "a word access that runs into a forbidden port");
    reset(2);
    v = inb_80();
    CHECK(traps_taken == 1 && last_vector == 13, "a forbidden port");
    CHECK(set_iobitmap(iobitmap, 65537) == -XEN_EINVAL, "more than 65536 ports");
    CHECK(set_iobitmap((void *)0xffff800000000000UL, 16) == -XEN_EINVAL, "bitmap in Xen's range");
    struct physdev_op op = { .cmd = PHYSDEVOP_set_iobitmap };
    iobitmap[0x80 / 8] = 0xfe;
    iobitmap[0x100 / 8] = 0;
    op.u.set_iobitmap.bitmap = iobitmap;
    op.u.set_iobitmap.nr_ports = 0x100;
    CHECK(HYPERVISOR_physdev_op_compat(&op) == 0, "physdev_op_compat set_iobitmap");
    reset(2);
    v = inb_80();
    CHECK(traps_taken == 0 && v == 0x12ff, "port 0x80 now permitted (%x)", v);
    v = inw_dx(0xfe);
    CHECK(traps_taken == 1 && last_vector == 13, "ports 0xfe-0xff are still forbidden by their bits");
    reset(2);
    v = inw_dx(0x100);
    CHECK(traps_taken == 1 && last_vector == 13, "a port past nr_ports, whatever its bit");
    CHECK(set_iobitmap(NULL, 0) == 0, "no bitmap");
    CHECK(HYPERVISOR_physdev_op_compat((void *)0x1000) == -XEN_EFAULT, "unreadable compat op");
}

/* ---- descriptor pages: GDT and LDT ------------------------------------------------------------------------ */

static long map_page(void *va, uint64_t flags)
{
    return HYPERVISOR_update_va_mapping((unsigned long)va, pv_make_pte(pv_virt_to_mfn(va), flags), UVMF_INVLPG);
}

static long set_ldt(void *va, unsigned int ents)
{
    mmuext_op_t op = { .cmd = MMUEXT_SET_LDT };
    op.arg1.linear_addr = (unsigned long)va;
    op.arg2.nr_ents = ents;
    return HYPERVISOR_mmuext_op(&op, 1, NULL, DOMID_SELF);
}

/* Load fs from selector sel (8e e0: 2 bytes) and return its base, or ~0 if the load faulted. */
static uint64_t load_fs(unsigned short sel)
{
    uint32_t lo, hi;
    reset(2);
    __asm__ __volatile__("mov %0, %%ax; .byte 0x8e, 0xe0" :: "r"(sel) : "rax", "memory");
    if (traps_taken)
        return ~0UL;
    __asm__ __volatile__("rdmsr" : "=a"(lo), "=d"(hi) : "c"(0xc0000100) : "memory");
    return ((uint64_t)hi << 32) | lo;
}

static void test_descriptors(void)
{
    const uint64_t prw = _PAGE_PRESENT | _PAGE_RW | _PAGE_ACCESSED | _PAGE_DIRTY, pro = _PAGE_PRESENT | _PAGE_ACCESSED;

    /* The GDT: a frame mapped writable cannot be one; read-only it can, and then cannot be mapped writable. */
    uint64_t *gdt = pv_page_alloc();
    for (int i = 0; i < 512; i++)
        gdt[i] = 0;
    gdt[2] = 0x00cf92000000ffffUL | (0x1111UL << 16);
    xen_ulong_t frames[1] = { pv_virt_to_mfn(gdt) };
    CHECK(HYPERVISOR_set_gdt(frames, 32) == -XEN_EINVAL, "set_gdt on a writable frame");
    CHECK(map_page(gdt, pro) == 0, "GDT frame read-only");
    CHECK(HYPERVISOR_set_gdt(frames, 32) == 0, "set_gdt");
    CHECK(map_page(gdt, prw) == -XEN_EBUSY, "an installed GDT frame cannot be mapped writable");
    CHECK(load_fs(0x13) == 0x1111, "fs from the GDT");
    CHECK(HYPERVISOR_update_descriptor((uint64_t)frames[0] << 12 | 16, 0x00cf92000000ffffUL | (0x2222UL << 16)) == 0,
          "update_descriptor in the live GDT");
    CHECK(load_fs(0x13) == 0x2222, "the updated descriptor is used");
    CHECK(((gdt[2] >> 45) & 3) == 3, "its DPL raised to 3 (%lx)", gdt[2]);
    CHECK(HYPERVISOR_update_descriptor((uint64_t)frames[0] << 12 | 24, 0x0000890000000067UL) == -XEN_EINVAL,
          "a TSS descriptor");
    CHECK(HYPERVISOR_update_descriptor((uint64_t)frames[0] << 12 | 20, 0) == -XEN_EINVAL, "misaligned");
    uint64_t l4 = (uint64_t)pv_virt_to_mfn((void *)pv_start_info->pt_base) << 12;
    CHECK(HYPERVISOR_update_descriptor(l4 + 8 * 300, 0) == -XEN_EINVAL, "into a page table");

    /* The LDT: validated and typed when a selector first needs it. */
    uint64_t *ldt = pv_page_alloc();
    for (int i = 0; i < 512; i++)
        ldt[i] = 0;
    ldt[1] = 0x00cf92000000ffffUL | (0x3333UL << 16);
    CHECK(map_page(ldt, pro) == 0, "LDT page read-only");
    CHECK(set_ldt(ldt, 16) == 0, "SET_LDT");
    CHECK(map_page(ldt, prw) == 0 && map_page(ldt, pro) == 0, "nothing holds the LDT page before it is used");
    CHECK(load_fs(0x0f) == 0x3333, "fs from the LDT");
    CHECK(map_page(ldt, prw) == -XEN_EBUSY, "an LDT page in use cannot be mapped writable");
    CHECK(HYPERVISOR_update_descriptor(((uint64_t)pv_virt_to_mfn(ldt) << 12) + 16, 0x00cff2000000ffffUL | (0x4444UL << 16))
          == 0, "update_descriptor in the LDT");
    CHECK(load_fs(0x17) == 0x4444, "the new LDT entry is used");
    CHECK(load_fs(0x87) == ~0UL && last_vector == 13 && last_error == 0x84, "past the LDT's 16 entries: #GP(sel) (%lx)",
          last_error);
    CHECK(set_ldt(NULL, 0) == 0, "no LDT");
    CHECK(load_fs(0x0f) == ~0UL && last_vector == 13 && last_error == 0x0c, "no LDT: #GP(sel)");
    CHECK(map_page(ldt, prw) == 0, "the LDT page is free again");

    /* An LDT page the guest still maps writable: the load gets the #PF Xen passes back, at the LDT address. */
    CHECK(set_ldt(ldt, 16) == 0, "SET_LDT on a writable page");
    CHECK(load_fs(0x0f) == ~0UL && last_vector == 14 && last_cr2 == (uint64_t)ldt + 8, "#PF at %lx (vector %lu)",
          last_cr2, last_vector);
    /* A bad descriptor in it: refused the same way. */
    CHECK(map_page(ldt, pro) == 0, "read-only again");
    CHECK(HYPERVISOR_update_descriptor(((uint64_t)pv_virt_to_mfn(ldt) << 12) + 24, 0x0000890000000067UL) == -XEN_EINVAL,
          "no TSS through update_descriptor");
    CHECK(load_fs(0x0f) == 0x3333, "mapped on use");
    CHECK(set_ldt(NULL, 0) == 0, "LDT off");

    /* Replacing the GDT frees the old frame. */
    unsigned short zero = 0;
    __asm__ __volatile__("mov %0, %%fs" :: "r"(zero) : "memory");
    xen_ulong_t none[1] = { frames[0] };
    CHECK(HYPERVISOR_set_gdt(none, 0) == 0, "an empty GDT");
    CHECK(map_page(gdt, prw) == 0, "the old GDT frame can be written again");
}

/* ---- memory_op extents ---------------------------------------------------------------------------------------- */

static long reservation(unsigned int cmd, xen_pfn_t *list, unsigned int order, unsigned int flags)
{
    xen_memory_reservation_t r = { .nr_extents = 1, .extent_order = order, .mem_flags = flags, .domid = DOMID_SELF };
    set_xen_guest_handle(r.extent_start, list);
    return HYPERVISOR_memory_op(cmd, &r);
}

static void test_extents(void)
{
    long nr = pv_current_reservation();
    xen_pfn_t give[4];
    for (int k = 0; k < 4; k++)
        give[k] = pv_pfn_to_mfn(pv_start_info->nr_pages - 20 - k);
    CHECK(pv_memory_reservation(XENMEM_decrease_reservation, give, 4, 0) == 4, "give four frames back");
    xen_pfn_t ext[1] = { 0 };
    CHECK(reservation(XENMEM_increase_reservation, ext, 10, 0) == 0, "order 10 is above a domU's max_order");
    CHECK(reservation(XENMEM_increase_reservation, ext, 3, 0) == 0, "order 3 is past max_pages");
    CHECK(reservation(XENMEM_increase_reservation, ext, 0, XENMEMF_address_bits(12)) == 0, "address bits of one page");
    CHECK(reservation(XENMEM_increase_reservation, ext, 0, XENMEMF_exact_node(0)) == 0, "an exact node from a domU");
    xen_pfn_t pod[1] = { 0x5000 };
    CHECK(reservation(XENMEM_populate_physmap, pod, 0, XENMEMF_populate_on_demand) == 0, "populate-on-demand for PV");
    CHECK(pv_current_reservation() == nr - 4, "nothing was allocated by the refused calls");
    ext[0] = 0x6000;
    CHECK(reservation(XENMEM_populate_physmap, ext, 2, 0) == 1, "populate one extent of order 2");
    CHECK(ext[0] % 4 == 0, "naturally aligned (%lx)", ext[0]);
    int m2p_ok = 0;
    for (int j = 0; j < 4; j++)
        m2p_ok += machine_to_phys_mapping[ext[0] + j] == 0x6000UL + j;
    CHECK(m2p_ok == 4, "the M2P has each of its pfns");
    xen_pfn_t wmfn = pv_virt_to_mfn(window);
    CHECK(HYPERVISOR_update_va_mapping((unsigned long)window, pv_make_pte(ext[0] + 3, _PAGE_PRESENT | _PAGE_RW), UVMF_INVLPG) == 0
          && window[7] == 0, "its last frame is ours, and scrubbed");
    CHECK(HYPERVISOR_update_va_mapping((unsigned long)window, pv_make_pte(wmfn, _PAGE_PRESENT | _PAGE_RW), UVMF_INVLPG) == 0,
          "window back");
    CHECK(reservation(XENMEM_decrease_reservation, ext, 2, 0) == 1, "the extent goes back whole");
    CHECK(pv_current_reservation() == nr - 4, "four frames fewer again");
    xen_pfn_t again[4] = { 0 };
    CHECK(pv_memory_reservation(XENMEM_increase_reservation, again, 4, 0) == 4, "and four single frames back");
    CHECK(pv_current_reservation() == nr, "back to where it started");
}

/* ---- NMIs ---------------------------------------------------------------------------------------------------- */

static long nmi_callback(int cmd, unsigned long address)
{
    struct callback_register r = { .type = CALLBACKTYPE_nmi, .address = address };
    return HYPERVISOR_callback_op(cmd, &r);
}

static void test_nmi(void)
{
    CHECK(HYPERVISOR_vcpu_op(VCPUOP_send_nmi, 0, NULL) == 0, "send_nmi with no handler");
    CHECK(nmi_count == 0, "dropped");
    CHECK(nmi_callback(CALLBACKOP_register, 0x0000800000000000UL) == -XEN_EINVAL, "non-canonical NMI callback");
    CHECK(nmi_callback(CALLBACKOP_register, (unsigned long)nmi_entry) == 0, "register the NMI callback");
    CHECK(HYPERVISOR_vcpu_op(VCPUOP_send_nmi, 0, NULL) == 0, "send_nmi to ourselves");
    CHECK(nmi_count == 1, "the NMI arrived as the hypercall returned (%u)", nmi_count);
    CHECK(HYPERVISOR_vcpu_op(VCPUOP_send_nmi, 0, NULL) == 0 && nmi_count == 2, "and again after its iret (%u)", nmi_count);
    CHECK(HYPERVISOR_vcpu_op(VCPUOP_send_nmi, 0, window) == -XEN_EINVAL, "send_nmi takes no argument");
    CHECK(HYPERVISOR_vcpu_op(VCPUOP_send_nmi, 5, NULL) == -XEN_ENOENT, "send_nmi to a vCPU that does not exist");
    CHECK(nmi_callback(CALLBACKOP_unregister, 0) == 0, "unregister it");
    CHECK(HYPERVISOR_vcpu_op(VCPUOP_send_nmi, 0, NULL) == 0 && nmi_count == 2, "dropped again");
    struct callback_unregister u = { .type = CALLBACKTYPE_event };
    CHECK(HYPERVISOR_callback_op(CALLBACKOP_unregister, &u) == -XEN_EINVAL, "the event callback cannot be unregistered");
    CHECK(nmi_callback(CALLBACKOP_register + 7, 0) == -XEN_ENOSYS, "unknown callback_op");
}

/* ---- the hypervisor's range --------------------------------------------------------------------------------- */

static void call_at(unsigned long target)
{
    return_from_jump = 1;
    __asm__ __volatile__("call *%0" :: "r"(target) : "rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11", "memory");
    return_from_jump = 0;
}

static void test_hypervisor_range(void)
{
    static const unsigned long targets[] = {
        0xffff800000000000UL,   /* the read-only M2P: mapped, but not executable */
        0xffff830000000000UL,   /* Xen's direct map */
        0xffff87ffffffffc0UL,   /* the last of Xen's range */
    };
    for (unsigned int i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
        reset(0);
        call_at(targets[i]);
        CHECK(traps_taken == 1 && last_vector == 14, "jump to %lx: #PF (vector %lu)", targets[i], last_vector);
        CHECK(last_cr2 == targets[i] && last_rip == targets[i], "cr2 %lx, rip %lx", last_cr2, last_rip);
        /* The fetch ran in ring 3, but Xen re-sets error_code.user from the guest's mode: kernel, so clear. */
        CHECK((last_error & 0x14) == 0x10, "an instruction fetch from guest kernel mode (error %lx)", last_error);
    }
    reset(0);
    unsigned long xen = 0xffff830000001000UL;
    skip = 3;
    __asm__ __volatile__("movq (%%rdx), %%rax" :: "d"(xen) : "rax", "memory");
    CHECK(traps_taken == 1 && last_vector == 14 && last_cr2 == xen, "a read of Xen's range is #PF");
    reset(3);
    __asm__ __volatile__("movq %%rax, (%%rdx)" :: "a"(0UL), "d"(machine_to_phys_mapping) : "memory");
    CHECK(traps_taken == 1 && last_vector == 14 && (last_error & 3) == 3, "a write to the M2P is a protection #PF (%lx)", last_error);
}

int pv_main(start_info_t *si)
{
    (void)si;
    if (HYPERVISOR_set_trap_table(trap_table) != 0)
        pv_panic("abi: set_trap_table failed");
    test_multicall();
    test_vm_assist_and_features();
    test_physdev();
    test_descriptors();
    test_nmi();
    test_extents();
    test_hypervisor_range();
    pv_printf("abi: %d/%d checks passed\n", passed, total);
    evtchn_port_t idle;
    if (pv_evtchn_bind_virq(VIRQ_DEBUG, 0, &idle) != 0)
        return 1;
    for (;;)
        pv_evtchn_wait(idle, 0);
}
