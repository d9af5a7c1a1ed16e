/*
 * paravirt/version.h - HYPERVISOR_xen_version(cmd, arg).
 * Facts from Xen's public/version.h.  All commands return 0 on success
 * except XENVER_version, which returns (major << 16) | minor.
 */
#ifndef PARAVIRT_VERSION_H
#define PARAVIRT_VERSION_H

#include "abi.h"
#include "xen.h"

#define XENVER_version             0   /* arg: NULL */
#define XENVER_extraversion        1   /* arg: xen_extraversion_t */
#define XENVER_compile_info        2   /* arg: xen_compile_info_t */
#define XENVER_capabilities        3   /* arg: xen_capabilities_info_t */
#define XENVER_changeset           4   /* arg: xen_changeset_info_t */
#define XENVER_platform_parameters 5   /* arg: xen_platform_parameters_t */
#define XENVER_get_features        6   /* arg: xen_feature_info_t */
#define XENVER_pagesize            7   /* arg: NULL; returns the page size */
#define XENVER_guest_handle        8   /* arg: xen_domain_handle_t */
#define XENVER_commandline         9   /* arg: xen_commandline_t */
#define XENVER_build_id           10   /* arg: xen_build_id_t */

#define XEN_VERSION_MAJOR(v) ((unsigned int)(v) >> 16)
#define XEN_VERSION_MINOR(v) ((unsigned int)(v) & 0xffffu)

#ifndef __ASSEMBLY__

typedef char xen_extraversion_t[16];
#define XEN_EXTRAVERSION_LEN (sizeof(xen_extraversion_t))

struct xen_compile_info {
    char compiler[64];
    char compile_by[16];
    char compile_domain[32];
    char compile_date[32];
};
typedef struct xen_compile_info xen_compile_info_t;
PV_ABI_SIZE(struct xen_compile_info, 144);
PV_ABI_OFFSET(struct xen_compile_info, compile_by, 64);
PV_ABI_OFFSET(struct xen_compile_info, compile_domain, 80);
PV_ABI_OFFSET(struct xen_compile_info, compile_date, 112);

typedef char xen_capabilities_info_t[1024];
#define XEN_CAPABILITIES_INFO_LEN (sizeof(xen_capabilities_info_t))

typedef char xen_changeset_info_t[64];
#define XEN_CHANGESET_INFO_LEN (sizeof(xen_changeset_info_t))

struct xen_platform_parameters {
    xen_ulong_t virt_start;     /* start of the hypervisor hole */
};
typedef struct xen_platform_parameters xen_platform_parameters_t;
PV_ABI_SIZE(struct xen_platform_parameters, 8);

struct xen_feature_info {
    unsigned int submap_idx;    /* IN: which 32-bit submap */
    uint32_t     submap;        /* OUT */
};
typedef struct xen_feature_info xen_feature_info_t;
PV_ABI_SIZE(struct xen_feature_info, 8);
PV_ABI_OFFSET(struct xen_feature_info, submap, 4);

typedef char xen_commandline_t[1024];

struct xen_build_id {
    uint32_t      len;          /* IN: buffer size, OUT: id length */
    unsigned char buf[];
};
typedef struct xen_build_id xen_build_id_t;
PV_ABI_SIZE(struct xen_build_id, 4);

#endif /* !__ASSEMBLY__ */

/* XENVER_get_features bits (public/features.h), submap 0. */
#define XENFEAT_writable_page_tables       0
#define XENFEAT_writable_descriptor_tables 1
#define XENFEAT_auto_translated_physmap    2
#define XENFEAT_supervisor_mode_kernel     3
#define XENFEAT_pae_pgdir_above_4gb        4
#define XENFEAT_mmu_pt_update_preserve_ad  5
#define XENFEAT_highmem_assist             6
#define XENFEAT_gnttab_map_avail_bits      7
#define XENFEAT_hvm_callback_vector        8
#define XENFEAT_hvm_safe_pvclock           9
#define XENFEAT_hvm_pirqs                 10
#define XENFEAT_dom0                      11
#define XENFEAT_direct_mapped             17
#define XENFEAT_NR_SUBMAPS 1

#endif /* PARAVIRT_VERSION_H */
