/*
 * evtchn - guest-side test kernel for event channels, timers, poll and grant
 * table queries, run through the real stack (emulated CPU, hypercall page).
 * Every check prints one line on failure; the last line is
 * "evtchn: <passed>/<total> checks passed".  Then the guest idles in
 * SCHEDOP_poll on a port nobody signals, so the host can measure what an idle
 * (blocked) vCPU costs.
 */
#include <paravirt/pv.h>

static int passed, total;

#define CHECK(cond, ...) do {                                   \
        total++;                                                \
        if (cond) passed++;                                     \
        else { pv_printf("FAIL line %d: ", __LINE__);           \
               pv_printf(__VA_ARGS__); pv_printf("\n"); }       \
    } while (0)

static long bind_virq(uint32_t virq, uint32_t vcpu, evtchn_port_t *port)
{
    evtchn_bind_virq_t op = { .virq = virq, .vcpu = vcpu, .port = 0 };
    long rc = HYPERVISOR_event_channel_op(EVTCHNOP_bind_virq, &op);
    *port = op.port;
    return rc;
}

static long poll1(evtchn_port_t port, uint64_t timeout)
{
    sched_poll_t p = { .nr_ports = 1, .timeout = timeout };
    set_xen_guest_handle(p.ports, &port);
    return HYPERVISOR_sched_op(SCHEDOP_poll, &p);
}

/* grant_table.h and vcpu.h come in through pv.h. */

int pv_main(start_info_t *si)
{
    evtchn_port_t timer, dbg, ipi, other;
    long rc;

    (void)si;

    /* bind_virq */
    CHECK(bind_virq(VIRQ_TIMER, 0, &timer) == 0, "bind_virq(TIMER)");
    CHECK(bind_virq(VIRQ_TIMER, 0, &other) == -XEN_EEXIST, "bind_virq(TIMER) twice");
    CHECK(bind_virq(24, 0, &other) == -XEN_EINVAL, "bind_virq(24)");
    CHECK(bind_virq(VIRQ_CONSOLE, 1, &other) == -XEN_EINVAL, "global virq on vcpu 1");
    CHECK(bind_virq(VIRQ_DEBUG, 1, &other) == -XEN_ENOENT, "virq on missing vcpu");
    CHECK(bind_virq(VIRQ_DEBUG, 0, &dbg) == 0, "bind_virq(DEBUG)");

    /* bind_ipi, send, poll on a pending port */
    evtchn_bind_ipi_t ipiop = { .vcpu = 0 };
    CHECK(HYPERVISOR_event_channel_op(EVTCHNOP_bind_ipi, &ipiop) == 0, "bind_ipi");
    ipi = ipiop.port;
    evtchn_bind_ipi_t badipi = { .vcpu = 7 };
    CHECK(HYPERVISOR_event_channel_op(EVTCHNOP_bind_ipi, &badipi) == -XEN_ENOENT, "bind_ipi(vcpu 7)");
    CHECK(pv_evtchn_send(ipi) == 0, "send(ipi)");
    CHECK(poll1(ipi, 0) == 0, "poll on a pending ipi returns");
    CHECK(pv_evtchn_send(timer) == -XEN_EINVAL, "send on a virq port");

    /* status */
    evtchn_status_t st = { .dom = DOMID_SELF, .port = timer };
    CHECK(HYPERVISOR_event_channel_op(EVTCHNOP_status, &st) == 0 && st.status == EVTCHNSTAT_virq
          && st.u.virq == VIRQ_TIMER && st.vcpu == 0, "status(timer) = %u", st.status);
    evtchn_status_t st0 = { .dom = 0, .port = 1 };
    CHECK(HYPERVISOR_event_channel_op(EVTCHNOP_status, &st0) == -XEN_EPERM, "status of dom0's port");

    /* bind_vcpu, unmask, close */
    evtchn_bind_vcpu_t bv = { .port = ipi, .vcpu = 0 };
    CHECK(HYPERVISOR_event_channel_op(EVTCHNOP_bind_vcpu, &bv) == -XEN_EINVAL, "bind_vcpu(ipi)");
    evtchn_unmask_t um = { .port = ipi };
    CHECK(HYPERVISOR_event_channel_op(EVTCHNOP_unmask, &um) == 0, "unmask");
    evtchn_unmask_t bad = { .port = 4000 };
    CHECK(HYPERVISOR_event_channel_op(EVTCHNOP_unmask, &bad) == -XEN_EINVAL, "unmask(4000)");
    evtchn_close_t cl = { .port = ipi };
    CHECK(HYPERVISOR_event_channel_op(EVTCHNOP_close, &cl) == 0, "close(ipi)");
    CHECK(HYPERVISOR_event_channel_op(EVTCHNOP_close, &cl) == -XEN_EINVAL, "close twice");

    /* timers: a deadline in the past raises VIRQ_TIMER, which ends a poll */
    CHECK(HYPERVISOR_set_timer_op(1) == 0, "set_timer_op(past)");
    CHECK(poll1(timer, 0) == 0, "poll wakes on VIRQ_TIMER");
    struct vcpu_set_singleshot_timer sst = { .timeout_abs_ns = 1, .flags = VCPU_SSHOTTMR_future };
    CHECK(HYPERVISOR_vcpu_op(VCPUOP_set_singleshot_timer, 0, &sst) == -XEN_ETIME, "singleshot in the past, future flag");
    CHECK(HYPERVISOR_vcpu_op(VCPUOP_set_singleshot_timer, 3, &sst) == -XEN_ENOENT, "singleshot on vcpu 3");

    /* poll errnos */
    sched_poll_t many = { .nr_ports = 129, .timeout = 0 };
    set_xen_guest_handle(many.ports, &timer);
    CHECK(HYPERVISOR_sched_op(SCHEDOP_poll, &many) == -XEN_EINVAL, "poll 129 ports");

    /* grant table queries */
    struct gnttab_query_size qs = { .dom = DOMID_SELF };
    rc = HYPERVISOR_grant_table_op(GNTTABOP_query_size, &qs, 1);
    CHECK(rc == 0 && qs.status == 0 && qs.max_nr_frames == 64, "query_size rc %ld max %u", rc, qs.max_nr_frames);
    struct gnttab_get_version gv = { .dom = DOMID_SELF };
    CHECK(HYPERVISOR_grant_table_op(GNTTABOP_get_version, &gv, 1) == 0 && gv.version == 1, "get_version");
    struct gnttab_set_version sv = { .version = 2 };
    CHECK(HYPERVISOR_grant_table_op(GNTTABOP_set_version, &sv, 1) == -XEN_ENOSYS && sv.version == 1, "set_version(2)");

    pv_printf("evtchn: %d/%d checks passed\n", passed, total);

    /* Idle: wait for VIRQ_DEBUG, which nobody raises. */
    for (;;)
        poll1(dbg, 0);
}
