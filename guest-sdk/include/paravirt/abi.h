/*
 * paravirt/abi.h - common plumbing for the Paravirt guest ABI headers.
 *
 * Every ABI header in this directory describes a structure or constant of
 * Xen's x86-64 PV guest interface.  The layouts must match Xen's public
 * headers byte for byte, so each structure carries _Static_assert checks on
 * its size and on the offsets a hypervisor or back-end reads.
 *
 * The headers are usable from assembly (.S files): gcc defines
 * __ASSEMBLER__ there, Xen's own headers test __ASSEMBLY__; accept both.
 */
#ifndef PARAVIRT_ABI_H
#define PARAVIRT_ABI_H

#if defined(__ASSEMBLER__) && !defined(__ASSEMBLY__)
#define __ASSEMBLY__ 1
#endif

#if !defined(__x86_64__)
#error "The Paravirt guest SDK targets the x86-64 PV ABI only"
#endif

#ifndef __ASSEMBLY__
#include <stddef.h>
#include <stdint.h>

/* Size and offset pins: a layout drift is a compile error, never a boot bug. */
#define PV_ABI_SIZE(type, size) \
    _Static_assert(sizeof(type) == (size), "ABI size of " #type)
#define PV_ABI_OFFSET(type, field, off) \
    _Static_assert(offsetof(type, field) == (off), "ABI offset of " #type "." #field)

/* Numeric constants that are unsigned long in C and plain numbers in asm. */
#define PV_ULONG(x) x##UL
#define PV_UINT(x)  x##U
#else
#define PV_ULONG(x) x
#define PV_UINT(x)  x
#endif

#endif /* PARAVIRT_ABI_H */
