/*
 * paravirt/vcpu.h - HYPERVISOR_vcpu_op(cmd, vcpuid, arg): per-vCPU control,
 * runstate, timers and vcpu_info placement.
 * Facts from Xen's public/vcpu.h.
 */
#ifndef PARAVIRT_VCPU_H
#define PARAVIRT_VCPU_H

#include "abi.h"
#include "xen.h"

#define VCPUOP_initialise                    0  /* arg: vcpu_guest_context (bring-up state) */
#define VCPUOP_up                            1  /* arg: NULL */
#define VCPUOP_down                          2  /* arg: NULL */
#define VCPUOP_is_up                         3  /* arg: NULL; returns 1 if up */
#define VCPUOP_get_runstate_info             4  /* arg: vcpu_runstate_info */
#define VCPUOP_register_runstate_memory_area 5  /* arg: vcpu_register_runstate_memory_area */
#define VCPUOP_set_periodic_timer            6  /* arg: vcpu_set_periodic_timer */
#define VCPUOP_stop_periodic_timer           7  /* arg: NULL */
#define VCPUOP_set_singleshot_timer          8  /* arg: vcpu_set_singleshot_timer */
#define VCPUOP_stop_singleshot_timer         9  /* arg: NULL */
#define VCPUOP_register_vcpu_info           10  /* arg: vcpu_register_vcpu_info */
#define VCPUOP_send_nmi                     11  /* arg: NULL */
#define VCPUOP_get_physid                   12  /* arg: vcpu_get_physid */
#define VCPUOP_register_vcpu_time_memory_area 13 /* arg: vcpu_register_time_memory_area */

/* vcpu_runstate_info.state */
#define RUNSTATE_running  0   /* running on a physical CPU */
#define RUNSTATE_runnable 1   /* ready, waiting for a CPU */
#define RUNSTATE_blocked  2   /* waiting for an event */
#define RUNSTATE_offline  3   /* down, or preempted in a way that is not "runnable" */

/* Set in state_entry_time while the hypervisor updates a registered area. */
#define XEN_RUNSTATE_UPDATE (1ULL << 63)

/* vcpu_set_singleshot_timer.flags: fail with -ETIME if the deadline has passed. */
#define _VCPU_SSHOTTMR_future 0
#define VCPU_SSHOTTMR_future  (1U << _VCPU_SSHOTTMR_future)

#ifndef __ASSEMBLY__

struct vcpu_runstate_info {
    int      state;                 /* RUNSTATE_* */
    uint64_t state_entry_time;      /* system time (ns) of the last state change */
    uint64_t time[4];               /* ns spent in each RUNSTATE_* */
};
typedef struct vcpu_runstate_info vcpu_runstate_info_t;
PV_ABI_SIZE(struct vcpu_runstate_info, 48);
PV_ABI_OFFSET(struct vcpu_runstate_info, state_entry_time, 8);
PV_ABI_OFFSET(struct vcpu_runstate_info, time, 16);
DEFINE_XEN_GUEST_HANDLE(vcpu_runstate_info_t);

/* The hypervisor keeps a copy of the runstate at this guest virtual address. */
struct vcpu_register_runstate_memory_area {
    union {
        XEN_GUEST_HANDLE(vcpu_runstate_info_t) h;
        struct vcpu_runstate_info *v;
        uint64_t p;
    } addr;
};
typedef struct vcpu_register_runstate_memory_area vcpu_register_runstate_memory_area_t;
PV_ABI_SIZE(struct vcpu_register_runstate_memory_area, 8);

/* VIRQ_TIMER every period_ns (a period below 1 ms is refused by Xen). */
struct vcpu_set_periodic_timer {
    uint64_t period_ns;
};
typedef struct vcpu_set_periodic_timer vcpu_set_periodic_timer_t;
PV_ABI_SIZE(struct vcpu_set_periodic_timer, 8);

/* VIRQ_TIMER once system time reaches timeout_abs_ns. */
struct vcpu_set_singleshot_timer {
    uint64_t timeout_abs_ns;        /* absolute system time */
    uint32_t flags;                 /* VCPU_SSHOTTMR_* */
};
typedef struct vcpu_set_singleshot_timer vcpu_set_singleshot_timer_t;
PV_ABI_SIZE(struct vcpu_set_singleshot_timer, 16);
PV_ABI_OFFSET(struct vcpu_set_singleshot_timer, flags, 8);

/* Move this vCPU's vcpu_info out of shared_info, to mfn:offset. */
struct vcpu_register_vcpu_info {
    uint64_t mfn;                   /* machine frame holding the new vcpu_info */
    uint32_t offset;                /* its offset in the frame (must not cross it) */
    uint32_t rsvd;                  /* must be zero */
};
typedef struct vcpu_register_vcpu_info vcpu_register_vcpu_info_t;
PV_ABI_SIZE(struct vcpu_register_vcpu_info, 16);
PV_ABI_OFFSET(struct vcpu_register_vcpu_info, offset, 8);
PV_ABI_OFFSET(struct vcpu_register_vcpu_info, rsvd, 12);

struct vcpu_get_physid {
    uint64_t phys_id;
};
typedef struct vcpu_get_physid vcpu_get_physid_t;
PV_ABI_SIZE(struct vcpu_get_physid, 8);
#define xen_vcpu_physid_to_x86_apicid(physid) ((uint32_t)(physid))
#define xen_vcpu_physid_to_x86_acpiid(physid) ((uint32_t)((physid) >> 32))

/* A second copy of vcpu_time_info at a guest virtual address (for user-space clocks). */
DEFINE_XEN_GUEST_HANDLE(vcpu_time_info_t);
struct vcpu_register_time_memory_area {
    union {
        XEN_GUEST_HANDLE(vcpu_time_info_t) h;
        struct vcpu_time_info *v;
        uint64_t p;
    } addr;
};
typedef struct vcpu_register_time_memory_area vcpu_register_time_memory_area_t;
PV_ABI_SIZE(struct vcpu_register_time_memory_area, 8);

#endif /* !__ASSEMBLY__ */

#endif /* PARAVIRT_VCPU_H */
