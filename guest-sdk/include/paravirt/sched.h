/*
 * paravirt/sched.h - HYPERVISOR_sched_op(cmd, arg).
 * Facts from Xen's public/sched.h.
 */
#ifndef PARAVIRT_SCHED_H
#define PARAVIRT_SCHED_H

#include "abi.h"
#include "event_channel.h"

#define SCHEDOP_yield           0  /* arg: NULL; give up the CPU */
#define SCHEDOP_block           1  /* arg: NULL; sleep until an event; unmasks events */
#define SCHEDOP_shutdown        2  /* arg: struct sched_shutdown* */
#define SCHEDOP_poll            3  /* arg: struct sched_poll* */
#define SCHEDOP_remote_shutdown 4  /* arg: struct sched_remote_shutdown* */
#define SCHEDOP_shutdown_code   5  /* arg: struct sched_shutdown*; record only */
#define SCHEDOP_watchdog        6  /* arg: struct sched_watchdog* */
#define SCHEDOP_pin_override    7  /* arg: struct sched_pin_override* */

/* Shutdown reasons, reported to the toolstack (xl shows them). */
#define SHUTDOWN_poweroff   0  /* exited normally: clean up */
#define SHUTDOWN_reboot     1  /* clean up and restart */
#define SHUTDOWN_suspend    2  /* save state and clean up */
#define SHUTDOWN_crash      3  /* the guest crashed */
#define SHUTDOWN_watchdog   4  /* the watchdog expired */
#define SHUTDOWN_soft_reset 5  /* reset without destroying the domain */
#define SHUTDOWN_MAX        5

#ifndef __ASSEMBLY__

struct sched_shutdown {
    unsigned int reason;            /* SHUTDOWN_* */
};
typedef struct sched_shutdown sched_shutdown_t;
PV_ABI_SIZE(struct sched_shutdown, 4);

struct sched_poll {
    XEN_GUEST_HANDLE(evtchn_port_t) ports;
    unsigned int nr_ports;
    uint64_t timeout;               /* absolute system time in ns, 0 = none */
};
typedef struct sched_poll sched_poll_t;
PV_ABI_SIZE(struct sched_poll, 24);
PV_ABI_OFFSET(struct sched_poll, nr_ports, 8);
PV_ABI_OFFSET(struct sched_poll, timeout, 16);

struct sched_remote_shutdown {
    domid_t      domain_id;
    unsigned int reason;
};
typedef struct sched_remote_shutdown sched_remote_shutdown_t;
PV_ABI_SIZE(struct sched_remote_shutdown, 8);
PV_ABI_OFFSET(struct sched_remote_shutdown, reason, 4);

struct sched_watchdog {
    uint32_t id;                    /* 0 = allocate a new watchdog */
    uint32_t timeout;               /* seconds, 0 = destroy */
};
typedef struct sched_watchdog sched_watchdog_t;
PV_ABI_SIZE(struct sched_watchdog, 8);

struct sched_pin_override {
    int32_t pcpu;
};
typedef struct sched_pin_override sched_pin_override_t;
PV_ABI_SIZE(struct sched_pin_override, 4);

#endif /* !__ASSEMBLY__ */

#endif /* PARAVIRT_SCHED_H */
