/*
 * paravirt/traps.h - the 64-bit PV trap interface: the virtual IDT
 * (HYPERVISOR_set_trap_table), the bounce frame the hypervisor builds on the
 * guest kernel stack, HYPERVISOR_iret, and the descriptor-table, segment,
 * FPU and debug-register hypercalls.
 *
 * Facts from Xen's public/arch-x86/xen-x86_64.h, public/arch-x86/xen.h and
 * public/xen.h.  struct trap_info, TI_* and struct iret_context live in
 * arch-x86_64.h (where Xen's headers put them); this header pins their
 * layout once more and adds the rest.
 *
 * Bounce frame.  To deliver an exception, an event upcall or a callback the
 * hypervisor switches to guest kernel mode (from user mode: to the kernel
 * stack given by HYPERVISOR_stack_switch and the kernel page tables), aligns
 * the stack down to 16 bytes and pushes, lowest address first:
 *
 *     rcx, r11, [error code,] rip, cs, rflags, rsp, ss
 *
 * (the failsafe callback also gets ds, es, fs, gs between r11 and rip).  The
 * cs slot carries the vCPU's previous evtchn_upcall_mask in bits 32-39 and
 * RPL 0 when the interrupted context was guest kernel mode; rflags.IF is the
 * inverse of that saved mask.  The handler starts with rsp at the rcx slot.
 * A trap_info entry with TI_SET_IF masks event delivery on entry.  #PF puts
 * the faulting address in vcpu_info.arch.cr2.  If the frame cannot be
 * written the hypervisor crashes the domain.
 *
 * Returning: a handler pops rcx and r11 and leaves the iret frame (plus a
 * "flags" word) for HYPERVISOR_iret; see HYPERVISOR_IRET below.
 */
#ifndef PARAVIRT_TRAPS_H
#define PARAVIRT_TRAPS_H

#include "arch-x86_64.h"

/* trap_info.flags */
#define TI_DPL_MASK 3        /* lowest privilege allowed to "int n" (3 = user, 1 = kernel only) */
#define TI_IF       4        /* mask events (evtchn_upcall_mask) on entry */

/* vcpu_guest_context.flags bits (arch-x86/xen.h) used by the callbacks. */
#define _VGCF_i387_valid               0
#define VGCF_i387_valid                (1 << _VGCF_i387_valid)
#define _VGCF_in_kernel                2
#define VGCF_in_kernel                 (1 << _VGCF_in_kernel)
#define _VGCF_failsafe_disables_events 3
#define VGCF_failsafe_disables_events  (1 << _VGCF_failsafe_disables_events)
#define _VGCF_syscall_disables_events  4
#define VGCF_syscall_disables_events   (1 << _VGCF_syscall_disables_events)
#define _VGCF_online                   5
#define VGCF_online                    (1 << _VGCF_online)
/* VGCF_in_syscall (bit 8) is in arch-x86_64.h: the iret frame came from a syscall. */

/* Byte offsets in the bounce frame, for assembly handlers. */
#define BOUNCE_RCX    0
#define BOUNCE_R11    8
#define BOUNCE_RIP    16      /* without an error code */
#define BOUNCE_ERROR  16      /* with an error code; rip follows at 24 */

/* Offsets in struct iret_context, for assembly. */
#define IRET_RAX    0
#define IRET_R11    8
#define IRET_RCX    16
#define IRET_FLAGS  24
#define IRET_RIP    32
#define IRET_CS     40
#define IRET_RFLAGS 48
#define IRET_RSP    56
#define IRET_SS     64
#define IRET_CONTEXT_SIZE 72

/* HYPERVISOR_set_debugreg / get_debugreg register numbers. */
#define DR0 0
#define DR1 1
#define DR2 2
#define DR3 3
#define DR6 6
#define DR7 7

/*
 * Descriptor-table limits: a guest GDT has at most FIRST_RESERVED_GDT_ENTRY
 * (7168) entries, 512 per frame, so at most 14 frames; the entries above
 * belong to the hypervisor (the FLAT_* selectors).
 */
#define GDT_ENTRIES_PER_FRAME 512
#define MAX_GUEST_GDT_FRAMES  (FIRST_RESERVED_GDT_ENTRY / GDT_ENTRIES_PER_FRAME)

#ifndef __ASSEMBLY__

PV_ABI_OFFSET(struct iret_context, rax, IRET_RAX);
PV_ABI_OFFSET(struct iret_context, r11, IRET_R11);
PV_ABI_OFFSET(struct iret_context, rcx, IRET_RCX);
PV_ABI_OFFSET(struct iret_context, flags, IRET_FLAGS);
PV_ABI_OFFSET(struct iret_context, rip, IRET_RIP);
PV_ABI_OFFSET(struct iret_context, cs, IRET_CS);
PV_ABI_OFFSET(struct iret_context, rflags, IRET_RFLAGS);
PV_ABI_OFFSET(struct iret_context, rsp, IRET_RSP);
PV_ABI_OFFSET(struct iret_context, ss, IRET_SS);
PV_ABI_SIZE(struct iret_context, IRET_CONTEXT_SIZE);
PV_ABI_OFFSET(struct trap_info, vector, 0);
PV_ABI_OFFSET(struct trap_info, flags, 1);

/* An 8-byte GDT/LDT descriptor as HYPERVISOR_update_descriptor takes it. */
typedef uint64_t seg_desc_raw_t;

#include "hypercall.h"

/* Install a GDT: frame_list[] holds machine frames, entries <= 7168. */
static inline long HYPERVISOR_set_gdt(const xen_ulong_t *frame_list, unsigned int entries)
{ return _pv_hypercall2(__HYPERVISOR_set_gdt, frame_list, entries); }

/* Write one descriptor at machine address ma (8-aligned) of a GDT/LDT page. */
static inline long HYPERVISOR_update_descriptor(uint64_t ma, uint64_t desc)
{ return _pv_hypercall2(__HYPERVISOR_update_descriptor, ma, desc); }

/* set != 0: set CR0.TS (the next FPU use traps #NM); 0: clear it. */
static inline long HYPERVISOR_fpu_taskswitch(int set)
{ return _pv_hypercall1(__HYPERVISOR_fpu_taskswitch, set); }

static inline long HYPERVISOR_set_debugreg(int reg, unsigned long value)
{ return _pv_hypercall2(__HYPERVISOR_set_debugreg, reg, value); }

/* Returns the register's value (a large value is not an error code). */
static inline unsigned long HYPERVISOR_get_debugreg(int reg)
{ return (unsigned long)_pv_hypercall1(__HYPERVISOR_get_debugreg, reg); }

static inline long HYPERVISOR_nmi_op(unsigned int cmd, void *arg)
{ return _pv_hypercall2(__HYPERVISOR_nmi_op, cmd, arg); }

/*
 * HYPERVISOR_iret does not return: the caller jumps (not calls) to its stub
 * with rsp at the "flags" word of an iret_context whose rax, r11, rcx the
 * stub pushes.  HYPERVISOR_IRET takes a pointer to the flags word of a frame
 * laid out as { flags, rip, cs, rflags, rsp, ss } and enters the stub;
 * rax, r11 and rcx are restored from the registers at the jump (unless
 * flags has VGCF_in_syscall, when r11 and rcx are left undefined).
 * The upcall mask becomes !(rflags & IF); cs & 3 == 3 returns to user mode
 * (user page tables).
 */
static inline __attribute__((noreturn)) void HYPERVISOR_iret_to(const uint64_t *frame_flags)
{
    __asm__ __volatile__("mov %0, %%rsp\n\tjmp hypercall_page + %c1"
                         : : "r"(frame_flags), "i"(__HYPERVISOR_iret * XEN_HYPERCALL_STUB_SIZE)
                         : "memory");
    __builtin_unreachable();
}

#else /* __ASSEMBLY__ */

/* In assembly: with rsp at the flags word, "HYPERVISOR_IRET" returns. */
#define HYPERVISOR_IRET jmp hypercall_page + (__HYPERVISOR_iret * XEN_HYPERCALL_STUB_SIZE)

#endif /* __ASSEMBLY__ */

#endif /* PARAVIRT_TRAPS_H */
