/*
 * paravirt/mmu.h - the PV MMU: mmu_update, mmuext_op, update_va_mapping.
 *
 * A 64-bit PV guest runs on page tables it builds itself but may not write
 * directly: every page-table page is typed (L1..L4) by the hypervisor and
 * mapped read-only, and entries change through these hypercalls, which
 * validate each new entry (only frames the domain owns or was granted, no
 * writable mapping of a page-table or descriptor page, no reserved bits,
 * L4 slots 256..271 belong to the hypervisor).
 *
 * The command numbers and the mmu_update / mmuext_op structures live in
 * xen.h, as in Xen's public/xen.h; this header adds the PTE bits, the
 * layout of the four levels and typed wrappers for every command.
 */
#ifndef PARAVIRT_MMU_H
#define PARAVIRT_MMU_H

#include "abi.h"
#include "xen.h"
#include "hypercall.h"

/* ---- x86-64 4-level paging (4 KiB pages, 512 entries per table). */
#define PV_PTE_SIZE            8
#define L1_PAGETABLE_SHIFT     12
#define L2_PAGETABLE_SHIFT     21
#define L3_PAGETABLE_SHIFT     30
#define L4_PAGETABLE_SHIFT     39
#define L1_PAGETABLE_ENTRIES   512
#define L2_PAGETABLE_ENTRIES   512
#define L3_PAGETABLE_ENTRIES   512
#define L4_PAGETABLE_ENTRIES   512

#define l1_table_offset(va) (((unsigned long)(va) >> L1_PAGETABLE_SHIFT) & 511)
#define l2_table_offset(va) (((unsigned long)(va) >> L2_PAGETABLE_SHIFT) & 511)
#define l3_table_offset(va) (((unsigned long)(va) >> L3_PAGETABLE_SHIFT) & 511)
#define l4_table_offset(va) (((unsigned long)(va) >> L4_PAGETABLE_SHIFT) & 511)

/* ---- Page-table entry bits (Intel SDM vol. 3, 4.5; Xen's page.h). */
#define _PAGE_PRESENT  PV_ULONG(0x001)
#define _PAGE_RW       PV_ULONG(0x002)
#define _PAGE_USER     PV_ULONG(0x004)
#define _PAGE_PWT      PV_ULONG(0x008)
#define _PAGE_PCD      PV_ULONG(0x010)
#define _PAGE_ACCESSED PV_ULONG(0x020)
#define _PAGE_DIRTY    PV_ULONG(0x040)
#define _PAGE_PAT      PV_ULONG(0x080)  /* in an L1 entry */
#define _PAGE_PSE      PV_ULONG(0x080)  /* in an L2/L3 entry: superpage */
#define _PAGE_GLOBAL   PV_ULONG(0x100)
#define _PAGE_AVAIL0   PV_ULONG(0x200)
#define _PAGE_AVAIL1   PV_ULONG(0x400)
#define _PAGE_AVAIL2   PV_ULONG(0x800)
#define _PAGE_AVAIL    PV_ULONG(0xE00)
#define _PAGE_NX       (PV_ULONG(1) << 63)
/* Bits 12..51 carry the machine frame number. */
#define PV_PTE_MFN_MASK PV_ULONG(0x000FFFFFFFFFF000)
#define pv_pte_mfn(pte) (((uint64_t)(pte) & PV_PTE_MFN_MASK) >> 12)
#define pv_make_pte(mfn, flags) (((uint64_t)(mfn) << 12) | (uint64_t)(flags))

/*
 * L4 slots the hypervisor owns (HYPERVISOR_VIRT_START..HYPERVISOR_VIRT_END,
 * see arch-x86_64.h): the guest may not change them; the hypervisor fills
 * them in every L4 it validates (the read-only M2P lives in slot 256).
 */
#define PV_L4_FIRST_XEN_SLOT 256
#define PV_L4_LAST_XEN_SLOT  271

/* mmu_update: the command is in ptr[1:0], the PTE's machine address above. */
#define MMU_UPDATE_CMD_MASK PV_ULONG(3)

/* mmuext_op vcpumask handle for TLB_FLUSH_MULTI / INVLPG_MULTI. */
#define MMUEXT_FLUSH_MULTI_MAX_VCPUS 64

/* UVMF_* flags (xen.h): the low 2 bits pick the flush; UVMF_MULTI
 * is or-ed with a pointer to a vCPU bitmap (the pointer is in the flags). */

#ifndef __ASSEMBLY__

PV_ABI_OFFSET(struct mmu_update, ptr, 0);
PV_ABI_OFFSET(struct mmu_update, val, 8);
PV_ABI_OFFSET(struct mmuext_op, cmd, 0);
PV_ABI_OFFSET(struct mmuext_op, arg1.mfn, 8);
PV_ABI_OFFSET(struct mmuext_op, arg1.linear_addr, 8);
PV_ABI_OFFSET(struct mmuext_op, arg2.nr_ents, 16);
PV_ABI_OFFSET(struct mmuext_op, arg2.vcpumask, 16);
PV_ABI_OFFSET(struct mmuext_op, arg2.src_mfn, 16);

typedef uint64_t pv_pte_t;

/* One page-table entry update at machine address 'pte_maddr'. */
static inline mmu_update_t pv_mmu_pt_update(uint64_t pte_maddr, uint64_t val)
{ mmu_update_t u = { pte_maddr | MMU_NORMAL_PT_UPDATE, val }; return u; }

/* M2P update: machine frame 'mfn' now backs pseudo-physical frame 'pfn'. */
static inline mmu_update_t pv_mmu_machphys_update(xen_pfn_t mfn, xen_pfn_t pfn)
{ mmu_update_t u = { ((uint64_t)mfn << 12) | MMU_MACHPHYS_UPDATE, pfn }; return u; }

/* ---- Wrappers (HYPERVISOR_mmu_update / _mmuext_op are in hypercall.h). */

static inline long HYPERVISOR_update_va_mapping_otherdomain(unsigned long va, uint64_t pte,
                                                            unsigned long flags, domid_t domid)
{ return _pv_hypercall4(__HYPERVISOR_update_va_mapping_otherdomain, va, pte, flags, domid); }

static inline long pv_mmuext_one(mmuext_op_t *op)
{ return HYPERVISOR_mmuext_op(op, 1, NULL, DOMID_SELF); }

/* Pin a page-table page at 'level' (1..4): it stays typed until unpinned. */
static inline long pv_pin_table(int level, xen_pfn_t mfn)
{
    mmuext_op_t op = { .cmd = MMUEXT_PIN_L1_TABLE + (unsigned int)(level - 1) };
    op.arg1.mfn = mfn;
    return pv_mmuext_one(&op);
}

static inline long pv_unpin_table(xen_pfn_t mfn)
{
    mmuext_op_t op = { .cmd = MMUEXT_UNPIN_TABLE };
    op.arg1.mfn = mfn;
    return pv_mmuext_one(&op);
}

/* Switch the kernel page-table base (cr3) to the L4 at 'mfn'. */
static inline long pv_new_baseptr(xen_pfn_t mfn)
{
    mmuext_op_t op = { .cmd = MMUEXT_NEW_BASEPTR };
    op.arg1.mfn = mfn;
    return pv_mmuext_one(&op);
}

/* Page-table base used while the guest runs in user mode (0 = none). */
static inline long pv_new_user_baseptr(xen_pfn_t mfn)
{
    mmuext_op_t op = { .cmd = MMUEXT_NEW_USER_BASEPTR };
    op.arg1.mfn = mfn;
    return pv_mmuext_one(&op);
}

static inline long pv_tlb_flush_local(void)
{
    mmuext_op_t op = { .cmd = MMUEXT_TLB_FLUSH_LOCAL };
    return pv_mmuext_one(&op);
}

static inline long pv_tlb_flush_all(void)
{
    mmuext_op_t op = { .cmd = MMUEXT_TLB_FLUSH_ALL };
    return pv_mmuext_one(&op);
}

/* 'mask' is a bitmap of vCPU ids (one unsigned long covers vCPUs 0..63). */
static inline long pv_tlb_flush_multi(const unsigned long *mask)
{
    mmuext_op_t op = { .cmd = MMUEXT_TLB_FLUSH_MULTI };
    op.arg2.vcpumask = mask;
    return pv_mmuext_one(&op);
}

static inline long pv_invlpg_local(unsigned long va)
{
    mmuext_op_t op = { .cmd = MMUEXT_INVLPG_LOCAL };
    op.arg1.linear_addr = va;
    return pv_mmuext_one(&op);
}

static inline long pv_invlpg_all(unsigned long va)
{
    mmuext_op_t op = { .cmd = MMUEXT_INVLPG_ALL };
    op.arg1.linear_addr = va;
    return pv_mmuext_one(&op);
}

static inline long pv_invlpg_multi(unsigned long va, const unsigned long *mask)
{
    mmuext_op_t op = { .cmd = MMUEXT_INVLPG_MULTI };
    op.arg1.linear_addr = va;
    op.arg2.vcpumask = mask;
    return pv_mmuext_one(&op);
}

static inline long pv_clear_page(xen_pfn_t mfn)
{
    mmuext_op_t op = { .cmd = MMUEXT_CLEAR_PAGE };
    op.arg1.mfn = mfn;
    return pv_mmuext_one(&op);
}

static inline long pv_copy_page(xen_pfn_t dst_mfn, xen_pfn_t src_mfn)
{
    mmuext_op_t op = { .cmd = MMUEXT_COPY_PAGE };
    op.arg1.mfn = dst_mfn;
    op.arg2.src_mfn = src_mfn;
    return pv_mmuext_one(&op);
}

/* LDT at page-aligned virtual address 'va' with 'nr_ents' 8-byte entries. */
static inline long pv_set_ldt(unsigned long va, unsigned int nr_ents)
{
    mmuext_op_t op = { .cmd = MMUEXT_SET_LDT };
    op.arg1.linear_addr = va;
    op.arg2.nr_ents = nr_ents;
    return pv_mmuext_one(&op);
}

#endif /* !__ASSEMBLY__ */

#endif /* PARAVIRT_MMU_H */
