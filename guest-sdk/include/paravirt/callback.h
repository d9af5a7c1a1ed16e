/*
 * paravirt/callback.h - HYPERVISOR_callback_op(cmd, arg) and the legacy
 * HYPERVISOR_set_callbacks: the entry points the hypervisor calls in the
 * guest kernel (event upcall, failsafe, syscall from user mode, NMI).
 *
 * Facts from Xen's public/callback.h and public/arch-x86/xen-x86_64.h.
 *
 * Every callback is entered through a bounce frame on the guest kernel
 * stack (see traps.h): rcx and r11 on top of the iret frame, as for a trap
 * with no error code.  CALLBACKF_mask_events makes the hypervisor set
 * evtchn_upcall_mask on entry (an interrupt-gate-like callback).  The event
 * callback always masks events on entry.
 */
#ifndef PARAVIRT_CALLBACK_H
#define PARAVIRT_CALLBACK_H

#include "arch-x86_64.h"

/* callback_register.type / callback_unregister.type */
#define CALLBACKTYPE_event               0  /* evtchn upcall */
#define CALLBACKTYPE_failsafe            1  /* bad segment or frame on return */
#define CALLBACKTYPE_syscall             2  /* 64-bit syscall from user mode (x86-64 only) */
#define CALLBACKTYPE_sysenter_deprecated 3
#define CALLBACKTYPE_nmi                 4  /* cannot be unregistered other than by type nmi */
#define CALLBACKTYPE_sysenter            5  /* 32-bit user sysenter */
#define CALLBACKTYPE_syscall32           7  /* 32-bit user syscall (x86-64 only) */

/* callback_register.flags */
#define _CALLBACKF_mask_events 0
#define CALLBACKF_mask_events  (1U << _CALLBACKF_mask_events)

/* HYPERVISOR_callback_op commands */
#define CALLBACKOP_register   0  /* arg: struct callback_register * */
#define CALLBACKOP_unregister 1  /* arg: struct callback_unregister *; only nmi can be removed */

#ifndef __ASSEMBLY__

/*
 * Register a callback.  Errors: -EFAULT (arg unreadable), -EINVAL (address
 * not canonical), -ENOSYS (unknown type).
 */
struct callback_register {
    uint16_t       type;
    uint16_t       flags;
    xen_callback_t address;   /* a 64-bit guest virtual address */
};
typedef struct callback_register callback_register_t;
PV_ABI_SIZE(struct callback_register, 16);
PV_ABI_OFFSET(struct callback_register, flags, 2);
PV_ABI_OFFSET(struct callback_register, address, 8);

/*
 * Unregister a callback.  Only CALLBACKTYPE_nmi can be unregistered: the
 * others answer -EINVAL; an unknown type -ENOSYS.
 */
struct callback_unregister {
    uint16_t type;
    uint16_t _unused;
};
typedef struct callback_unregister callback_unregister_t;
PV_ABI_SIZE(struct callback_unregister, 4);

#include "hypercall.h"

static inline long HYPERVISOR_callback_register(uint16_t type, uint16_t flags, unsigned long address)
{
    struct callback_register reg = { .type = type, .flags = flags, .address = address };
    return HYPERVISOR_callback_op(CALLBACKOP_register, &reg);
}

static inline long HYPERVISOR_callback_unregister(uint16_t type)
{
    struct callback_unregister unreg = { .type = type, ._unused = 0 };
    return HYPERVISOR_callback_op(CALLBACKOP_unregister, &unreg);
}

#endif /* !__ASSEMBLY__ */

#endif /* PARAVIRT_CALLBACK_H */
