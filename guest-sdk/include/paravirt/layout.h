/*
 * paravirt/layout.h - where an SDK-built kernel lives in the guest address
 * space.  Shared by the linker script, the boot assembly and C code.
 *
 * Like Linux x86-64 the image is linked at 0xffffffff80000000 (the top
 * 2 GiB, reachable with -mcmodel=kernel) and announced to the builder with
 * XEN_ELFNOTE_VIRT_BASE.  ELF physical addresses are VIRT_BASE-relative
 * (paddr 0 = first page of the image) and XEN_ELFNOTE_PADDR_OFFSET is 0, so
 * a loader computes virt = paddr + VIRT_BASE - PADDR_OFFSET = the link
 * address.  The builder maps pseudo-physical frame N at VIRT_BASE + N*4096
 * for the whole bootstrap region; everything below VIRT_BASE, including
 * address 0, is unmapped.
 */
#ifndef PARAVIRT_LAYOUT_H
#define PARAVIRT_LAYOUT_H

#define PV_VIRT_BASE     0xffffffff80000000
#define PV_PADDR_OFFSET  0
#define PV_PAGE_SHIFT    12
#define PV_PAGE_SIZE     4096
#define PV_BOOT_STACK_SIZE (16 * 1024)

#endif /* PARAVIRT_LAYOUT_H */
