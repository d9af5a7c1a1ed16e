/*
 * events.c - event channels over the 2-level ABI (event_channel.h,
 * shared_info.evtchn_pending/evtchn_mask, vcpu_info.evtchn_pending_sel).
 *
 * Hypercalls bind and close ports; the pending and mask bitmaps are plain
 * memory shared with the hypervisor, so bits are changed with locked
 * instructions.  Waiting is SCHEDOP_poll; the upcall path (registered on
 * request) runs the same dispatcher as pv_evtchn_dispatch.
 */
#include <paravirt/pv.h>
#if __has_include(<paravirt/callback.h>)
#include <paravirt/callback.h>
#endif

#include <paravirt/smp.h>

#include "internal.h"

long pv_evtchn_send(evtchn_port_t port)
{
    evtchn_send_t send = { .port = port };
    return HYPERVISOR_event_channel_op(EVTCHNOP_send, &send);
}

long pv_evtchn_bind_virq(uint32_t virq, uint32_t vcpu, evtchn_port_t *port)
{
    evtchn_bind_virq_t op = { .virq = virq, .vcpu = vcpu, .port = 0 };
    long rc = HYPERVISOR_event_channel_op(EVTCHNOP_bind_virq, &op);
    if (rc == 0)
        pv_evtchn_note_vcpu(op.port, vcpu);
    if (rc == 0 && port != NULL)
        *port = op.port;
    return rc;
}

long pv_evtchn_bind_vcpu(evtchn_port_t port, uint32_t vcpu)
{
    evtchn_bind_vcpu_t op = { .port = port, .vcpu = vcpu };
    long rc = HYPERVISOR_event_channel_op(EVTCHNOP_bind_vcpu, &op);
    if (rc == 0)
        pv_evtchn_note_vcpu(port, vcpu);
    return rc;
}

long pv_evtchn_bind_interdomain(domid_t remote_dom, evtchn_port_t remote_port, evtchn_port_t *port)
{
    evtchn_bind_interdomain_t op = { .remote_dom = remote_dom, .remote_port = remote_port };
    long rc = HYPERVISOR_event_channel_op(EVTCHNOP_bind_interdomain, &op);
    if (rc == 0 && port != NULL)
        *port = op.local_port;
    return rc;
}

long pv_evtchn_alloc_unbound(domid_t remote_dom, evtchn_port_t *port)
{
    evtchn_alloc_unbound_t op = { .dom = DOMID_SELF, .remote_dom = remote_dom };
    long rc = HYPERVISOR_event_channel_op(EVTCHNOP_alloc_unbound, &op);
    if (rc == 0 && port != NULL)
        *port = op.port;
    return rc;
}

long pv_evtchn_close(evtchn_port_t port)
{
    evtchn_close_t op = { .port = port };
    long rc = HYPERVISOR_event_channel_op(EVTCHNOP_close, &op);
    if (rc == 0 && port_valid(port)) {
        pv_evtchn_set_handler(port, NULL, NULL);
        pv_evtchn_note_vcpu(port, 0);
    }
    return rc;
}

long pv_evtchn_mask(evtchn_port_t port)
{
    if (!port_valid(port))
        return -XEN_EINVAL;
    if (pv_shared_info == NULL)
        return -XEN_ENODEV;
    sync_set_bit(port, pv_shared_info->evtchn_mask);
    return 0;
}

long pv_evtchn_unmask(evtchn_port_t port)
{
    /* Xen clears the mask bit and, if the port is pending, raises the upcall. */
    evtchn_unmask_t op = { .port = port };
    return HYPERVISOR_event_channel_op(EVTCHNOP_unmask, &op);
}

int pv_evtchn_is_pending(evtchn_port_t port)
{
    if (!port_valid(port))
        return -XEN_EINVAL;
    if (pv_shared_info == NULL)
        return -XEN_ENODEV;
    return test_bit(port, pv_shared_info->evtchn_pending);
}

int pv_evtchn_test_and_clear(evtchn_port_t port)
{
    if (!port_valid(port))
        return -XEN_EINVAL;
    if (pv_shared_info == NULL)
        return -XEN_ENODEV;
    return sync_test_and_clear_bit(port, pv_shared_info->evtchn_pending);
}

long pv_evtchn_wait_any(const evtchn_port_t *ports, unsigned int n, uint64_t deadline_ns,
                        evtchn_port_t *which)
{
    if (ports == NULL || n == 0)
        return -XEN_EINVAL;
    if (pv_shared_info == NULL)
        return -XEN_ENODEV;     /* a pending bit could never be consumed */
    for (;;) {
        for (unsigned int i = 0; i < n; i++) {
            int hit = pv_evtchn_test_and_clear(ports[i]);
            if (hit < 0)
                return hit;
            if (hit) {
                if (which != NULL)
                    *which = ports[i];
                return 0;
            }
        }
        if (deadline_ns != 0 && pv_system_time_ns() >= deadline_ns)
            return -XEN_ETIME;
        sched_poll_t poll = { .nr_ports = n, .timeout = deadline_ns };
        set_xen_guest_handle(poll.ports, (evtchn_port_t *)ports);
        long rc = HYPERVISOR_sched_op(SCHEDOP_poll, &poll);
        if (rc < 0)
            return rc;
    }
}

long pv_evtchn_wait(evtchn_port_t port, uint64_t deadline_ns)
{
    return pv_evtchn_wait_any(&port, 1, deadline_ns, NULL);
}

void pv_wait_for_event(evtchn_port_t port)
{
    if (pv_shared_info == NULL) {
        pv_yield();
        return;
    }
    /* Consume a pending notification if there is one, else sleep until one comes. */
    if (pv_evtchn_test_and_clear(port) == 0) {
        sched_poll_t poll = { .nr_ports = 1, .timeout = 0 };
        set_xen_guest_handle(poll.ports, &port);
        HYPERVISOR_sched_op(SCHEDOP_poll, &poll);
        pv_evtchn_test_and_clear(port);
    }
}

extern char pv_hypervisor_callback[];

long pv_evtchn_enable_upcalls(void)
{
    if (pv_shared_info == NULL)
        return -XEN_ENODEV;
#ifdef CALLBACKTYPE_event
    struct callback_register cb = {
        .type = CALLBACKTYPE_event,
        .flags = CALLBACKF_mask_events,
        .address = (xen_callback_t)pv_hypervisor_callback,
    };
    long rc = HYPERVISOR_callback_op(CALLBACKOP_register, &cb);
#else
    long rc = HYPERVISOR_set_callbacks((unsigned long)pv_hypervisor_callback, 0, 0);
#endif
    if (rc != 0)
        return rc;
    pv_upcalls_unmask();
    return 0;
}

void pv_upcalls_unmask(void)
{
    vcpu_info_t *vi = pv_this_vcpu_info();
    if (vi == NULL)
        return;
    pv_barrier();
    PV_WRITE_ONCE(vi->evtchn_upcall_mask, 0);
    pv_mb();
    /* Events that arrived while masked: any hypercall makes Xen deliver them. */
    if (PV_READ_ONCE(vi->evtchn_upcall_pending))
        HYPERVISOR_xen_version(XENVER_version, NULL);
}

void pv_evtchn_disable_upcalls(void)
{
    vcpu_info_t *vi = pv_this_vcpu_info();
    if (vi != NULL)
        PV_WRITE_ONCE(vi->evtchn_upcall_mask, 1);
    pv_barrier();
}
