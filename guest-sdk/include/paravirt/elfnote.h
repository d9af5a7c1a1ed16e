/*
 * paravirt/elfnote.h - ELF note types a PV kernel uses to describe itself
 * to the domain builder.  Facts from Xen's public/elfnote.h.
 *
 * Notes live in a PT_NOTE segment with owner name "Xen".  Numeric notes are
 * 4 or 8 bytes (this SDK always emits 8); string notes are NUL-terminated.
 */
#ifndef PARAVIRT_ELFNOTE_H
#define PARAVIRT_ELFNOTE_H

#define XEN_ELFNOTE_NAME "Xen"

#define XEN_ELFNOTE_INFO                0   /* string: NAME=VALUE */
#define XEN_ELFNOTE_ENTRY               1   /* numeric: virtual entry point */
#define XEN_ELFNOTE_HYPERCALL_PAGE      2   /* numeric: virtual address */
#define XEN_ELFNOTE_VIRT_BASE           3   /* numeric: where the image is mapped */
#define XEN_ELFNOTE_PADDR_OFFSET        4   /* numeric: virt = paddr + VIRT_BASE - this */
#define XEN_ELFNOTE_XEN_VERSION         5   /* string, e.g. "xen-3.0" */
#define XEN_ELFNOTE_GUEST_OS            6   /* string */
#define XEN_ELFNOTE_GUEST_VERSION       7   /* string */
#define XEN_ELFNOTE_LOADER              8   /* string: "generic" */
#define XEN_ELFNOTE_PAE_MODE            9   /* string, x86-32 only */
#define XEN_ELFNOTE_FEATURES           10   /* string: '|'-separated XENFEAT names, '!' = required */
#define XEN_ELFNOTE_BSD_SYMTAB         11   /* string: "yes"/"no" */
#define XEN_ELFNOTE_HV_START_LOW       12   /* numeric */
#define XEN_ELFNOTE_L1_MFN_VALID       13   /* numeric mask/value pairs */
#define XEN_ELFNOTE_SUSPEND_CANCEL     14   /* numeric */
#define XEN_ELFNOTE_INIT_P2M           15   /* numeric: where to put the p2m */
#define XEN_ELFNOTE_MOD_START_PFN      16   /* numeric */
#define XEN_ELFNOTE_SUPPORTED_FEATURES 17   /* numeric XENFEAT bitmap */
#define XEN_ELFNOTE_PHYS32_ENTRY       18   /* numeric: PVH 32-bit entry */
#define XEN_ELFNOTE_MAX XEN_ELFNOTE_PHYS32_ENTRY

#endif /* PARAVIRT_ELFNOTE_H */
