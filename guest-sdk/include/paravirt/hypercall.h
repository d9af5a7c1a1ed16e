/*
 * paravirt/hypercall.h - hypercall wrappers for 64-bit PV guests.
 *
 * The domain builder fills the kernel's hypercall page (announced with the
 * XEN_ELFNOTE_HYPERCALL_PAGE note) with one 32-byte stub per hypercall; a
 * hypercall is "call hypercall_page + nr * 32" with arguments in rdi, rsi,
 * rdx, r10, r8 and the result in rax (negative = -XEN_Exxx).
 *
 * Clobbers follow Xen's contract rather than what today's stub happens to
 * preserve: rcx and r11 (used by syscall) and every argument register
 * (rdi, rsi, rdx, r10, r8, r9 - a debug hypervisor poisons the unused ones).
 * "memory" because hypercalls read and write guest memory through pointers.
 * The call pushes a return address below rsp, so guest code must be built
 * with -mno-red-zone.
 */
#ifndef PARAVIRT_HYPERCALL_H
#define PARAVIRT_HYPERCALL_H

#include "xen.h"

#ifndef __ASSEMBLY__

#include "event_channel.h"
#include "sched.h"
#include "version.h"

/* One 32-byte stub per hypercall number; filled in by the builder. */
struct xen_hypercall_stub { char code[XEN_HYPERCALL_STUB_SIZE]; };
extern struct xen_hypercall_stub hypercall_page[4096 / XEN_HYPERCALL_STUB_SIZE];

/* 'nr' must be a compile-time constant (it becomes the call displacement). */
#define _pv_hypercall5(nr, a1, a2, a3, a4, a5) ({                            \
    register long __res __asm__("rax");                                     \
    register unsigned long __a1 __asm__("rdi") = (unsigned long)(a1);       \
    register unsigned long __a2 __asm__("rsi") = (unsigned long)(a2);       \
    register unsigned long __a3 __asm__("rdx") = (unsigned long)(a3);       \
    register unsigned long __a4 __asm__("r10") = (unsigned long)(a4);       \
    register unsigned long __a5 __asm__("r8")  = (unsigned long)(a5);       \
    __asm__ __volatile__("call hypercall_page + %c[offset]"                 \
        : "=r"(__res), "+r"(__a1), "+r"(__a2), "+r"(__a3), "+r"(__a4),      \
          "+r"(__a5)                                                        \
        : [offset] "i"((nr) * XEN_HYPERCALL_STUB_SIZE)                      \
        : "rcx", "r9", "r11", "memory", "cc");                              \
    __res; })

#define _pv_hypercall0(nr)                 _pv_hypercall5(nr, 0, 0, 0, 0, 0)
#define _pv_hypercall1(nr, a1)             _pv_hypercall5(nr, a1, 0, 0, 0, 0)
#define _pv_hypercall2(nr, a1, a2)         _pv_hypercall5(nr, a1, a2, 0, 0, 0)
#define _pv_hypercall3(nr, a1, a2, a3)     _pv_hypercall5(nr, a1, a2, a3, 0, 0)
#define _pv_hypercall4(nr, a1, a2, a3, a4) _pv_hypercall5(nr, a1, a2, a3, a4, 0)

/*
 * Typed wrappers, named as in Xen-ported kernels so porting is mechanical.
 * Unused argument registers are zeroed: a hypervisor may check them.
 */
static inline long HYPERVISOR_set_trap_table(const trap_info_t *table)
{ return _pv_hypercall1(__HYPERVISOR_set_trap_table, table); }

static inline long HYPERVISOR_mmu_update(const mmu_update_t *req, unsigned int count,
                                         unsigned int *done, unsigned int foreigndom)
{ return _pv_hypercall4(__HYPERVISOR_mmu_update, req, count, done, foreigndom); }

static inline long HYPERVISOR_mmuext_op(const mmuext_op_t *op, unsigned int count,
                                        unsigned int *done, unsigned int foreigndom)
{ return _pv_hypercall4(__HYPERVISOR_mmuext_op, op, count, done, foreigndom); }

static inline long HYPERVISOR_stack_switch(unsigned long ss, unsigned long esp)
{ return _pv_hypercall2(__HYPERVISOR_stack_switch, ss, esp); }

static inline long HYPERVISOR_set_callbacks(unsigned long event_address,
                                            unsigned long failsafe_address,
                                            unsigned long syscall_address)
{ return _pv_hypercall3(__HYPERVISOR_set_callbacks, event_address,
                        failsafe_address, syscall_address); }

static inline long HYPERVISOR_update_va_mapping(unsigned long va, uint64_t pte,
                                                unsigned long flags)
{ return _pv_hypercall3(__HYPERVISOR_update_va_mapping, va, pte, flags); }

static inline long HYPERVISOR_set_timer_op(uint64_t timeout_ns)
{ return _pv_hypercall1(__HYPERVISOR_set_timer_op, timeout_ns); }

static inline long HYPERVISOR_xen_version(int cmd, void *arg)
{ return _pv_hypercall2(__HYPERVISOR_xen_version, cmd, arg); }

static inline long HYPERVISOR_console_io(int cmd, unsigned int count, char *buf)
{ return _pv_hypercall3(__HYPERVISOR_console_io, cmd, count, buf); }

static inline long HYPERVISOR_vm_assist(unsigned int cmd, unsigned int type)
{ return _pv_hypercall2(__HYPERVISOR_vm_assist, cmd, type); }

static inline long HYPERVISOR_multicall(multicall_entry_t *calls, unsigned int count)
{ return _pv_hypercall2(__HYPERVISOR_multicall, calls, count); }

static inline long HYPERVISOR_memory_op(unsigned int cmd, void *arg)
{ return _pv_hypercall2(__HYPERVISOR_memory_op, cmd, arg); }

static inline long HYPERVISOR_grant_table_op(unsigned int cmd, void *uop, unsigned int count)
{ return _pv_hypercall3(__HYPERVISOR_grant_table_op, cmd, uop, count); }

static inline long HYPERVISOR_vcpu_op(int cmd, unsigned int vcpuid, void *arg)
{ return _pv_hypercall3(__HYPERVISOR_vcpu_op, cmd, vcpuid, arg); }

static inline long HYPERVISOR_set_segment_base(int which, unsigned long base)
{ return _pv_hypercall2(__HYPERVISOR_set_segment_base, which, base); }

static inline long HYPERVISOR_sched_op(int cmd, void *arg)
{ return _pv_hypercall2(__HYPERVISOR_sched_op, cmd, arg); }

static inline long HYPERVISOR_callback_op(int cmd, const void *arg)
{ return _pv_hypercall2(__HYPERVISOR_callback_op, cmd, arg); }

static inline long HYPERVISOR_event_channel_op(int cmd, void *arg)
{ return _pv_hypercall2(__HYPERVISOR_event_channel_op, cmd, arg); }

static inline long HYPERVISOR_physdev_op(int cmd, void *arg)
{ return _pv_hypercall2(__HYPERVISOR_physdev_op, cmd, arg); }
static inline long HYPERVISOR_physdev_op_compat(void *op)
{ return _pv_hypercall1(__HYPERVISOR_physdev_op_compat, op); }

#endif /* !__ASSEMBLY__ */

#endif /* PARAVIRT_HYPERCALL_H */
