/*
 * paravirt/grant_table.h - HYPERVISOR_grant_table_op(cmd, uop, count) and
 * the version 1 grant table a domain shares with the hypervisor.
 *
 * Facts from Xen's public/grant_table.h and docs/misc/grant-tables.txt.
 *
 * A grant table is an array of grant entries in frames the hypervisor owns
 * and the granting domain maps (GNTTABOP_setup_table returns their frame
 * numbers).  To share a page the granter fills domid and frame, issues a
 * write barrier, then sets flags (GTF_permit_access [| GTF_readonly]); to
 * revoke it, it clears flags with a compare-and-swap that fails while the
 * hypervisor has GTF_reading/GTF_writing set (the page is still mapped).
 */
#ifndef PARAVIRT_GRANT_TABLE_H
#define PARAVIRT_GRANT_TABLE_H

#include "abi.h"
#include "xen.h"

/* ---- GNTTABOP_* commands. */
#define GNTTABOP_map_grant_ref        0
#define GNTTABOP_unmap_grant_ref      1
#define GNTTABOP_setup_table          2
#define GNTTABOP_dump_table           3
#define GNTTABOP_transfer             4
#define GNTTABOP_copy                 5
#define GNTTABOP_query_size           6
#define GNTTABOP_unmap_and_replace    7
#define GNTTABOP_set_version          8
#define GNTTABOP_get_status_frames    9
#define GNTTABOP_get_version         10
#define GNTTABOP_swap_grant_ref      11
#define GNTTABOP_cache_flush         12

/* ---- grant_entry_v1.flags: the type in bits 1:0, then sub-flags. */
#define GTF_invalid          0U           /* entry grants nothing */
#define GTF_permit_access    1U           /* domid may map/copy frame */
#define GTF_accept_transfer  2U           /* domid may transfer a frame to us */
#define GTF_transitive       3U           /* v2 only */
#define GTF_type_mask        3U
#define _GTF_readonly        2
#define GTF_readonly         (1U << _GTF_readonly)       /* grantee may only read */
#define _GTF_reading         3
#define GTF_reading          (1U << _GTF_reading)        /* set by Xen: mapped/copied for reading */
#define _GTF_writing         4
#define GTF_writing          (1U << _GTF_writing)        /* set by Xen: mapped/copied for writing */
#define _GTF_PWT             5
#define GTF_PWT              (1U << _GTF_PWT)
#define _GTF_PCD             6
#define GTF_PCD              (1U << _GTF_PCD)
#define _GTF_PAT             7
#define GTF_PAT              (1U << _GTF_PAT)
#define _GTF_sub_page        8
#define GTF_sub_page         (1U << _GTF_sub_page)       /* v2 only */
/* For GTF_accept_transfer entries: */
#define _GTF_transfer_committed 2
#define GTF_transfer_committed  (1U << _GTF_transfer_committed)
#define _GTF_transfer_completed 3
#define GTF_transfer_completed  (1U << _GTF_transfer_completed)

/* ---- gnttab_map_grant_ref.flags (GNTMAP_*). */
#define _GNTMAP_device_map      0
#define GNTMAP_device_map       (1U << _GNTMAP_device_map)
#define _GNTMAP_host_map        1
#define GNTMAP_host_map         (1U << _GNTMAP_host_map)
#define _GNTMAP_readonly        2
#define GNTMAP_readonly         (1U << _GNTMAP_readonly)
#define _GNTMAP_application_map 3
#define GNTMAP_application_map  (1U << _GNTMAP_application_map)
#define _GNTMAP_contains_pte    4
#define GNTMAP_contains_pte     (1U << _GNTMAP_contains_pte)
#define _GNTMAP_guest_avail0    16
#define GNTMAP_guest_avail_mask ((uint32_t)~0U << _GNTMAP_guest_avail0)

/* ---- gnttab_copy.flags. */
#define _GNTCOPY_source_gref 0
#define GNTCOPY_source_gref  (1U << _GNTCOPY_source_gref)
#define _GNTCOPY_dest_gref   1
#define GNTCOPY_dest_gref    (1U << _GNTCOPY_dest_gref)

/* ---- Per-operation status (the int16 'status' field of each op). */
#define GNTST_okay              (0)
#define GNTST_general_error     (-1)
#define GNTST_bad_domain        (-2)
#define GNTST_bad_gntref        (-3)
#define GNTST_bad_handle        (-4)
#define GNTST_bad_virt_addr     (-5)
#define GNTST_bad_dev_addr      (-6)
#define GNTST_no_device_space   (-7)
#define GNTST_permission_denied (-8)
#define GNTST_bad_page          (-9)
#define GNTST_bad_copy_arg      (-10)
#define GNTST_address_too_big   (-11)
#define GNTST_eagain            (-12)
#define GNTST_no_space          (-13)

/* The first entries are reserved for the toolstack (console and store rings). */
#define GNTTAB_NR_RESERVED_ENTRIES 8
#define GNTTAB_RESERVED_CONSOLE    0
#define GNTTAB_RESERVED_XENSTORE   1

/* cache_flush op bits. */
#define GNTTAB_CACHE_CLEAN      (1U << 0)
#define GNTTAB_CACHE_INVAL      (1U << 1)
#define GNTTAB_CACHE_SOURCE_GREF (1U << 31)

#ifndef __ASSEMBLY__

typedef uint32_t grant_ref_t;
typedef uint32_t grant_handle_t;

/* One v1 entry: 8 bytes, 512 per 4 KiB frame. */
struct grant_entry_v1 {
    uint16_t flags;     /* GTF_*; written last when granting */
    domid_t  domid;     /* the domain being granted access */
    uint32_t frame;     /* the frame granted (machine frame for PV) */
};
typedef struct grant_entry_v1 grant_entry_v1_t;
PV_ABI_SIZE(struct grant_entry_v1, 8);
PV_ABI_OFFSET(struct grant_entry_v1, flags, 0);
PV_ABI_OFFSET(struct grant_entry_v1, domid, 2);
PV_ABI_OFFSET(struct grant_entry_v1, frame, 4);

#define GNTTAB_V1_ENTRIES_PER_FRAME (4096 / sizeof(struct grant_entry_v1))

/* GNTTABOP_map_grant_ref: map <dom>'s grant <ref> at host_addr. */
struct gnttab_map_grant_ref {
    uint64_t       host_addr;       /* IN: virtual address (GNTMAP_host_map) */
    uint32_t       flags;           /* IN: GNTMAP_* */
    grant_ref_t    ref;             /* IN */
    domid_t        dom;             /* IN: the granting domain */
    int16_t        status;          /* OUT: GNTST_* */
    grant_handle_t handle;          /* OUT: for unmap */
    uint64_t       dev_bus_addr;    /* OUT (device maps) */
};
typedef struct gnttab_map_grant_ref gnttab_map_grant_ref_t;
PV_ABI_SIZE(struct gnttab_map_grant_ref, 32);
PV_ABI_OFFSET(struct gnttab_map_grant_ref, flags, 8);
PV_ABI_OFFSET(struct gnttab_map_grant_ref, ref, 12);
PV_ABI_OFFSET(struct gnttab_map_grant_ref, dom, 16);
PV_ABI_OFFSET(struct gnttab_map_grant_ref, status, 18);
PV_ABI_OFFSET(struct gnttab_map_grant_ref, handle, 20);
PV_ABI_OFFSET(struct gnttab_map_grant_ref, dev_bus_addr, 24);

/* GNTTABOP_unmap_grant_ref: undo a map by handle. */
struct gnttab_unmap_grant_ref {
    uint64_t       host_addr;       /* IN */
    uint64_t       dev_bus_addr;    /* IN */
    grant_handle_t handle;          /* IN */
    int16_t        status;          /* OUT */
};
typedef struct gnttab_unmap_grant_ref gnttab_unmap_grant_ref_t;
PV_ABI_SIZE(struct gnttab_unmap_grant_ref, 24);
PV_ABI_OFFSET(struct gnttab_unmap_grant_ref, dev_bus_addr, 8);
PV_ABI_OFFSET(struct gnttab_unmap_grant_ref, handle, 16);
PV_ABI_OFFSET(struct gnttab_unmap_grant_ref, status, 20);

/* GNTTABOP_setup_table: grow <dom>'s table to nr_frames and list its frames. */
struct gnttab_setup_table {
    domid_t  dom;                   /* IN: DOMID_SELF unless privileged */
    uint32_t nr_frames;             /* IN */
    int16_t  status;                /* OUT */
    XEN_GUEST_HANDLE(xen_pfn_t) frame_list;  /* OUT: nr_frames machine frames */
};
typedef struct gnttab_setup_table gnttab_setup_table_t;
PV_ABI_SIZE(struct gnttab_setup_table, 24);
PV_ABI_OFFSET(struct gnttab_setup_table, nr_frames, 4);
PV_ABI_OFFSET(struct gnttab_setup_table, status, 8);
PV_ABI_OFFSET(struct gnttab_setup_table, frame_list, 16);

/* GNTTABOP_dump_table: debugging output on the hypervisor console. */
struct gnttab_dump_table {
    domid_t dom;                    /* IN */
    int16_t status;                 /* OUT */
};
typedef struct gnttab_dump_table gnttab_dump_table_t;
PV_ABI_SIZE(struct gnttab_dump_table, 4);
PV_ABI_OFFSET(struct gnttab_dump_table, status, 2);

/* GNTTABOP_transfer: give page mfn to domid through its accept-transfer grant ref. */
struct gnttab_transfer {
    xen_pfn_t   mfn;                /* IN */
    domid_t     domid;              /* IN */
    grant_ref_t ref;                /* IN */
    int16_t     status;             /* OUT */
};
typedef struct gnttab_transfer gnttab_transfer_t;
PV_ABI_SIZE(struct gnttab_transfer, 24);
PV_ABI_OFFSET(struct gnttab_transfer, domid, 8);
PV_ABI_OFFSET(struct gnttab_transfer, ref, 12);
PV_ABI_OFFSET(struct gnttab_transfer, status, 16);

/*
 * GNTTABOP_copy: the hypervisor copies len bytes between two (frame,
 * offset) places, each named by a grant reference of 'domid' (flag
 * GNTCOPY_*_gref set) or by a frame of the caller (flag clear).  Neither
 * side may cross a page boundary.
 */
struct gnttab_copy_ptr {
    union {
        grant_ref_t ref;
        xen_pfn_t   gmfn;
    } u;
    domid_t  domid;
    uint16_t offset;
};
PV_ABI_SIZE(struct gnttab_copy_ptr, 16);
PV_ABI_OFFSET(struct gnttab_copy_ptr, domid, 8);
PV_ABI_OFFSET(struct gnttab_copy_ptr, offset, 10);

struct gnttab_copy {
    struct gnttab_copy_ptr source, dest;    /* IN */
    uint16_t len;                           /* IN */
    uint16_t flags;                         /* IN: GNTCOPY_* */
    int16_t  status;                        /* OUT */
};
typedef struct gnttab_copy gnttab_copy_t;
PV_ABI_SIZE(struct gnttab_copy, 40);
PV_ABI_OFFSET(struct gnttab_copy, dest, 16);
PV_ABI_OFFSET(struct gnttab_copy, len, 32);
PV_ABI_OFFSET(struct gnttab_copy, flags, 34);
PV_ABI_OFFSET(struct gnttab_copy, status, 36);

/* GNTTABOP_query_size: current and maximum table size of <dom>. */
struct gnttab_query_size {
    domid_t  dom;                   /* IN */
    uint32_t nr_frames;             /* OUT */
    uint32_t max_nr_frames;         /* OUT */
    int16_t  status;                /* OUT */
};
typedef struct gnttab_query_size gnttab_query_size_t;
PV_ABI_SIZE(struct gnttab_query_size, 16);
PV_ABI_OFFSET(struct gnttab_query_size, nr_frames, 4);
PV_ABI_OFFSET(struct gnttab_query_size, max_nr_frames, 8);
PV_ABI_OFFSET(struct gnttab_query_size, status, 12);

/* GNTTABOP_unmap_and_replace: unmap host_addr, putting new_addr's mapping in its place. */
struct gnttab_unmap_and_replace {
    uint64_t       host_addr;       /* IN */
    uint64_t       new_addr;        /* IN */
    grant_handle_t handle;          /* IN */
    int16_t        status;          /* OUT */
};
typedef struct gnttab_unmap_and_replace gnttab_unmap_and_replace_t;
PV_ABI_SIZE(struct gnttab_unmap_and_replace, 24);
PV_ABI_OFFSET(struct gnttab_unmap_and_replace, new_addr, 8);
PV_ABI_OFFSET(struct gnttab_unmap_and_replace, handle, 16);
PV_ABI_OFFSET(struct gnttab_unmap_and_replace, status, 20);

/* GNTTABOP_set_version / get_version. */
struct gnttab_set_version {
    uint32_t version;               /* IN: 1 or 2; OUT: the version in force */
};
typedef struct gnttab_set_version gnttab_set_version_t;
PV_ABI_SIZE(struct gnttab_set_version, 4);

struct gnttab_get_version {
    domid_t  dom;                   /* IN */
    uint16_t pad;
    uint32_t version;               /* OUT */
};
typedef struct gnttab_get_version gnttab_get_version_t;
PV_ABI_SIZE(struct gnttab_get_version, 8);
PV_ABI_OFFSET(struct gnttab_get_version, version, 4);

/* GNTTABOP_get_status_frames (v2 only). */
struct gnttab_get_status_frames {
    uint32_t nr_frames;             /* IN */
    domid_t  dom;                   /* IN */
    int16_t  status;                /* OUT */
    XEN_GUEST_HANDLE(uint64_t) frame_list;   /* OUT */
};
typedef struct gnttab_get_status_frames gnttab_get_status_frames_t;
PV_ABI_SIZE(struct gnttab_get_status_frames, 16);
PV_ABI_OFFSET(struct gnttab_get_status_frames, dom, 4);
PV_ABI_OFFSET(struct gnttab_get_status_frames, status, 6);
PV_ABI_OFFSET(struct gnttab_get_status_frames, frame_list, 8);

/* GNTTABOP_swap_grant_ref: exchange two entries of the caller's table. */
struct gnttab_swap_grant_ref {
    grant_ref_t ref_a;              /* IN */
    grant_ref_t ref_b;              /* IN */
    int16_t     status;             /* OUT */
};
typedef struct gnttab_swap_grant_ref gnttab_swap_grant_ref_t;
PV_ABI_SIZE(struct gnttab_swap_grant_ref, 12);
PV_ABI_OFFSET(struct gnttab_swap_grant_ref, status, 8);

/* GNTTABOP_cache_flush (x86 too: CLEAN writes back and invalidates; INVAL alone is -EOPNOTSUPP). */
struct gnttab_cache_flush {
    union {
        uint64_t dev_bus_addr;
        grant_ref_t ref;
    } a;
    uint16_t offset;
    uint16_t length;
    uint32_t op;                    /* GNTTAB_CACHE_* */
};
typedef struct gnttab_cache_flush gnttab_cache_flush_t;
PV_ABI_SIZE(struct gnttab_cache_flush, 16);
PV_ABI_OFFSET(struct gnttab_cache_flush, offset, 8);
PV_ABI_OFFSET(struct gnttab_cache_flush, length, 10);
PV_ABI_OFFSET(struct gnttab_cache_flush, op, 12);

#endif /* !__ASSEMBLY__ */

#endif /* PARAVIRT_GRANT_TABLE_H */
