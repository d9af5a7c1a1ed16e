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

/* A domain id nobody has (below DOMID_FIRST_RESERVED). */
#define NO_DOMAIN 1000
#define NO_PORT 4000

static long alloc_unbound(domid_t dom, domid_t remote, evtchn_port_t *port)
{
    evtchn_alloc_unbound_t op = { .dom = dom, .remote_dom = remote, .port = 0 };
    long rc = HYPERVISOR_event_channel_op(EVTCHNOP_alloc_unbound, &op);
    *port = op.port;
    return rc;
}

static long bind_interdomain(domid_t remote, evtchn_port_t remote_port, evtchn_port_t *port)
{
    evtchn_bind_interdomain_t op = { .remote_dom = remote, .remote_port = remote_port, .local_port = 0 };
    long rc = HYPERVISOR_event_channel_op(EVTCHNOP_bind_interdomain, &op);
    *port = op.local_port;
    return rc;
}

static long close_port(evtchn_port_t port)
{
    evtchn_close_t op = { .port = port };
    return HYPERVISOR_event_channel_op(EVTCHNOP_close, &op);
}

static long status_of(domid_t dom, evtchn_port_t port, evtchn_status_t *st)
{
    st->dom = dom;
    st->port = port;
    return HYPERVISOR_event_channel_op(EVTCHNOP_status, st);
}

static long bind_vcpu(evtchn_port_t port, uint32_t vcpu)
{
    evtchn_bind_vcpu_t op = { .port = port, .vcpu = vcpu };
    return HYPERVISOR_event_channel_op(EVTCHNOP_bind_vcpu, &op);
}

static long reset_dom(domid_t dom)
{
    evtchn_reset_t op = { .dom = dom };
    return HYPERVISOR_event_channel_op(EVTCHNOP_reset, &op);
}

/* An interdomain channel looped back to this domain: both ends, every errno. */
static void interdomain_checks(void)
{
    evtchn_port_t a, b, c, spare;
    evtchn_status_t st;

    CHECK(alloc_unbound(DOMID_SELF, DOMID_SELF, &a) == 0 && a != 0, "alloc_unbound(self)");
    CHECK(alloc_unbound(0, DOMID_SELF, &spare) == -XEN_EPERM, "alloc_unbound in dom0 by a guest");
    CHECK(status_of(DOMID_SELF, a, &st) == 0 && st.status == EVTCHNSTAT_unbound, "status(unbound) %u", st.status);
    CHECK(bind_interdomain(NO_DOMAIN, a, &spare) == -XEN_ESRCH, "bind_interdomain to no domain");
    CHECK(bind_interdomain(DOMID_SELF, NO_PORT, &spare) == -XEN_EINVAL, "bind_interdomain to a bad port");
    CHECK(bind_interdomain(DOMID_SELF, a, &b) == 0 && b != a, "bind_interdomain(self)");
    CHECK(pv_evtchn_test_and_clear(b), "a fresh binding is pending");
    CHECK(bind_interdomain(DOMID_SELF, a, &spare) == -XEN_EINVAL, "bind_interdomain to a bound port");
    CHECK(status_of(DOMID_SELF, a, &st) == 0 && st.status == EVTCHNSTAT_interdomain && st.u.interdomain.port == b,
          "status(interdomain) %u port %u", st.status, st.u.interdomain.port);
    CHECK(status_of(DOMID_SELF, NO_PORT, &st) == -XEN_EINVAL, "status of a bad port");
    CHECK(status_of(NO_DOMAIN, 1, &st) == -XEN_ESRCH, "status in no domain");

    CHECK(pv_evtchn_send(a) == 0, "send(interdomain)");
    CHECK(poll1(b, 0) == 0 && pv_evtchn_test_and_clear(b), "the other end is pending");
    CHECK(!pv_evtchn_test_and_clear(a), "the sending end is not (closing the port that had this number cleared it)");
    CHECK(pv_evtchn_send(NO_PORT) == -XEN_EINVAL, "send on a bad port");

    CHECK(bind_vcpu(a, 0) == 0, "bind_vcpu(interdomain, 0)");
    CHECK(bind_vcpu(a, 5) == -XEN_ENOENT, "bind_vcpu to a missing vcpu");
    CHECK(bind_vcpu(NO_PORT, 0) == -XEN_EINVAL, "bind_vcpu of a bad port");

    /* Closing one end leaves the other unbound (to us); a send there is dropped. */
    CHECK(close_port(b) == 0, "close(interdomain)");
    CHECK(status_of(DOMID_SELF, a, &st) == 0 && st.status == EVTCHNSTAT_unbound, "peer unbound after close %u", st.status);
    CHECK(pv_evtchn_send(a) == 0, "send on an unbound port is dropped");
    CHECK(bind_interdomain(DOMID_SELF, a, &c) == 0, "the unbound end can be bound again");
    pv_evtchn_test_and_clear(c);
    CHECK(close_port(a) == 0 && close_port(c) == 0, "close both ends");

    /* poll with a timeout that passes. */
    CHECK(alloc_unbound(DOMID_SELF, DOMID_SELF, &a) == 0, "alloc_unbound again");
    uint64_t deadline = pv_system_time_ns() + 1000000;
    CHECK(poll1(a, deadline) == 0 && pv_system_time_ns() >= deadline, "poll times out at its deadline");
    close_port(a);

    /* reset: only our own ports unless privileged. */
    CHECK(reset_dom(0) == -XEN_EPERM, "reset(dom0) by a guest");
    CHECK(reset_dom(NO_DOMAIN) == -XEN_ESRCH, "reset(no domain)");

    /* The per-domain port limit. */
    static evtchn_port_t ports[EVTCHN_2L_NR_CHANNELS];
    long rc = 0;
    unsigned int n = 0;
    while (n < EVTCHN_2L_NR_CHANNELS && (rc = alloc_unbound(DOMID_SELF, DOMID_SELF, &ports[n])) == 0)
        n++;
    CHECK(rc == -XEN_ENOSPC && n > 0, "alloc_unbound past the limit: rc %ld after %u ports", rc, n);
    for (unsigned int i = 0; i < n; i++)
        close_port(ports[i]);

    CHECK(HYPERVISOR_sched_op(SCHEDOP_yield, NULL) == 0, "yield");
}

/* Grant-table errnos a single domain can provoke. */
static void grant_checks(void)
{
    xen_pfn_t frame;
    gnttab_setup_table_t su = { .dom = NO_DOMAIN, .nr_frames = 1 };
    set_xen_guest_handle(su.frame_list, &frame);
    CHECK(HYPERVISOR_grant_table_op(GNTTABOP_setup_table, &su, 1) == 0 && su.status == GNTST_bad_domain,
          "setup_table(no domain) status %d", su.status);
    gnttab_setup_table_t big = { .dom = DOMID_SELF, .nr_frames = 65 };
    set_xen_guest_handle(big.frame_list, &frame);
    CHECK(HYPERVISOR_grant_table_op(GNTTABOP_setup_table, &big, 1) == 0 && big.status == GNTST_general_error,
          "setup_table past max frames status %d", big.status);
    struct gnttab_query_size qs = { .dom = NO_DOMAIN };
    CHECK(HYPERVISOR_grant_table_op(GNTTABOP_query_size, &qs, 1) == 0 && qs.status == GNTST_bad_domain,
          "query_size(no domain) status %d", qs.status);

    static char target[PV_PAGE_SIZE] __attribute__((aligned(PV_PAGE_SIZE)));
    gnttab_map_grant_ref_t map = { .host_addr = (uint64_t)(unsigned long)target, .flags = GNTMAP_host_map,
                                   .ref = 8, .dom = NO_DOMAIN };
    CHECK(HYPERVISOR_grant_table_op(GNTTABOP_map_grant_ref, &map, 1) == 0 && map.status == GNTST_bad_domain,
          "map from no domain status %d", map.status);
    map.dom = DOMID_SELF;
    map.flags = 0;
    CHECK(HYPERVISOR_grant_table_op(GNTTABOP_map_grant_ref, &map, 1) == 0 && map.status == GNTST_bad_gntref,
          "map without host_map/device_map status %d", map.status);
    map.flags = GNTMAP_host_map;
    map.ref = 1u << 30;
    CHECK(HYPERVISOR_grant_table_op(GNTTABOP_map_grant_ref, &map, 1) == 0 && map.status == GNTST_bad_gntref,
          "map of a ref past the table status %d", map.status);
    gnttab_unmap_grant_ref_t un = { .host_addr = (uint64_t)(unsigned long)target, .handle = 12345 };
    CHECK(HYPERVISOR_grant_table_op(GNTTABOP_unmap_grant_ref, &un, 1) == 0 && un.status == GNTST_bad_handle,
          "unmap of a bad handle status %d", un.status);
    gnttab_copy_t cp = {
        .source = { .u.ref = 8, .domid = NO_DOMAIN, .offset = 0 },
        .dest = { .u.gmfn = pv_virt_to_mfn(target), .domid = DOMID_SELF, .offset = 0 },
        .len = 8, .flags = GNTCOPY_source_gref,
    };
    CHECK(HYPERVISOR_grant_table_op(GNTTABOP_copy, &cp, 1) == 0 && cp.status == GNTST_bad_domain,
          "copy from no domain status %d", cp.status);

    /* A read-only grant of our own page, mapped by ourselves. */
    CHECK(pv_gnttab_init(1) == 0, "gnttab_init");
    struct gnttab_set_version v1 = { .version = 1 };
    CHECK(HYPERVISOR_grant_table_op(GNTTABOP_set_version, &v1, 1) == 0 && v1.version == 1, "set_version(1)");
    long self = pv_xenbus_domid();
    char *page = pv_page_alloc();
    CHECK(self >= 0 && page != NULL, "domid %ld and a page", self);
    if (self < 0 || page == NULL)
        return;
    page[0] = 'g';
    long ro = pv_grant_access((domid_t)self, pv_virt_to_mfn(page), true);
    long other = pv_grant_access(NO_DOMAIN, pv_virt_to_mfn(page), false);
    CHECK(ro >= 8 && other >= 8, "grant_access refs %ld %ld", ro, other);
    map.dom = (domid_t)self;
    map.ref = (grant_ref_t)ro;
    map.flags = GNTMAP_host_map;
    CHECK(HYPERVISOR_grant_table_op(GNTTABOP_map_grant_ref, &map, 1) == 0 && map.status == GNTST_general_error,
          "writable map of a read-only grant status %d", map.status);
    map.ref = (grant_ref_t)other;
    CHECK(HYPERVISOR_grant_table_op(GNTTABOP_map_grant_ref, &map, 1) == 0 && map.status == GNTST_general_error,
          "map of a grant to another domain status %d", map.status);
    map.ref = (grant_ref_t)ro;
    map.flags = GNTMAP_host_map | GNTMAP_readonly;
    CHECK(HYPERVISOR_grant_table_op(GNTTABOP_map_grant_ref, &map, 1) == 0 && map.status == GNTST_okay,
          "read-only map status %d", map.status);
    if (map.status == GNTST_okay) {
        CHECK(((volatile char *)target)[0] == 'g', "the read-only mapping shows the page");
        CHECK(pv_grant_end_access((grant_ref_t)ro) == -XEN_EBUSY, "end_access while mapped");
        gnttab_copy_t wr = {
            .source = { .u.gmfn = pv_virt_to_mfn(page), .domid = DOMID_SELF, .offset = 0 },
            .dest = { .u.ref = (grant_ref_t)ro, .domid = (domid_t)self, .offset = 8 },
            .len = 8, .flags = GNTCOPY_dest_gref,
        };
        CHECK(HYPERVISOR_grant_table_op(GNTTABOP_copy, &wr, 1) == 0 && wr.status == GNTST_general_error,
              "copy into a read-only grant status %d", wr.status);
        un.handle = map.handle;
        CHECK(HYPERVISOR_grant_table_op(GNTTABOP_unmap_grant_ref, &un, 1) == 0 && un.status == GNTST_okay,
              "unmap status %d", un.status);
        CHECK(HYPERVISOR_grant_table_op(GNTTABOP_unmap_grant_ref, &un, 1) == 0 && un.status == GNTST_bad_handle,
              "second unmap status %d", un.status);
    }
    CHECK(pv_grant_end_access((grant_ref_t)ro) == 0, "end_access after the unmap");
    pv_grant_end_access((grant_ref_t)other);
    pv_page_free(page);
}

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

    interdomain_checks();
    grant_checks();

    pv_printf("evtchn: %d/%d checks passed\n", passed, total);

    /* Idle: wait for VIRQ_DEBUG, which nobody raises. */
    for (;;)
        poll1(dbg, 0);
}
