/*
 * grant.c - granting pages to other domains through the v1 grant table
 * (grant_table.h, docs/misc/grant-tables.txt).
 *
 * GNTTABOP_setup_table returns the machine frames of the table; the guest
 * maps them (update_va_mapping over pages reserved here) and then edits
 * entries directly: domid and frame first, a write barrier, then flags,
 * because the hypervisor trusts the entry once flags say GTF_permit_access.
 * Ending access clears flags with a compare-and-swap that fails while the
 * hypervisor holds GTF_reading/GTF_writing (a mapping or copy in progress).
 */
#include <paravirt/pv.h>

#include "internal.h"

#define GNTTAB_MAX_FRAMES 4
#define NR_GRANTS (GNTTAB_MAX_FRAMES * GNTTAB_V1_ENTRIES_PER_FRAME)

/* Virtual pages the table frames are mapped over (their own frames are given up). */
static char gnttab_area[GNTTAB_MAX_FRAMES][PV_PAGE_SIZE] __attribute__((aligned(PV_PAGE_SIZE)));

static grant_entry_v1_t *gnttab;
static unsigned int gnttab_entries;
/* Free references, a stack of indexes; references below the reserved count are never handed out. */
static grant_ref_t free_refs[NR_GRANTS];
static unsigned int nr_free;

void pv_gnttab_attach(grant_entry_v1_t *table, unsigned int entries)
{
    gnttab = table;
    gnttab_entries = entries > NR_GRANTS ? NR_GRANTS : entries;
    nr_free = 0;
    for (grant_ref_t r = gnttab_entries; r-- > GNTTAB_NR_RESERVED_ENTRIES;)
        free_refs[nr_free++] = r;
}

long pv_gnttab_init(unsigned int nr_frames)
{
    if (nr_frames == 0 || nr_frames > GNTTAB_MAX_FRAMES)
        return -XEN_EINVAL;
    xen_pfn_t frames[GNTTAB_MAX_FRAMES];
    gnttab_setup_table_t setup = { .dom = DOMID_SELF, .nr_frames = nr_frames };
    set_xen_guest_handle(setup.frame_list, frames);
    long rc = HYPERVISOR_grant_table_op(GNTTABOP_setup_table, &setup, 1);
    if (rc != 0)
        return rc;
    if (setup.status != GNTST_okay)
        return setup.status == GNTST_bad_domain ? -XEN_ESRCH : -XEN_EINVAL;
    for (unsigned int i = 0; i < nr_frames; i++) {
        rc = pv_map_mfn(gnttab_area[i], frames[i], true);
        if (rc != 0)
            return rc;
    }
    pv_gnttab_attach((grant_entry_v1_t *)gnttab_area, nr_frames * GNTTAB_V1_ENTRIES_PER_FRAME);
    return 0;
}

long pv_grant_access(domid_t domid, xen_pfn_t mfn, bool readonly)
{
    if (gnttab == NULL)
        return -XEN_ENODEV;
    if (mfn > 0xffffffffUL)     /* v1 entries hold a 32-bit frame */
        return -XEN_EINVAL;
    if (nr_free == 0)
        return -XEN_ENOSPC;
    grant_ref_t ref = free_refs[--nr_free];
    grant_entry_v1_t *e = &gnttab[ref];
    e->domid = domid;
    e->frame = (uint32_t)mfn;
    pv_wmb();   /* domid and frame before the flags that validate them */
    PV_WRITE_ONCE(e->flags, (uint16_t)(GTF_permit_access | (readonly ? GTF_readonly : 0)));
    return (long)ref;
}

long pv_grant_end_access(grant_ref_t ref)
{
    if (gnttab == NULL)
        return -XEN_ENODEV;
    if (ref < GNTTAB_NR_RESERVED_ENTRIES || ref >= gnttab_entries)
        return -XEN_EINVAL;
    grant_entry_v1_t *e = &gnttab[ref];
    uint16_t flags = PV_READ_ONCE(e->flags);
    if ((flags & GTF_type_mask) != GTF_permit_access)
        return -XEN_EINVAL;     /* not an active grant of ours */
    do {
        if (flags & (GTF_reading | GTF_writing))
            return -XEN_EBUSY;
    } while (!__atomic_compare_exchange_n(&e->flags, &flags, 0, false,
                                          __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST));
    free_refs[nr_free++] = ref;
    return 0;
}
