/*
 * paravirt/memory.h - HYPERVISOR_memory_op(cmd, arg): the domain's memory
 * reservation, its pseudo-physical map and the machine-to-physical table.
 *
 * Facts from Xen's public/memory.h (x86-64 layouts, pinned below) and
 * public/arch-x86/xen-x86_64.h (the M2P window).
 */
#ifndef PARAVIRT_MEMORY_H
#define PARAVIRT_MEMORY_H

#include "abi.h"
#include "xen.h"
#include "hypercall.h"

/* ---- Commands. */
#define XENMEM_increase_reservation   0   /* arg: xen_memory_reservation_t */
#define XENMEM_decrease_reservation   1   /* arg: xen_memory_reservation_t */
#define XENMEM_maximum_ram_page       2   /* arg: NULL; returns the highest MFN */
#define XENMEM_current_reservation    3   /* arg: domid_t *; returns pages */
#define XENMEM_maximum_reservation    4   /* arg: domid_t *; returns pages */
#define XENMEM_machphys_mfn_list      5   /* arg: xen_machphys_mfn_list_t */
#define XENMEM_populate_physmap       6   /* arg: xen_memory_reservation_t */
#define XENMEM_add_to_physmap         7   /* arg: xen_add_to_physmap_t */
#define XENMEM_memory_map             9   /* arg: xen_memory_map_t */
#define XENMEM_machine_memory_map    10   /* arg: xen_memory_map_t (privileged) */
#define XENMEM_exchange              11   /* arg: xen_memory_exchange_t */
#define XENMEM_machphys_mapping      12   /* arg: xen_machphys_mapping_t */
#define XENMEM_set_memory_map        13   /* arg: xen_foreign_memory_map_t */
#define XENMEM_maximum_gpfn          14   /* arg: domid_t * */
#define XENMEM_remove_from_physmap   15   /* arg: xen_remove_from_physmap_t */
#define XENMEM_add_to_physmap_batch  23
#define XENMEM_claim_pages           24
#define XENMEM_machphys_compat_mfn_list 25
#define XENMEM_get_vnumainfo         26
#define XENMEM_reserved_device_memory_map 27
#define XENMEM_acquire_resource      28

/*
 * The command word: low 6 bits are the command, the rest carries a
 * continuation point (the hypervisor restarts a preempted call with
 * cmd | (extents_done << MEMOP_EXTENT_SHIFT)).
 */
#define MEMOP_EXTENT_SHIFT 6
#define MEMOP_CMD_MASK     ((1 << MEMOP_EXTENT_SHIFT) - 1)

/* ---- xen_memory_reservation.mem_flags. */
#define XENMEMF_address_bits(x)     (x)
#define XENMEMF_get_address_bits(x) ((x) & 0xffu)
#define XENMEMF_node(x)             (((x) + 1) << 8)
#define XENMEMF_get_node(x)         ((((x) >> 8) - 1) & 0xffu)
#define XENMEMF_populate_on_demand  (1 << 16)
#define XENMEMF_exact_node_request  (1 << 17)
#define XENMEMF_exact_node(n)       (XENMEMF_node(n) | XENMEMF_exact_node_request)
#define XENMEMF_vnode               (1 << 18)

/* ---- xen_add_to_physmap.space. */
#define XENMAPSPACE_shared_info  0   /* the shared_info page */
#define XENMAPSPACE_grant_table  1   /* grant table frame idx */
#define XENMAPSPACE_gmfn         2   /* move a GMFN (idx) to gpfn */
#define XENMAPSPACE_gmfn_range   3
#define XENMAPSPACE_gmfn_foreign 4
#define XENMAPSPACE_dev_mmio     5
/* idx flag for XENMAPSPACE_grant_table: a v2 status frame. */
#define XENMAPIDX_grant_table_status 0x80000000U

/* ---- e820 entry types for XENMEM_memory_map. */
#define E820_RAM         1
#define E820_RESERVED    2
#define E820_ACPI        3
#define E820_NVS         4
#define E820_UNUSABLE    5

#ifndef __ASSEMBLY__

/* increase/decrease_reservation and populate_physmap. */
struct xen_memory_reservation {
    /*
     * increase: OUT the MFNs of the new extents (may be NULL);
     * decrease: IN the GMFNs (for PV: MFNs) to release;
     * populate: IN/OUT the GPFNs to populate, overwritten with the MFNs.
     */
    XEN_GUEST_HANDLE(xen_pfn_t) extent_start;
    xen_ulong_t  nr_extents;
    unsigned int extent_order;      /* each extent is 2^order pages */
    unsigned int mem_flags;         /* XENMEMF_* (was address_bits) */
    domid_t      domid;             /* DOMID_SELF unless privileged */
};
typedef struct xen_memory_reservation xen_memory_reservation_t;
PV_ABI_SIZE(struct xen_memory_reservation, 32);
PV_ABI_OFFSET(struct xen_memory_reservation, extent_start, 0);
PV_ABI_OFFSET(struct xen_memory_reservation, nr_extents, 8);
PV_ABI_OFFSET(struct xen_memory_reservation, extent_order, 16);
PV_ABI_OFFSET(struct xen_memory_reservation, mem_flags, 20);
PV_ABI_OFFSET(struct xen_memory_reservation, domid, 24);

struct xen_memory_exchange {
    struct xen_memory_reservation in;
    struct xen_memory_reservation out;
    xen_ulong_t nr_exchanged;       /* OUT (and IN: must start at 0) */
};
typedef struct xen_memory_exchange xen_memory_exchange_t;
PV_ABI_SIZE(struct xen_memory_exchange, 72);
PV_ABI_OFFSET(struct xen_memory_exchange, out, 32);
PV_ABI_OFFSET(struct xen_memory_exchange, nr_exchanged, 64);

/* XENMEM_machphys_mfn_list: the MFNs backing the M2P table, one per 2 MiB. */
struct xen_machphys_mfn_list {
    unsigned int max_extents;       /* IN: room in extent_start */
    XEN_GUEST_HANDLE(xen_pfn_t) extent_start;
    unsigned int nr_extents;        /* OUT */
};
typedef struct xen_machphys_mfn_list xen_machphys_mfn_list_t;
PV_ABI_SIZE(struct xen_machphys_mfn_list, 24);
PV_ABI_OFFSET(struct xen_machphys_mfn_list, extent_start, 8);
PV_ABI_OFFSET(struct xen_machphys_mfn_list, nr_extents, 16);

/* XENMEM_machphys_mapping: where the read-only M2P is and how far it goes. */
struct xen_machphys_mapping {
    xen_ulong_t v_start, v_end;     /* start and end virtual addresses */
    xen_ulong_t max_mfn;            /* highest MFN the table covers */
};
typedef struct xen_machphys_mapping xen_machphys_mapping_t;
PV_ABI_SIZE(struct xen_machphys_mapping, 24);
PV_ABI_OFFSET(struct xen_machphys_mapping, v_end, 8);
PV_ABI_OFFSET(struct xen_machphys_mapping, max_mfn, 16);

/* XENMEM_add_to_physmap: make a hypervisor or guest frame appear at gpfn. */
struct xen_add_to_physmap {
    domid_t      domid;             /* DOMID_SELF unless privileged */
    uint16_t     size;              /* XENMAPSPACE_gmfn_range only */
    unsigned int space;             /* XENMAPSPACE_* */
    xen_ulong_t  idx;               /* index within the space */
    xen_pfn_t    gpfn;              /* where it should appear */
};
typedef struct xen_add_to_physmap xen_add_to_physmap_t;
PV_ABI_SIZE(struct xen_add_to_physmap, 24);
PV_ABI_OFFSET(struct xen_add_to_physmap, size, 2);
PV_ABI_OFFSET(struct xen_add_to_physmap, space, 4);
PV_ABI_OFFSET(struct xen_add_to_physmap, idx, 8);
PV_ABI_OFFSET(struct xen_add_to_physmap, gpfn, 16);

struct xen_remove_from_physmap {
    domid_t   domid;
    xen_pfn_t gpfn;
};
typedef struct xen_remove_from_physmap xen_remove_from_physmap_t;
PV_ABI_SIZE(struct xen_remove_from_physmap, 16);
PV_ABI_OFFSET(struct xen_remove_from_physmap, gpfn, 8);

/* XENMEM_memory_map / machine_memory_map: an e820-style map. */
struct xen_memory_map {
    unsigned int nr_entries;        /* IN: room in buffer; OUT: entries written */
    XEN_GUEST_HANDLE(void) buffer;  /* struct e820entry[] */
};
typedef struct xen_memory_map xen_memory_map_t;
PV_ABI_SIZE(struct xen_memory_map, 16);
PV_ABI_OFFSET(struct xen_memory_map, buffer, 8);

struct xen_foreign_memory_map {
    domid_t domid;
    struct xen_memory_map map;
};
typedef struct xen_foreign_memory_map xen_foreign_memory_map_t;
PV_ABI_SIZE(struct xen_foreign_memory_map, 24);
PV_ABI_OFFSET(struct xen_foreign_memory_map, map, 8);

/* One BIOS e820 entry as the memory_map buffer holds them (packed, 20 bytes). */
struct e820entry {
    uint64_t addr;
    uint64_t size;
    uint32_t type;                  /* E820_* */
} __attribute__((packed));
PV_ABI_SIZE(struct e820entry, 20);
PV_ABI_OFFSET(struct e820entry, size, 8);
PV_ABI_OFFSET(struct e820entry, type, 16);

/* The read-only M2P: machine_to_phys_mapping[mfn] = pfn (arch-x86_64.h). */
#define machine_to_phys_mapping ((const unsigned long *)MACH2PHYS_VIRT_START)
#define PV_M2P_INVALID_ENTRY    (~0UL)

/* ---- Wrappers. */

static inline long pv_memory_reservation(unsigned int cmd, xen_pfn_t *extents,
                                         unsigned long nr, unsigned int order)
{
    xen_memory_reservation_t r = { .nr_extents = nr, .extent_order = order,
                                   .domid = DOMID_SELF };
    set_xen_guest_handle(r.extent_start, extents);
    return HYPERVISOR_memory_op(cmd, &r);
}

static inline long pv_current_reservation(void)
{
    domid_t self = DOMID_SELF;
    return HYPERVISOR_memory_op(XENMEM_current_reservation, &self);
}

static inline long pv_maximum_reservation(void)
{
    domid_t self = DOMID_SELF;
    return HYPERVISOR_memory_op(XENMEM_maximum_reservation, &self);
}

static inline long pv_maximum_ram_page(void)
{ return HYPERVISOR_memory_op(XENMEM_maximum_ram_page, NULL); }

#endif /* !__ASSEMBLY__ */

#endif /* PARAVIRT_MEMORY_H */
