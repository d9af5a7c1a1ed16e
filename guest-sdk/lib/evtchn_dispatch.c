/*
 * evtchn_dispatch.c - the upcall dispatcher: a handler per port, run for
 * every pending, unmasked port of the running vCPU that its selector word
 * points at.
 * Pure shared-memory logic (no hypercalls), so the host tests run it
 * against a fake shared_info.
 */
#include <paravirt/pv.h>
#include <paravirt/smp.h>

#include "internal.h"

static struct {
    pv_evtchn_handler_t fn;
    void *data;
} handlers[EVTCHN_2L_NR_CHANNELS];

/* The vCPU each port notifies (0 unless bound elsewhere), so a vCPU runs only its own ports' handlers. */
static uint8_t port_vcpu[EVTCHN_2L_NR_CHANNELS];

void pv_evtchn_note_vcpu(evtchn_port_t port, unsigned int vcpu)
{
    if (port_valid(port) && vcpu < PV_SMP_MAX_VCPUS)
        PV_WRITE_ONCE(port_vcpu[port], (uint8_t)vcpu);
}

long pv_evtchn_set_handler(evtchn_port_t port, pv_evtchn_handler_t fn, void *data)
{
    if (!port_valid(port))
        return -XEN_EINVAL;
    handlers[port].data = data;
    pv_barrier();
    handlers[port].fn = fn;
    return 0;
}

int pv_evtchn_dispatch(void)
{
    shared_info_t *s = pv_shared_info;
    if (s == NULL)
        return 0;
    unsigned int self = pv_smp_processor_id();
    vcpu_info_t *vi = pv_vcpu_info(self);
    int ran = 0;

    PV_WRITE_ONCE(vi->evtchn_upcall_pending, 0);
    pv_mb();    /* clear the summary before reading the selector */
    xen_ulong_t sel = __atomic_exchange_n(&vi->evtchn_pending_sel, 0, __ATOMIC_SEQ_CST);
    while (sel != 0) {
        unsigned int w = (unsigned int)__builtin_ctzl(sel);
        sel &= sel - 1;
        xen_ulong_t bits = PV_READ_ONCE(s->evtchn_pending[w]) & ~PV_READ_ONCE(s->evtchn_mask[w]);
        while (bits != 0) {
            unsigned int b = (unsigned int)__builtin_ctzl(bits);
            bits &= bits - 1;
            evtchn_port_t port = w * BITS_PER_WORD + b;
            /* Only ports with a handler are consumed here; the others stay
             * pending for whoever polls them. */
            pv_evtchn_handler_t fn = handlers[port].fn;
            if (fn == NULL || PV_READ_ONCE(port_vcpu[port]) != self)
                continue;
            sync_test_and_clear_bit(port, s->evtchn_pending);
            fn(port, handlers[port].data);
            ran++;
        }
    }
    return ran;
}

/* C side of the upcall entry in head.S (events are masked while it runs). */
void pv_evtchn_upcall(void);
void pv_evtchn_upcall(void)
{
    pv_evtchn_dispatch();
}

