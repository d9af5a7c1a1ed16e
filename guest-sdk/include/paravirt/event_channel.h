/*
 * paravirt/event_channel.h - HYPERVISOR_event_channel_op(cmd, arg).
 * Facts from Xen's public/event_channel.h (2-level ABI).
 */
#ifndef PARAVIRT_EVENT_CHANNEL_H
#define PARAVIRT_EVENT_CHANNEL_H

#include "abi.h"
#include "xen.h"

#define EVTCHNOP_bind_interdomain  0
#define EVTCHNOP_bind_virq         1
#define EVTCHNOP_bind_pirq         2
#define EVTCHNOP_close             3
#define EVTCHNOP_send              4
#define EVTCHNOP_status            5
#define EVTCHNOP_alloc_unbound     6
#define EVTCHNOP_bind_ipi          7
#define EVTCHNOP_bind_vcpu         8
#define EVTCHNOP_unmask            9
#define EVTCHNOP_reset            10
#define EVTCHNOP_init_control     11
#define EVTCHNOP_expand_array     12
#define EVTCHNOP_set_priority     13
#define EVTCHNOP_reset_cont       14

/* The 2-level ABI: 64 selector bits x 64 bits per word. */
#define EVTCHN_2L_NR_CHANNELS (sizeof(xen_ulong_t) * sizeof(xen_ulong_t) * 64)

/* evtchn_status.status values. */
#define EVTCHNSTAT_closed       0
#define EVTCHNSTAT_unbound      1
#define EVTCHNSTAT_interdomain  2
#define EVTCHNSTAT_pirq         3
#define EVTCHNSTAT_virq         4
#define EVTCHNSTAT_ipi          5

#ifndef __ASSEMBLY__

typedef uint32_t evtchn_port_t;
__DEFINE_XEN_GUEST_HANDLE(evtchn_port_t, evtchn_port_t);

/* Allocate a port in <dom> that <remote_dom> may bind to. */
struct evtchn_alloc_unbound {
    domid_t       dom, remote_dom;  /* IN; dom must be DOMID_SELF unless privileged */
    evtchn_port_t port;             /* OUT */
};
typedef struct evtchn_alloc_unbound evtchn_alloc_unbound_t;
PV_ABI_SIZE(struct evtchn_alloc_unbound, 8);
PV_ABI_OFFSET(struct evtchn_alloc_unbound, remote_dom, 2);
PV_ABI_OFFSET(struct evtchn_alloc_unbound, port, 4);

struct evtchn_bind_interdomain {
    domid_t       remote_dom;       /* IN */
    evtchn_port_t remote_port;      /* IN */
    evtchn_port_t local_port;       /* OUT */
};
typedef struct evtchn_bind_interdomain evtchn_bind_interdomain_t;
PV_ABI_SIZE(struct evtchn_bind_interdomain, 12);
PV_ABI_OFFSET(struct evtchn_bind_interdomain, remote_port, 4);
PV_ABI_OFFSET(struct evtchn_bind_interdomain, local_port, 8);

struct evtchn_bind_virq {
    uint32_t      virq;             /* IN: VIRQ_* */
    uint32_t      vcpu;             /* IN */
    evtchn_port_t port;             /* OUT */
};
typedef struct evtchn_bind_virq evtchn_bind_virq_t;
PV_ABI_SIZE(struct evtchn_bind_virq, 12);

struct evtchn_bind_pirq {
    uint32_t      pirq;
#define BIND_PIRQ__WILL_SHARE 1
    uint32_t      flags;
    evtchn_port_t port;
};
typedef struct evtchn_bind_pirq evtchn_bind_pirq_t;
PV_ABI_SIZE(struct evtchn_bind_pirq, 12);

struct evtchn_bind_ipi {
    uint32_t      vcpu;
    evtchn_port_t port;             /* OUT */
};
typedef struct evtchn_bind_ipi evtchn_bind_ipi_t;
PV_ABI_SIZE(struct evtchn_bind_ipi, 8);

/* Close a local port; an interdomain peer goes back to unbound. */
struct evtchn_close {
    evtchn_port_t port;
};
typedef struct evtchn_close evtchn_close_t;
PV_ABI_SIZE(struct evtchn_close, 4);

/* Signal the remote end of the channel whose local end is <port>. */
struct evtchn_send {
    evtchn_port_t port;
};
typedef struct evtchn_send evtchn_send_t;
PV_ABI_SIZE(struct evtchn_send, 4);

struct evtchn_status {
    domid_t       dom;              /* IN: DOMID_SELF unless privileged */
    evtchn_port_t port;             /* IN */
    uint32_t      status;           /* OUT: EVTCHNSTAT_* */
    uint32_t      vcpu;             /* OUT: vCPU notified */
    union {
        struct { domid_t dom; } unbound;
        struct { domid_t dom; evtchn_port_t port; } interdomain;
        uint32_t pirq;
        uint32_t virq;
    } u;
};
typedef struct evtchn_status evtchn_status_t;
PV_ABI_SIZE(struct evtchn_status, 24);
PV_ABI_OFFSET(struct evtchn_status, port, 4);
PV_ABI_OFFSET(struct evtchn_status, status, 8);
PV_ABI_OFFSET(struct evtchn_status, vcpu, 12);
PV_ABI_OFFSET(struct evtchn_status, u, 16);
PV_ABI_OFFSET(struct evtchn_status, u.interdomain.port, 20);

struct evtchn_bind_vcpu {
    evtchn_port_t port;
    uint32_t      vcpu;
};
typedef struct evtchn_bind_vcpu evtchn_bind_vcpu_t;
PV_ABI_SIZE(struct evtchn_bind_vcpu, 8);

struct evtchn_unmask {
    evtchn_port_t port;
};
typedef struct evtchn_unmask evtchn_unmask_t;
PV_ABI_SIZE(struct evtchn_unmask, 4);

struct evtchn_reset {
    domid_t dom;
};
typedef struct evtchn_reset evtchn_reset_t;
PV_ABI_SIZE(struct evtchn_reset, 2);

#endif /* !__ASSEMBLY__ */

#endif /* PARAVIRT_EVENT_CHANNEL_H */
