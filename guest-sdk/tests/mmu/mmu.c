/*
 * mmu - guest-side test kernel for the PV MMU and memory_op, run through the
 * real stack: validated page-table updates (mmu_update, update_va_mapping),
 * pinning and base pointers (mmuext_op), the read-only M2P and memory
 * reservations, each with the errno Xen gives for what is refused.  Every
 * failed check prints one line; the last line is
 * "mmu: <passed>/<total> checks passed".
 */
#include <paravirt/pv.h>
#include <paravirt/mmu.h>
#include <paravirt/memory.h>

static int passed, total;

#define CHECK(cond, ...) do {                                   \
        total++;                                                \
        if (cond) passed++;                                     \
        else { pv_printf("FAIL line %d: ", __LINE__);           \
               pv_printf(__VA_ARGS__); pv_printf("\n"); }       \
    } while (0)

/* A page whose mapping the tests move around, and its own frame. */
static char window[PV_PAGE_SIZE] __attribute__((aligned(PV_PAGE_SIZE)));
static xen_pfn_t window_mfn;

static uint64_t *table_va(uint64_t entry)
{
    return (uint64_t *)pv_mfn_to_virt(pv_pte_mfn(entry));
}

/* Machine address of the entry at 'level' (1 = L1) that maps va in the boot tables. */
static uint64_t entry_maddr(unsigned long va, int level)
{
    uint64_t *t = (uint64_t *)pv_start_info->pt_base;
    xen_pfn_t mfn = pv_virt_to_mfn(t);
    for (int l = 4; l > level; l--) {
        uint64_t e = t[(va >> (12 + 9 * (l - 1))) & 511];
        mfn = pv_pte_mfn(e);
        t = table_va(e);
    }
    return ((uint64_t)mfn << 12) + ((va >> (12 + 9 * (level - 1))) & 511) * 8;
}

static long pt_update(uint64_t maddr, uint64_t val)
{
    mmu_update_t u = pv_mmu_pt_update(maddr, val);
    return HYPERVISOR_mmu_update(&u, 1, NULL, DOMID_SELF);
}

static long map_window(xen_pfn_t mfn, uint64_t flags)
{
    return HYPERVISOR_update_va_mapping((unsigned long)window, pv_make_pte(mfn, flags), UVMF_INVLPG);
}

static void restore_window(void)
{
    if (map_window(window_mfn, _PAGE_PRESENT | _PAGE_RW) != 0)
        pv_panic("cannot restore the test window");
}

static xen_pfn_t spare(unsigned long k)
{
    return pv_pfn_to_mfn(pv_start_info->nr_pages - 1 - k);
}

static long mmuext1(unsigned int cmd, unsigned long arg1, unsigned long arg2)
{
    mmuext_op_t op = { .cmd = cmd };
    op.arg1.mfn = arg1;
    op.arg2.src_mfn = arg2;
    return HYPERVISOR_mmuext_op(&op, 1, NULL, DOMID_SELF);
}

static void test_m2p(void)
{
    xen_machphys_mapping_t m;
    CHECK(HYPERVISOR_memory_op(XENMEM_machphys_mapping, &m) == 0, "machphys_mapping");
    CHECK(m.v_start == MACH2PHYS_VIRT_START && m.v_end == MACH2PHYS_VIRT_END, "M2P window %lx-%lx", m.v_start, m.v_end);
    xen_pfn_t mfn5 = pv_pfn_to_mfn(5);
    CHECK(machine_to_phys_mapping[mfn5] == 5, "M2P[mfn of pfn 5] = %lx", machine_to_phys_mapping[mfn5]);
    unsigned long window_pfn = ((unsigned long)window - PV_VIRT_BASE) >> PV_PAGE_SHIFT;
    CHECK(machine_to_phys_mapping[window_mfn] == window_pfn, "M2P of the window frame");

    mmu_update_t u = pv_mmu_machphys_update(spare(3), 0x777);
    CHECK(HYPERVISOR_mmu_update(&u, 1, NULL, DOMID_SELF) == 0, "MMU_MACHPHYS_UPDATE");
    CHECK(machine_to_phys_mapping[spare(3)] == 0x777, "M2P shows the update");

    xen_pfn_t extents[4];
    xen_machphys_mfn_list_t l = { .max_extents = 4 };
    set_xen_guest_handle(l.extent_start, extents);
    CHECK(HYPERVISOR_memory_op(XENMEM_machphys_mfn_list, &l) == 0 && l.nr_extents >= 1, "machphys_mfn_list");
    /* The M2P's own frames belong to the hypervisor. */
    CHECK(map_window(extents[0], _PAGE_PRESENT) == -XEN_EBUSY, "mapping an M2P frame");
}

static void test_mappings(void)
{
    unsigned long w = (unsigned long)window;
    CHECK(map_window(spare(0), _PAGE_PRESENT | _PAGE_RW) == 0, "map a spare frame");
    window[100] = 42;
    CHECK(window[100] == 42, "write through the new mapping");
    restore_window();
    CHECK(window[100] == 0, "the window shows its own (zero) frame again");

    xen_pfn_t l4 = pv_virt_to_mfn((void *)pv_start_info->pt_base);
    CHECK(map_window(l4, _PAGE_PRESENT | _PAGE_RW) == -XEN_EBUSY, "own L4 writable");
    CHECK(map_window(l4, _PAGE_PRESENT) == 0, "own L4 read-only");
    CHECK(((volatile uint64_t *)window)[511] != 0, "read the L4 through it");
    restore_window();

    long max = pv_maximum_ram_page();
    CHECK(max > 0, "maximum_ram_page");
    CHECK(map_window((xen_pfn_t)max + 16, _PAGE_PRESENT) == -XEN_EPERM, "frame beyond RAM");
    CHECK(map_window(spare(0), _PAGE_PRESENT | _PAGE_PCD) == -XEN_EINVAL, "cache-disable bit");
    CHECK(map_window(spare(0), _PAGE_PRESENT | _PAGE_PAT) == -XEN_EINVAL, "PAT bit");
    CHECK(HYPERVISOR_update_va_mapping(0x1000, pv_make_pte(spare(0), _PAGE_PRESENT), UVMF_INVLPG) == -XEN_EINVAL,
          "address with no L1");
    CHECK(HYPERVISOR_update_va_mapping_otherdomain(w, pv_make_pte(spare(0), _PAGE_PRESENT), 0, 0) == -XEN_EPERM,
          "otherdomain without privilege");

    /* mmu_update on the L1 entry itself, and a superpage in an L2 entry. */
    uint64_t pte = entry_maddr(w, 1);
    CHECK(pt_update(pte, pv_make_pte(spare(1), _PAGE_PRESENT | _PAGE_RW)) == 0, "mmu_update of the L1 entry");
    HYPERVISOR_mmuext_op(&(mmuext_op_t){ .cmd = MMUEXT_INVLPG_LOCAL, .arg1.linear_addr = w }, 1, NULL, DOMID_SELF);
    window[8] = 7;
    CHECK(window[8] == 7, "write through the mmu_update mapping");
    restore_window();
    uint64_t l2e = entry_maddr(w, 2);
    CHECK(pt_update(l2e + 8 * ((l2e & 0xfff) == 0xff8 ? -1 : 1), pv_make_pte(spare(2), _PAGE_PRESENT | _PAGE_RW | _PAGE_PSE))
          == -XEN_EINVAL, "2 MiB superpage");
    CHECK(pt_update(((uint64_t)l4 << 12) + 256 * 8, 0) == -XEN_EINVAL, "hypervisor L4 slot 256");
    CHECK(pt_update(((uint64_t)l4 << 12) + 271 * 8, 0) == -XEN_EINVAL, "hypervisor L4 slot 271");
    CHECK(pt_update(pte | 3, 0) == -XEN_ENOSYS, "unknown mmu_update command");

    /* A batch stops at the first failure; done counts the ones before. */
    mmu_update_t b[3] = { pv_mmu_pt_update(pte, pv_make_pte(spare(1), _PAGE_PRESENT)),
                          pv_mmu_pt_update(pte, pv_make_pte((xen_pfn_t)max + 16, _PAGE_PRESENT)),
                          pv_mmu_pt_update(pte, 0) };
    unsigned int done = 99;
    CHECK(HYPERVISOR_mmu_update(b, 3, &done, DOMID_SELF) == -XEN_EPERM && done == 1, "batch done = %u", done);
    restore_window();
}

static void test_pin_and_baseptr(void)
{
    xen_pfn_t l4 = pv_virt_to_mfn((void *)pv_start_info->pt_base);
    xen_pfn_t t = spare(4);
    CHECK(pv_clear_page(t) == 0, "clear_page");
    CHECK(pv_pin_table(1, t) == 0, "pin an empty L1");
    CHECK(pv_pin_table(1, t) == -XEN_EINVAL, "pin twice");
    CHECK(map_window(t, _PAGE_PRESENT | _PAGE_RW) == -XEN_EBUSY, "a pinned table is never writable");
    CHECK(pv_clear_page(t) == -XEN_EINVAL, "clear_page of a pinned table");
    CHECK(pv_unpin_table(t) == 0, "unpin");
    CHECK(pv_unpin_table(t) == -XEN_EINVAL, "unpin twice");
    CHECK(pv_pin_table(2, window_mfn) == -XEN_EINVAL, "pin a frame that is mapped writable");

    /* A second L4: copy the live one through the window, then switch to it and back. */
    xen_pfn_t n4 = spare(5);
    CHECK(map_window(n4, _PAGE_PRESENT | _PAGE_RW) == 0, "map the new L4 frame");
    const uint64_t *cur = (const uint64_t *)pv_start_info->pt_base;
    for (int i = 0; i < 512; i++)
        ((uint64_t *)window)[i] = cur[i];
    ((uint64_t *)window)[260] = pv_make_pte(spare(6), _PAGE_PRESENT | _PAGE_RW);  /* ignored: hypervisor slot */
    restore_window();
    CHECK(pv_new_baseptr(n4) == 0, "NEW_BASEPTR to a copy of the L4");
    CHECK(machine_to_phys_mapping[pv_pfn_to_mfn(5)] == 5, "the new L4 got the M2P slot");
    CHECK(pv_new_baseptr(l4) == 0, "NEW_BASEPTR back");
    CHECK(pv_new_baseptr(window_mfn) == -XEN_EINVAL, "NEW_BASEPTR to a writable frame");
    CHECK(pv_new_user_baseptr(n4) == 0, "NEW_USER_BASEPTR");
    CHECK(pv_new_user_baseptr(0) == 0, "NEW_USER_BASEPTR none");

    CHECK(pv_tlb_flush_local() == 0 && pv_tlb_flush_all() == 0, "TLB flushes");
    unsigned long mask = 1;
    CHECK(pv_tlb_flush_multi(&mask) == 0 && pv_invlpg_multi((unsigned long)window, &mask) == 0, "multi flushes");
    CHECK(pv_invlpg_local((unsigned long)window) == 0 && pv_invlpg_all((unsigned long)window) == 0, "invlpg");
    CHECK(mmuext1(MMUEXT_FLUSH_CACHE, 0, 0) == -XEN_EACCES, "FLUSH_CACHE without I/O");
    CHECK(mmuext1(MMUEXT_MARK_SUPER, spare(0), 0) == -XEN_EOPNOTSUPP, "MARK_SUPER");
    CHECK(mmuext1(99, 0, 0) == -XEN_ENOSYS, "unknown mmuext command");
    CHECK(pv_set_ldt((unsigned long)window + 8, 1) == -XEN_EINVAL, "misaligned LDT");
    CHECK(pv_set_ldt(0, 0) == 0, "no LDT");

    /* COPY_PAGE then look at the copy. */
    window[123] = 0x5a;
    CHECK(pv_copy_page(spare(7), window_mfn) == 0, "copy_page");
    CHECK(map_window(spare(7), _PAGE_PRESENT) == 0 && window[123] == 0x5a, "the copy has the byte");
    restore_window();
    CHECK(pv_copy_page(l4, spare(7)) == -XEN_EINVAL, "copy_page onto a page table");
}

static void test_reservations(void)
{
    unsigned long nr = pv_start_info->nr_pages;
    CHECK(pv_current_reservation() == (long)nr, "current_reservation %ld", pv_current_reservation());
    CHECK(pv_maximum_reservation() >= (long)nr, "maximum_reservation");
    xen_pfn_t give[2] = { spare(8), spare(9) };
    CHECK(pv_memory_reservation(XENMEM_decrease_reservation, give, 2, 0) == 2, "decrease_reservation");
    CHECK(pv_current_reservation() == (long)nr - 2, "two pages fewer");
    CHECK(map_window(give[0], _PAGE_PRESENT) == -XEN_EBUSY, "a freed frame is no longer ours");
    xen_pfn_t got[1] = { 0 };
    CHECK(pv_memory_reservation(XENMEM_increase_reservation, got, 1, 0) == 1 && got[0] != 0, "increase_reservation");
    xen_pfn_t pop[1] = { 0x4242 };
    CHECK(pv_memory_reservation(XENMEM_populate_physmap, pop, 1, 0) == 1, "populate_physmap");
    CHECK(machine_to_phys_mapping[pop[0]] == 0x4242, "populate_physmap fills the M2P");
    CHECK(pv_current_reservation() == (long)nr, "back to nr_pages");
    CHECK(pv_memory_reservation(XENMEM_increase_reservation, got, 1, 0) == 0, "not past max_pages");
    xen_pfn_t pt[1] = { pv_virt_to_mfn((void *)pv_start_info->pt_base) };
    CHECK(pv_memory_reservation(XENMEM_decrease_reservation, pt, 1, 0) == 0, "a page table is not given back");

    xen_memory_map_t map = { .nr_entries = 1 };
    struct e820entry e;
    set_xen_guest_handle(map.buffer, &e);
    CHECK(HYPERVISOR_memory_op(XENMEM_memory_map, &map) == -XEN_ENOSYS, "no memory map set");
    xen_add_to_physmap_t xatp = { .domid = DOMID_SELF, .space = XENMAPSPACE_shared_info, .idx = 0, .gpfn = 0x100 };
    CHECK(HYPERVISOR_memory_op(XENMEM_add_to_physmap, &xatp) == -XEN_EACCES, "add_to_physmap for PV");
    CHECK(HYPERVISOR_memory_op(63, NULL) == -XEN_ENOSYS, "unknown memory_op");
}

int pv_main(start_info_t *si)
{
    (void)si;
    window_mfn = pv_virt_to_mfn(window);
    test_m2p();
    test_mappings();
    test_pin_and_baseptr();
    test_reservations();
    pv_printf("mmu: %d/%d checks passed\n", passed, total);
    /* Stay up (the host checks the domain afterwards and destroys it): poll a VIRQ nobody raises. */
    evtchn_port_t idle;
    if (pv_evtchn_bind_virq(VIRQ_DEBUG, 0, &idle) != 0)
        return 1;
    for (;;)
        pv_evtchn_wait(idle, 0);
}
