/*
 * paravirt/arch-x86_64.h - the x86-64 specific part of the PV guest ABI.
 *
 * Facts from Xen's public/arch-x86/xen.h and public/arch-x86/xen-x86_64.h.
 *
 * Hypercall convention (64-bit PV): the guest calls into the hypercall page
 * at hypercall_page + nr * 32 with arguments in rdi, rsi, rdx, r10, r8, r9;
 * the result comes back in rax.  Argument registers may be clobbered (a Xen
 * debug build deliberately poisons the unused ones), as may rcx and r11
 * (the syscall instruction inside the stub uses them).
 */
#ifndef PARAVIRT_ARCH_X86_64_H
#define PARAVIRT_ARCH_X86_64_H

#include "abi.h"

/*
 * Flat segment selectors that live in Xen's reserved GDT area.  A 64-bit PV
 * kernel runs in ring 3, so kernel and user selectors are the same.
 */
#define FLAT_RING3_CS32 0xe023  /* GDT entry 260 */
#define FLAT_RING3_CS64 0xe033  /* GDT entry 261 */
#define FLAT_RING3_DS32 0xe02b  /* GDT entry 262 */
#define FLAT_RING3_DS64 0x0000  /* null selector */
#define FLAT_RING3_SS32 0xe02b
#define FLAT_RING3_SS64 0xe02b

#define FLAT_KERNEL_CS64 FLAT_RING3_CS64
#define FLAT_KERNEL_DS64 FLAT_RING3_DS64
#define FLAT_KERNEL_SS64 FLAT_RING3_SS64
#define FLAT_KERNEL_CS   FLAT_KERNEL_CS64
#define FLAT_KERNEL_DS   FLAT_KERNEL_DS64
#define FLAT_KERNEL_SS   FLAT_KERNEL_SS64
#define FLAT_USER_CS64   FLAT_RING3_CS64
#define FLAT_USER_DS64   FLAT_RING3_DS64
#define FLAT_USER_SS64   FLAT_RING3_SS64
#define FLAT_USER_CS     FLAT_USER_CS64
#define FLAT_USER_DS     FLAT_USER_DS64
#define FLAT_USER_SS     FLAT_USER_SS64

/* The GDT pages from this one on belong to Xen. */
#define FIRST_RESERVED_GDT_PAGE  14
#define FIRST_RESERVED_GDT_BYTE  (FIRST_RESERVED_GDT_PAGE * 4096)
#define FIRST_RESERVED_GDT_ENTRY (FIRST_RESERVED_GDT_BYTE / 8)

/* The hypervisor owns this slice of the canonical upper half. */
#define HYPERVISOR_VIRT_START PV_ULONG(0xFFFF800000000000)
#define HYPERVISOR_VIRT_END   PV_ULONG(0xFFFF880000000000)
/* Read-only machine-to-physical table, 8 bytes per machine frame. */
#define MACH2PHYS_VIRT_START  PV_ULONG(0xFFFF800000000000)
#define MACH2PHYS_VIRT_END    PV_ULONG(0xFFFF804000000000)
#define MACH2PHYS_NR_ENTRIES  ((MACH2PHYS_VIRT_END - MACH2PHYS_VIRT_START) >> 3)

/* HYPERVISOR_set_segment_base 'which' values. */
#define SEGBASE_FS          0
#define SEGBASE_GS_USER     1
#define SEGBASE_GS_KERNEL   2
#define SEGBASE_GS_USER_SEL 3

/* HYPERVISOR_iret: flags bit saying the frame came from a syscall. */
#define _VGCF_in_syscall 8
#define VGCF_in_syscall  (1 << _VGCF_in_syscall)

/* Legacy vcpu_info slots in shared_info. */
#define XEN_LEGACY_MAX_VCPUS 32
#define MAX_VIRT_CPUS        XEN_LEGACY_MAX_VCPUS

#ifndef __ASSEMBLY__

typedef unsigned long xen_pfn_t;   /* a (pseudo-)physical or machine frame */
typedef unsigned long xen_ulong_t;
typedef unsigned long xen_callback_t;

/*
 * Guest handles: on x86 a handle is a struct wrapping a pointer, so it is
 * 8 bytes and 8-aligned in every structure that carries one.
 */
#define __DEFINE_XEN_GUEST_HANDLE(name, type) \
    typedef struct { type *p; } __guest_handle_##name; \
    typedef struct { const type *p; } __guest_handle_const_##name
#define DEFINE_XEN_GUEST_HANDLE(name) __DEFINE_XEN_GUEST_HANDLE(name, name)
#define XEN_GUEST_HANDLE(name)        __guest_handle_##name
#define set_xen_guest_handle(hnd, val) do { (hnd).p = (val); } while (0)

/* Frame on the kernel stack consumed by HYPERVISOR_iret (top first). */
struct iret_context {
    uint64_t rax, r11, rcx, flags, rip, cs, rflags, rsp, ss;
};
PV_ABI_SIZE(struct iret_context, 72);

/* Register frame as Xen saves it (vcpu_guest_context.user_regs). */
struct cpu_user_regs {
    uint64_t r15, r14, r13, r12, rbp, rbx, r11, r10, r9, r8;
    uint64_t rax, rcx, rdx, rsi, rdi;
    uint32_t error_code;    /* private to Xen */
    uint32_t entry_vector;  /* private to Xen */
    uint64_t rip;
    uint16_t cs, _pad0[1];
    uint8_t  saved_upcall_mask;
    uint8_t  _pad1[3];
    uint64_t rflags;
    uint64_t rsp;
    uint16_t ss, _pad2[3];
    uint16_t es, _pad3[3];
    uint16_t ds, _pad4[3];
    uint16_t fs, _pad5[3];
    uint16_t gs, _pad6[3];
};
typedef struct cpu_user_regs cpu_user_regs_t;
PV_ABI_SIZE(struct cpu_user_regs, 200);
PV_ABI_OFFSET(struct cpu_user_regs, rax, 80);
PV_ABI_OFFSET(struct cpu_user_regs, rdi, 112);
PV_ABI_OFFSET(struct cpu_user_regs, error_code, 120);
PV_ABI_OFFSET(struct cpu_user_regs, rip, 128);
PV_ABI_OFFSET(struct cpu_user_regs, cs, 136);
PV_ABI_OFFSET(struct cpu_user_regs, saved_upcall_mask, 140);
PV_ABI_OFFSET(struct cpu_user_regs, rflags, 144);
PV_ABI_OFFSET(struct cpu_user_regs, rsp, 152);
PV_ABI_OFFSET(struct cpu_user_regs, ss, 160);
PV_ABI_OFFSET(struct cpu_user_regs, gs, 192);

#define xen_pfn_to_cr3(pfn) ((unsigned long)(pfn) << 12)
#define xen_cr3_to_pfn(cr3) ((unsigned long)(cr3) >> 12)

/* Per-vCPU architecture part of vcpu_info: cr2 of the last page fault. */
struct arch_vcpu_info {
    unsigned long cr2;
    unsigned long pad;      /* keeps sizeof(vcpu_info) == 64 */
};
typedef struct arch_vcpu_info arch_vcpu_info_t;
PV_ABI_SIZE(struct arch_vcpu_info, 16);
PV_ABI_OFFSET(struct arch_vcpu_info, cr2, 0);

/* Architecture part of shared_info (p2m anchors, NMI reason). */
struct arch_shared_info {
    unsigned long max_pfn;                  /* entries valid in the p2m */
    xen_pfn_t     pfn_to_mfn_frame_list_list;
    unsigned long nmi_reason;
    unsigned long p2m_cr3;                  /* valid when non-zero */
    unsigned long p2m_vaddr;
    unsigned long p2m_generation;
};
typedef struct arch_shared_info arch_shared_info_t;
PV_ABI_SIZE(struct arch_shared_info, 48);
PV_ABI_OFFSET(struct arch_shared_info, pfn_to_mfn_frame_list_list, 8);
PV_ABI_OFFSET(struct arch_shared_info, nmi_reason, 16);
PV_ABI_OFFSET(struct arch_shared_info, p2m_cr3, 24);
PV_ABI_OFFSET(struct arch_shared_info, p2m_generation, 40);

/*
 * Virtual IDT entry for HYPERVISOR_set_trap_table.  flags[1:0] is the DPL
 * allowed to raise the vector with int N; flags bit 2 set means "mask event
 * delivery on entry" (like an interrupt gate).  A zero-filled entry (address
 * 0) terminates the table.
 */
struct trap_info {
    uint8_t       vector;
    uint8_t       flags;
    uint16_t      cs;
    unsigned long address;
};
typedef struct trap_info trap_info_t;
PV_ABI_SIZE(struct trap_info, 16);
PV_ABI_OFFSET(struct trap_info, cs, 2);
PV_ABI_OFFSET(struct trap_info, address, 8);

#define TI_GET_DPL(ti)       ((ti)->flags & 3)
#define TI_GET_IF(ti)        ((ti)->flags & 4)
#define TI_SET_DPL(ti, dpl)  ((ti)->flags |= (uint8_t)(dpl))
#define TI_SET_IF(ti, on)    ((ti)->flags |= (uint8_t)((!!(on)) << 2))

#endif /* !__ASSEMBLY__ */

/*
 * Prefix that makes Xen emulate the following instruction (cpuid) so the
 * guest sees the hypervisor-filtered view: ud2; .ascii "xen".
 */
#ifdef __ASSEMBLY__
#define XEN_EMULATE_PREFIX .byte 0x0f,0x0b,0x78,0x65,0x6e ;
#define XEN_CPUID          XEN_EMULATE_PREFIX cpuid
#else
#define XEN_EMULATE_PREFIX ".byte 0x0f,0x0b,0x78,0x65,0x6e ; "
#define XEN_CPUID          XEN_EMULATE_PREFIX "cpuid"
#endif

#endif /* PARAVIRT_ARCH_X86_64_H */
