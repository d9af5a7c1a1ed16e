/*
 * errno - guest-side tests of issue 5's operations: for event channels,
 * grant tables v1, timers and sched_op, the success path and each errno
 * (or GNTST_* status) Xen returns, that guest-sdk/tests/evtchn does not
 * already cover.  Run with vcpus = 2 (vCPU 1 stays down: a second vCPU for
 * bind_vcpu, per-vCPU timers and vcpu_info bits nothing else touches).
 *
 * Each check has a name (the table in the issue note maps operation x errno
 * to it); a failing one prints "FAIL <name>: <detail>".  The console's last
 * line is "errno: <passed>/<total> checks passed".  Then EVTCHNOP_reset on
 * itself closes every port, console and xenstore included, so its result goes
 * to the hypervisor console (console_io) as "errno: reset: ok"; last,
 * SCHEDOP_shutdown_code(reboot) then (crash) then a poweroff: the domain
 * must be reported as rebooted (the first code wins).
 */
#include <paravirt/pv.h>

static int passed, total;

#define CHECK(name, cond, ...) do {                                     \
        total++;                                                        \
        if (cond) passed++;                                             \
        else { pv_printf("FAIL %s: ", name);                            \
               pv_printf(__VA_ARGS__); pv_printf("\n"); }               \
    } while (0)

/* Unmapped (below the image, nothing is mapped there): every copy from or to it faults. */
#define BAD ((void *)0x10)
#define NO_DOMAIN 1000
#define NO_PORT 4000
#define NOT_CANONICAL 0x0000800000000000UL

static long evtchn(int cmd, void *arg) { return HYPERVISOR_event_channel_op(cmd, arg); }

static long alloc_unbound(domid_t dom, domid_t remote, evtchn_port_t *port)
{
    evtchn_alloc_unbound_t op = { .dom = dom, .remote_dom = remote };
    long rc = evtchn(EVTCHNOP_alloc_unbound, &op);
    *port = op.port;
    return rc;
}

static long bind_interdomain(domid_t remote, evtchn_port_t rport, evtchn_port_t *port)
{
    evtchn_bind_interdomain_t op = { .remote_dom = remote, .remote_port = rport };
    long rc = evtchn(EVTCHNOP_bind_interdomain, &op);
    *port = op.local_port;
    return rc;
}

static long bind_virq(uint32_t virq, uint32_t vcpu, evtchn_port_t *port)
{
    evtchn_bind_virq_t op = { .virq = virq, .vcpu = vcpu };
    long rc = evtchn(EVTCHNOP_bind_virq, &op);
    *port = op.port;
    return rc;
}

static long bind_ipi(uint32_t vcpu, evtchn_port_t *port)
{
    evtchn_bind_ipi_t op = { .vcpu = vcpu };
    long rc = evtchn(EVTCHNOP_bind_ipi, &op);
    *port = op.port;
    return rc;
}

static long close_port(evtchn_port_t port) { evtchn_close_t op = { .port = port }; return evtchn(EVTCHNOP_close, &op); }
static long send_port(evtchn_port_t port) { evtchn_send_t op = { .port = port }; return evtchn(EVTCHNOP_send, &op); }
static long unmask_port(evtchn_port_t port) { evtchn_unmask_t op = { .port = port }; return evtchn(EVTCHNOP_unmask, &op); }
static long bind_vcpu(evtchn_port_t port, uint32_t vcpu) { evtchn_bind_vcpu_t op = { .port = port, .vcpu = vcpu }; return evtchn(EVTCHNOP_bind_vcpu, &op); }

static long status_of(evtchn_port_t port, evtchn_status_t *st)
{
    st->dom = DOMID_SELF;
    st->port = port;
    st->status = 0xff;
    return evtchn(EVTCHNOP_status, st);
}

static long poll_until(evtchn_port_t port, uint64_t deadline)
{
    sched_poll_t p = { .nr_ports = 1, .timeout = deadline };
    set_xen_guest_handle(p.ports, &port);
    return HYPERVISOR_sched_op(SCHEDOP_poll, &p);
}

static int is_pending(evtchn_port_t port) { return pv_evtchn_is_pending(port) == 1; }
static void clear_pending(evtchn_port_t port) { pv_evtchn_test_and_clear(port); }

static void evtchn_checks(void)
{
    evtchn_port_t a, b, p, spare;
    evtchn_status_t st;

    /* alloc_unbound */
    CHECK("alloc_unbound/EFAULT", evtchn(EVTCHNOP_alloc_unbound, BAD) == -XEN_EFAULT, "-");
    CHECK("alloc_unbound/ESRCH", alloc_unbound(NO_DOMAIN, DOMID_SELF, &spare) == -XEN_ESRCH, "no such domain");

    /* bind_interdomain: an unbound port offered to another domain is not ours to bind */
    CHECK("alloc_unbound/ok-for-dom0", alloc_unbound(DOMID_SELF, 0, &a) == 0, "unbound for dom0");
    CHECK("bind_interdomain/EINVAL-not-offered-to-us", bind_interdomain(DOMID_SELF, a, &spare) == -XEN_EINVAL, "-");
    CHECK("bind_interdomain/EINVAL-port-0", bind_interdomain(DOMID_SELF, 0, &spare) == -XEN_EINVAL, "-");
    CHECK("status/unbound-remote", status_of(a, &st) == 0 && st.status == EVTCHNSTAT_unbound && st.u.unbound.dom == 0,
          "status %u dom %u", st.status, st.u.unbound.dom);
    close_port(a);
    CHECK("bind_interdomain/EFAULT", evtchn(EVTCHNOP_bind_interdomain, BAD) == -XEN_EFAULT, "-");

    /* bind_virq / bind_ipi */
    CHECK("bind_virq/EFAULT", evtchn(EVTCHNOP_bind_virq, BAD) == -XEN_EFAULT, "-");
    CHECK("bind_virq/ok-per-vcpu-on-vcpu1", bind_virq(VIRQ_DEBUG, 1, &p) == 0, "VIRQ_DEBUG on vcpu 1");
    CHECK("status/virq-vcpu", status_of(p, &st) == 0 && st.status == EVTCHNSTAT_virq && st.vcpu == 1 && st.u.virq == VIRQ_DEBUG,
          "status %u vcpu %u virq %u", st.status, st.vcpu, st.u.virq);
    CHECK("bind_vcpu/EINVAL-per-vcpu-virq", bind_vcpu(p, 0) == -XEN_EINVAL, "-");
    CHECK("close/ok-virq", close_port(p) == 0, "-");
    CHECK("bind_virq/ok-rebind-after-close", bind_virq(VIRQ_DEBUG, 1, &p) == 0 && close_port(p) == 0, "-");
    CHECK("bind_ipi/EFAULT", evtchn(EVTCHNOP_bind_ipi, BAD) == -XEN_EFAULT, "-");
    CHECK("bind_ipi/ok-vcpu1", bind_ipi(1, &p) == 0, "-");
    CHECK("status/ipi", status_of(p, &st) == 0 && st.status == EVTCHNSTAT_ipi && st.vcpu == 1, "status %u vcpu %u", st.status, st.vcpu);

    /* unmask: a masked pending port is raised on its vCPU (vCPU 1 is down: nothing else touches its vcpu_info) */
    vcpu_info_t *v1 = &pv_shared_info->vcpu_info[1];
    xen_ulong_t word = 1UL << (p / 64);
    CHECK("unmask/precondition-vcpu1-quiet", (v1->evtchn_pending_sel & word) == 0, "sel %lx", (unsigned long)v1->evtchn_pending_sel);
    pv_evtchn_mask(p);
    CHECK("send/ok-ipi-masked", send_port(p) == 0 && is_pending(p), "-");
    CHECK("send/masked-raises-no-selector", (v1->evtchn_pending_sel & word) == 0 && v1->evtchn_upcall_pending == 0,
          "sel %lx upcall %u", (unsigned long)v1->evtchn_pending_sel, v1->evtchn_upcall_pending);
    CHECK("unmask/ok-delivers-pending", unmask_port(p) == 0 && (v1->evtchn_pending_sel & word) != 0 && v1->evtchn_upcall_pending == 1,
          "sel %lx upcall %u", (unsigned long)v1->evtchn_pending_sel, v1->evtchn_upcall_pending);
    CHECK("unmask/ok-port-0", unmask_port(0) == 0, "port 0 is valid (reserved) in Xen");
    CHECK("unmask/EFAULT", evtchn(EVTCHNOP_unmask, BAD) == -XEN_EFAULT, "-");
    clear_pending(p);
    close_port(p);
    __atomic_and_fetch(&v1->evtchn_pending_sel, ~word, __ATOMIC_SEQ_CST);
    v1->evtchn_upcall_pending = 0;

    /* bind_vcpu: an interdomain channel moved to vCPU 1 notifies vCPU 1 */
    CHECK("alloc_unbound/ok-self", alloc_unbound(DOMID_SELF, DOMID_SELF, &a) == 0, "-");
    CHECK("bind_interdomain/ok-self", bind_interdomain(DOMID_SELF, a, &b) == 0, "-");
    clear_pending(b);
    CHECK("bind_vcpu/ok-interdomain-to-vcpu1", bind_vcpu(b, 1) == 0, "-");
    CHECK("status/interdomain-vcpu", status_of(b, &st) == 0 && st.status == EVTCHNSTAT_interdomain && st.vcpu == 1, "vcpu %u", st.vcpu);
    word = 1UL << (b / 64);
    CHECK("send/ok-interdomain-reaches-vcpu1", send_port(a) == 0 && is_pending(b) && (v1->evtchn_pending_sel & word) != 0,
          "sel %lx", (unsigned long)v1->evtchn_pending_sel);
    clear_pending(b);
    __atomic_and_fetch(&v1->evtchn_pending_sel, ~word, __ATOMIC_SEQ_CST);
    v1->evtchn_upcall_pending = 0;
    CHECK("bind_vcpu/ok-unbound", bind_vcpu(a, 0) == 0, "-");
    CHECK("bind_vcpu/EFAULT", evtchn(EVTCHNOP_bind_vcpu, BAD) == -XEN_EFAULT, "-");
    CHECK("close/ok-interdomain", close_port(b) == 0 && close_port(a) == 0, "-");

    /* Closed ports */
    CHECK("status/closed", status_of(a, &st) == 0 && st.status == EVTCHNSTAT_closed, "status %u", st.status);
    CHECK("status/port-0-closed", status_of(0, &st) == 0 && st.status == EVTCHNSTAT_closed, "status %u", st.status);
    CHECK("status/EFAULT", evtchn(EVTCHNOP_status, BAD) == -XEN_EFAULT, "-");
    CHECK("send/EINVAL-closed", send_port(a) == -XEN_EINVAL, "-");
    CHECK("send/EINVAL-port-0", send_port(0) == -XEN_EINVAL, "-");
    CHECK("send/EFAULT", evtchn(EVTCHNOP_send, BAD) == -XEN_EFAULT, "-");
    CHECK("bind_vcpu/EINVAL-closed", bind_vcpu(a, 0) == -XEN_EINVAL, "-");
    CHECK("close/EINVAL-out-of-range", close_port(NO_PORT) == -XEN_EINVAL, "-");
    CHECK("close/EINVAL-port-0", close_port(0) == -XEN_EINVAL, "-");
    CHECK("close/EFAULT", evtchn(EVTCHNOP_close, BAD) == -XEN_EFAULT, "-");
    CHECK("reset/EFAULT", evtchn(EVTCHNOP_reset, BAD) == -XEN_EFAULT, "-");
    CHECK("event_channel_op/ENOSYS", evtchn(99, &st) == -XEN_ENOSYS, "-");

    /* Port exhaustion: every binding operation reports ENOSPC, and a close makes room again. */
    static evtchn_port_t ports[EVTCHN_2L_NR_CHANNELS];
    unsigned int n = 0;
    CHECK("alloc_unbound/ok-fill", alloc_unbound(DOMID_SELF, DOMID_SELF, &a) == 0, "-");
    while (n < EVTCHN_2L_NR_CHANNELS && alloc_unbound(DOMID_SELF, DOMID_SELF, &ports[n]) == 0)
        n++;
    CHECK("bind_interdomain/ENOSPC", bind_interdomain(DOMID_SELF, a, &spare) == -XEN_ENOSPC, "after %u ports", n);
    CHECK("bind_virq/ENOSPC", bind_virq(VIRQ_DEBUG, 0, &spare) == -XEN_ENOSPC, "-");
    CHECK("bind_ipi/ENOSPC", bind_ipi(0, &spare) == -XEN_ENOSPC, "-");
    CHECK("status/ENOSPC-left-a-unbound", status_of(a, &st) == 0 && st.status == EVTCHNSTAT_unbound, "status %u", st.status);
    for (unsigned int i = 0; i < n; i++)
        close_port(ports[i]);
    CHECK("bind_interdomain/ok-after-room", bind_interdomain(DOMID_SELF, a, &b) == 0, "-");
    close_port(b);
    close_port(a);
}

/* ---- Grant tables v1. */

static grant_entry_v1_t *gt;                 /* our own table, mapped here */
static char gt_area[PV_PAGE_SIZE] __attribute__((aligned(PV_PAGE_SIZE)));
static char page_a[PV_PAGE_SIZE] __attribute__((aligned(PV_PAGE_SIZE)));
static char page_b[PV_PAGE_SIZE] __attribute__((aligned(PV_PAGE_SIZE)));
static char map_at[PV_PAGE_SIZE] __attribute__((aligned(PV_PAGE_SIZE)));
static char map_other[PV_PAGE_SIZE] __attribute__((aligned(PV_PAGE_SIZE)));

static long gnttab(unsigned int cmd, void *op, unsigned int count) { return HYPERVISOR_grant_table_op(cmd, op, count); }

static void grant(grant_ref_t ref, domid_t dom, void *page, uint16_t extra)
{
    gt[ref].domid = dom;
    gt[ref].frame = (uint32_t)pv_virt_to_mfn(page);
    pv_wmb();
    gt[ref].flags = GTF_permit_access | extra;
}

static uint16_t flags_of(grant_ref_t ref) { return PV_READ_ONCE(gt[ref].flags); }

static int16_t map_ref(domid_t dom, grant_ref_t ref, uint32_t flags, void *at, grant_handle_t *handle)
{
    gnttab_map_grant_ref_t op = { .host_addr = (uint64_t)(unsigned long)at, .flags = flags, .ref = ref, .dom = dom };
    if (gnttab(GNTTABOP_map_grant_ref, &op, 1) != 0)
        return 99;
    *handle = op.handle;
    return op.status;
}

static int16_t unmap_ref(void *at, grant_handle_t handle)
{
    gnttab_unmap_grant_ref_t op = { .host_addr = (uint64_t)(unsigned long)at, .handle = handle };
    if (gnttab(GNTTABOP_unmap_grant_ref, &op, 1) != 0)
        return 99;
    return op.status;
}

static int16_t copy(uint64_t src, domid_t sdom, uint16_t soff, uint64_t dst, domid_t ddom, uint16_t doff, uint16_t len, uint16_t flags)
{
    gnttab_copy_t op = {
        .source = { .domid = sdom, .offset = soff },
        .dest = { .domid = ddom, .offset = doff },
        .len = len, .flags = flags,
    };
    if (flags & GNTCOPY_source_gref) op.source.u.ref = (grant_ref_t)src; else op.source.u.gmfn = src;
    if (flags & GNTCOPY_dest_gref) op.dest.u.ref = (grant_ref_t)dst; else op.dest.u.gmfn = dst;
    if (gnttab(GNTTABOP_copy, &op, 1) != 0)
        return 99;
    return op.status;
}

static void grant_checks(domid_t self)
{
    xen_pfn_t frame = 0;
    gnttab_setup_table_t su[2] = { { .dom = DOMID_SELF, .nr_frames = 1 }, { .dom = DOMID_SELF, .nr_frames = 1 } };
    set_xen_guest_handle(su[0].frame_list, &frame);
    set_xen_guest_handle(su[1].frame_list, &frame);
    CHECK("setup_table/EINVAL-count-2", gnttab(GNTTABOP_setup_table, su, 2) == -XEN_EINVAL, "-");
    CHECK("setup_table/EFAULT", gnttab(GNTTABOP_setup_table, BAD, 1) == -XEN_EFAULT, "-");
    su[0].dom = 0;
    CHECK("setup_table/GNTST_permission_denied", gnttab(GNTTABOP_setup_table, su, 1) == 0 && su[0].status == GNTST_permission_denied,
          "status %d", su[0].status);
    su[0].dom = DOMID_SELF;
    CHECK("setup_table/ok", gnttab(GNTTABOP_setup_table, su, 1) == 0 && su[0].status == GNTST_okay, "status %d", su[0].status);
    if (su[0].status != GNTST_okay || pv_map_mfn(gt_area, frame, true) != 0)
        return;
    gt = (grant_entry_v1_t *)gt_area;

    /* swap_grant_ref: two idle entries of our own table trade places; a ref past the table is a status. */
    gt[20] = (grant_entry_v1_t){ .flags = GTF_permit_access, .domid = 0, .frame = 0x1111 };
    gt[21] = (grant_entry_v1_t){ .flags = GTF_permit_access | GTF_readonly, .domid = 0, .frame = 0x2222 };
    gnttab_swap_grant_ref_t sw[2] = { { .ref_a = 20, .ref_b = 21 }, { .ref_a = 20, .ref_b = 100000 } };
    CHECK("swap_grant_ref/ok", gnttab(GNTTABOP_swap_grant_ref, sw, 2) == 0 && sw[0].status == GNTST_okay
          && gt[20].frame == 0x2222 && (gt[20].flags & GTF_readonly) && gt[21].frame == 0x1111 && !(gt[21].flags & GTF_readonly),
          "status %d", sw[0].status);
    CHECK("swap_grant_ref/GNTST_bad_gntref", sw[1].status == GNTST_bad_gntref, "status %d", sw[1].status);
    CHECK("swap_grant_ref/EFAULT", gnttab(GNTTABOP_swap_grant_ref, BAD, 1) == -XEN_EFAULT, "-");
    gt[20] = (grant_entry_v1_t){ 0 };
    gt[21] = (grant_entry_v1_t){ 0 };

    struct gnttab_query_size qs[2] = { { .dom = DOMID_SELF }, { .dom = DOMID_SELF } };
    CHECK("query_size/EINVAL-count-2", gnttab(GNTTABOP_query_size, qs, 2) == -XEN_EINVAL, "-");
    CHECK("query_size/EFAULT", gnttab(GNTTABOP_query_size, BAD, 1) == -XEN_EFAULT, "-");
    qs[0].dom = 0;
    CHECK("query_size/GNTST_permission_denied", gnttab(GNTTABOP_query_size, qs, 1) == 0 && qs[0].status == GNTST_permission_denied,
          "status %d", qs[0].status);
    qs[0].dom = DOMID_SELF;
    CHECK("query_size/ok-after-setup", gnttab(GNTTABOP_query_size, qs, 1) == 0 && qs[0].status == GNTST_okay && qs[0].nr_frames >= 1,
          "status %d frames %u", qs[0].status, qs[0].nr_frames);

    struct gnttab_get_version gv = { .dom = NO_DOMAIN };
    CHECK("get_version/ESRCH", gnttab(GNTTABOP_get_version, &gv, 1) == -XEN_ESRCH, "-");
    gv.dom = 0;
    CHECK("get_version/EPERM", gnttab(GNTTABOP_get_version, &gv, 1) == -XEN_EPERM, "-");
    gv.dom = DOMID_SELF;
    CHECK("get_version/EINVAL-count-2", gnttab(GNTTABOP_get_version, &gv, 2) == -XEN_EINVAL, "-");
    CHECK("get_version/EFAULT", gnttab(GNTTABOP_get_version, BAD, 1) == -XEN_EFAULT, "-");
    struct gnttab_set_version sv = { .version = 0 };
    CHECK("set_version/EINVAL-0", gnttab(GNTTABOP_set_version, &sv, 1) == -XEN_EINVAL && sv.version == 1, "version %u", sv.version);
    sv.version = 3;
    CHECK("set_version/EINVAL-3", gnttab(GNTTABOP_set_version, &sv, 1) == -XEN_EINVAL, "-");
    sv.version = 1;
    CHECK("set_version/EINVAL-count-2", gnttab(GNTTABOP_set_version, &sv, 2) == -XEN_EINVAL, "-");
    CHECK("set_version/EFAULT", gnttab(GNTTABOP_set_version, BAD, 1) == -XEN_EFAULT, "-");

    uint64_t status_frame = 0;
    struct gnttab_get_status_frames gs = { .nr_frames = 0, .dom = DOMID_SELF };
    set_xen_guest_handle(gs.frame_list, &status_frame);
    CHECK("get_status_frames/ok-0-frames", gnttab(GNTTABOP_get_status_frames, &gs, 1) == 0 && gs.status == GNTST_okay, "status %d", gs.status);
    gs.nr_frames = 1;
    CHECK("get_status_frames/GNTST_general_error-v1-has-none", gnttab(GNTTABOP_get_status_frames, &gs, 1) == 0 && gs.status == GNTST_general_error,
          "status %d", gs.status);
    gs.dom = NO_DOMAIN;
    CHECK("get_status_frames/GNTST_bad_domain", gnttab(GNTTABOP_get_status_frames, &gs, 1) == 0 && gs.status == GNTST_bad_domain, "status %d", gs.status);
    gs.dom = 0;
    CHECK("get_status_frames/GNTST_permission_denied", gnttab(GNTTABOP_get_status_frames, &gs, 1) == 0 && gs.status == GNTST_permission_denied,
          "status %d", gs.status);
    CHECK("get_status_frames/EINVAL-count-2", gnttab(GNTTABOP_get_status_frames, &gs, 2) == -XEN_EINVAL, "-");
    CHECK("get_status_frames/EFAULT", gnttab(GNTTABOP_get_status_frames, BAD, 1) == -XEN_EFAULT, "-");
    CHECK("grant_table_op/ENOSYS", gnttab(99, &gs, 1) == -XEN_ENOSYS, "-");

    /* cache_flush on x86: CLEAN on our own frame is fine, INVAL alone is unsupported, ranges stay in one page. */
    static uint8_t flush_page[4096] __attribute__((aligned(4096)));
    gnttab_cache_flush_t cf = { .a.dev_bus_addr = pv_virt_to_mfn(flush_page) << 12, .offset = 0, .length = 64,
                                .op = GNTTAB_CACHE_CLEAN | GNTTAB_CACHE_INVAL };
    CHECK("cache_flush/ok-clean", gnttab(GNTTABOP_cache_flush, &cf, 1) == 0, "-");
    cf.op = GNTTAB_CACHE_INVAL;
    CHECK("cache_flush/EOPNOTSUPP-inval-only", gnttab(GNTTABOP_cache_flush, &cf, 1) == -XEN_EOPNOTSUPP, "-");
    cf.op = GNTTAB_CACHE_CLEAN;
    cf.offset = 4064;
    CHECK("cache_flush/EINVAL-past-the-page", gnttab(GNTTABOP_cache_flush, &cf, 1) == -XEN_EINVAL, "-");
    cf.offset = 0;
    cf.a.dev_bus_addr = 0; /* machine frame 0: nobody's */
    CHECK("cache_flush/EPERM-unowned", gnttab(GNTTABOP_cache_flush, &cf, 1) == -XEN_EPERM, "-");

    /* map: GTF checks and GTF_reading/GTF_writing tracking */
    grant_handle_t h = 0, h2 = 0;
    CHECK("map/GNTST_general_error-not-granted", map_ref(self, 9, GNTMAP_host_map, map_at, &h) == GNTST_general_error, "-");
    CHECK("map/EFAULT", gnttab(GNTTABOP_map_grant_ref, BAD, 1) == -XEN_EFAULT, "-");
    page_a[0] = 'a';
    grant(10, self, page_a, 0);
    CHECK("map/GNTST_general_error-bad-host-addr", map_ref(self, 10, GNTMAP_host_map, (void *)NOT_CANONICAL, &h) == GNTST_general_error,
          "-");
    CHECK("map/no-trace-after-failure", (flags_of(10) & (GTF_reading | GTF_writing)) == 0, "flags %x", flags_of(10));
    CHECK("map/ok-writable", map_ref(self, 10, GNTMAP_host_map, map_at, &h) == GNTST_okay, "-");
    CHECK("map/GTF_reading-and-GTF_writing-while-mapped", (flags_of(10) & (GTF_reading | GTF_writing)) == (GTF_reading | GTF_writing),
          "flags %x", flags_of(10));
    ((volatile char *)map_at)[1] = 'w';
    CHECK("map/writes-reach-the-granted-page", ((volatile char *)page_a)[1] == 'w', "-");
    CHECK("unmap/GNTST_general_error-wrong-host-addr", unmap_ref(map_other, h) == GNTST_general_error, "-");
    CHECK("unmap/EFAULT", gnttab(GNTTABOP_unmap_grant_ref, BAD, 1) == -XEN_EFAULT, "-");
    CHECK("unmap/ok", unmap_ref(map_at, h) == GNTST_okay, "-");
    CHECK("unmap/clears-GTF_reading-GTF_writing", (flags_of(10) & (GTF_reading | GTF_writing)) == 0, "flags %x", flags_of(10));
    gt[10].flags = GTF_permit_access | GTF_readonly;
    CHECK("map/ok-readonly", map_ref(self, 10, GNTMAP_host_map | GNTMAP_readonly, map_at, &h) == GNTST_okay, "-");
    CHECK("map/GTF_reading-only-for-readonly", (flags_of(10) & (GTF_reading | GTF_writing)) == GTF_reading, "flags %x", flags_of(10));
    CHECK("map/ok-second-readonly-mapping", map_ref(self, 10, GNTMAP_host_map | GNTMAP_readonly, map_other, &h2) == GNTST_okay, "-");
    CHECK("unmap/ok-first-of-two", unmap_ref(map_at, h) == GNTST_okay && (flags_of(10) & GTF_reading) != 0,
          "GTF_reading kept while one mapping lives: flags %x", flags_of(10));
    CHECK("unmap/ok-last", unmap_ref(map_other, h2) == GNTST_okay && (flags_of(10) & GTF_reading) == 0, "flags %x", flags_of(10));

    /* copy: both directions through a grant, and its errors */
    grant(11, self, page_b, 0);
    memcpy(page_a, "copy-source-bytes", 18);
    memset(page_b, 0, 32);
    CHECK("copy/ok-into-grant", copy(pv_virt_to_mfn(page_a), DOMID_SELF, 0, 11, self, 4, 18, GNTCOPY_dest_gref) == GNTST_okay
          && memcmp(page_b + 4, "copy-source-bytes", 18) == 0, "-");
    CHECK("copy/no-GTF-flags-left", (flags_of(11) & (GTF_reading | GTF_writing)) == 0, "flags %x", flags_of(11));
    memset(page_a, 0, 32);
    CHECK("copy/ok-out-of-grant", copy(11, self, 4, pv_virt_to_mfn(page_a), DOMID_SELF, 0, 18, GNTCOPY_source_gref) == GNTST_okay
          && memcmp(page_a, "copy-source-bytes", 18) == 0, "-");
    CHECK("copy/ok-out-of-readonly-grant", copy(10, self, 0, pv_virt_to_mfn(page_a), DOMID_SELF, 100, 4, GNTCOPY_source_gref) == GNTST_okay, "-");
    CHECK("copy/GNTST_general_error-into-readonly-grant", copy(pv_virt_to_mfn(page_a), DOMID_SELF, 0, 10, self, 0, 4, GNTCOPY_dest_gref) == GNTST_general_error, "-");
    grant(12, NO_DOMAIN, page_b, 0);
    CHECK("copy/GNTST_general_error-grant-for-another-domain", copy(12, self, 0, pv_virt_to_mfn(page_a), DOMID_SELF, 0, 4, GNTCOPY_source_gref) == GNTST_general_error, "-");
    CHECK("copy/GNTST_bad_gntref", copy(1u << 30, self, 0, pv_virt_to_mfn(page_a), DOMID_SELF, 0, 4, GNTCOPY_source_gref) == GNTST_bad_gntref, "-");
    CHECK("copy/GNTST_bad_copy_arg-crosses-page", copy(11, self, 4090, pv_virt_to_mfn(page_a), DOMID_SELF, 0, 8, GNTCOPY_source_gref) == GNTST_bad_copy_arg, "-");
    CHECK("copy/GNTST_permission_denied-frame-of-another-domain", copy(pv_virt_to_mfn(page_a), 0, 0, pv_virt_to_mfn(page_b), DOMID_SELF, 0, 4, 0) == GNTST_permission_denied, "-");
    CHECK("copy/GNTST_bad_page-frame-not-ours", copy(1, DOMID_SELF, 0, pv_virt_to_mfn(page_b), DOMID_SELF, 0, 4, 0) == GNTST_bad_page, "-");
    CHECK("copy/EFAULT", gnttab(GNTTABOP_copy, BAD, 1) == -XEN_EFAULT, "-");
    gt[10].flags = 0;
    gt[11].flags = 0;
    gt[12].flags = 0;
}

/* ---- Timers. */

static void timer_checks(evtchn_port_t timer)
{
    uint64_t now = pv_system_time_ns();
    clear_pending(timer);
    CHECK("set_timer_op/ok", HYPERVISOR_set_timer_op(now + 2000000) == 0, "-");
    CHECK("set_timer_op/ok-0-cancels", HYPERVISOR_set_timer_op(0) == 0, "-");
    poll_until(timer, pv_system_time_ns() + 10000000);
    CHECK("set_timer_op/cancelled-timer-never-fires", !is_pending(timer), "-");

    struct vcpu_set_singleshot_timer ss = { .timeout_abs_ns = pv_system_time_ns() + 2000000, .flags = VCPU_SSHOTTMR_future };
    CHECK("set_singleshot_timer/ok-future", HYPERVISOR_vcpu_op(VCPUOP_set_singleshot_timer, 0, &ss) == 0, "-");
    poll_until(timer, pv_system_time_ns() + 1000000000);
    CHECK("set_singleshot_timer/fires-VIRQ_TIMER", is_pending(timer) && pv_system_time_ns() >= ss.timeout_abs_ns, "-");
    clear_pending(timer);
    ss.timeout_abs_ns = pv_system_time_ns() + 2000000;
    CHECK("stop_singleshot_timer/ok", HYPERVISOR_vcpu_op(VCPUOP_set_singleshot_timer, 0, &ss) == 0
          && HYPERVISOR_vcpu_op(VCPUOP_stop_singleshot_timer, 0, NULL) == 0, "-");
    poll_until(timer, pv_system_time_ns() + 10000000);
    CHECK("stop_singleshot_timer/stopped-timer-never-fires", !is_pending(timer), "-");
    CHECK("set_singleshot_timer/EINVAL-other-vcpu", HYPERVISOR_vcpu_op(VCPUOP_set_singleshot_timer, 1, &ss) == -XEN_EINVAL, "-");
    CHECK("stop_singleshot_timer/EINVAL-other-vcpu", HYPERVISOR_vcpu_op(VCPUOP_stop_singleshot_timer, 1, NULL) == -XEN_EINVAL, "-");
    CHECK("set_singleshot_timer/EFAULT", HYPERVISOR_vcpu_op(VCPUOP_set_singleshot_timer, 0, BAD) == -XEN_EFAULT, "-");

    struct vcpu_set_periodic_timer pt = { .period_ns = 999999 };
    CHECK("set_periodic_timer/EINVAL-below-1ms", HYPERVISOR_vcpu_op(VCPUOP_set_periodic_timer, 0, &pt) == -XEN_EINVAL, "-");
    CHECK("set_periodic_timer/EFAULT", HYPERVISOR_vcpu_op(VCPUOP_set_periodic_timer, 0, BAD) == -XEN_EFAULT, "-");
    CHECK("set_periodic_timer/ENOENT", HYPERVISOR_vcpu_op(VCPUOP_set_periodic_timer, 5, &pt) == -XEN_ENOENT, "-");
    pt.period_ns = 2000000;
    CHECK("set_periodic_timer/ok", HYPERVISOR_vcpu_op(VCPUOP_set_periodic_timer, 0, &pt) == 0, "-");
    /* Ticks that come faster than the guest takes them coalesce in the pending bit: count wake-ups. */
    int ticks = 0;
    uint64_t give_up = pv_system_time_ns() + 1000000000;
    while (ticks < 3 && pv_system_time_ns() < give_up) {
        poll_until(timer, pv_system_time_ns() + 20000000);
        if (pv_evtchn_test_and_clear(timer) == 1)
            ticks++;
    }
    CHECK("set_periodic_timer/ticks", ticks == 3, "%d ticks in 1 s", ticks);
    CHECK("stop_periodic_timer/ok", HYPERVISOR_vcpu_op(VCPUOP_stop_periodic_timer, 0, NULL) == 0, "-");
    clear_pending(timer);
    poll_until(timer, pv_system_time_ns() + 10000000);
    CHECK("stop_periodic_timer/no-more-ticks", !is_pending(timer), "-");
    CHECK("vcpu_op/ENOSYS", HYPERVISOR_vcpu_op(99, 0, NULL) == -XEN_ENOSYS, "-");
}

/* ---- sched_op. */

static void sched_checks(evtchn_port_t timer)
{
    vcpu_info_t *v0 = &pv_shared_info->vcpu_info[0];

    /* block: sleeps until an event is pending, with delivery enabled (the libpv callback leaves the
     * timer port pending: it has no handler). */
    CHECK("block/precondition-callback", pv_evtchn_enable_upcalls() == 0, "-");
    pv_evtchn_disable_upcalls();
    clear_pending(timer);
    uint64_t start = pv_system_time_ns();
    HYPERVISOR_set_timer_op(start + 3000000);
    CHECK("block/ok-wakes-on-event", HYPERVISOR_sched_op(SCHEDOP_block, NULL) == 0 && is_pending(timer)
          && pv_system_time_ns() >= start + 3000000, "-");
    CHECK("block/enables-event-delivery", v0->evtchn_upcall_mask == 0, "mask %u", v0->evtchn_upcall_mask);

    /* poll needs upcalls masked */
    CHECK("poll/EINVAL-upcalls-unmasked", poll_until(timer, 0) == -XEN_EINVAL, "-");
    pv_evtchn_disable_upcalls();
    clear_pending(timer);
    CHECK("poll/EINVAL-port-past-limit", poll_until(5000, 0) == -XEN_EINVAL, "-");
    CHECK("poll/EINVAL-port-4096", poll_until(4096, 0) == -XEN_EINVAL, "-");
    /* The bound is the 2-level ABI's 4096 ports (Xen's d->max_evtchns), not max_event_channels: a port this
     * domain could never allocate is polled like any other, and the deadline (already past) ends it. */
    CHECK("poll/ok-port-past-max_event_channels", poll_until(4095, 1) == 0, "-");
    sched_poll_t bad = { .nr_ports = 1, .timeout = 0 };
    set_xen_guest_handle(bad.ports, (evtchn_port_t *)BAD);
    CHECK("poll/EFAULT-ports", HYPERVISOR_sched_op(SCHEDOP_poll, &bad) == -XEN_EFAULT, "-");
    CHECK("poll/EFAULT", HYPERVISOR_sched_op(SCHEDOP_poll, BAD) == -XEN_EFAULT, "-");
    uint64_t deadline = pv_system_time_ns() + 3000000;
    /* Any unmasked event (xenconsoled acknowledging console output, say) also ends a poll, in Xen too:
     * poll again until the deadline, as a guest does. */
    long prc;
    uint64_t woke;
    do {
        prc = poll_until(timer, deadline);
        woke = pv_system_time_ns();
    } while (prc == 0 && woke < deadline && !is_pending(timer));
    int ppending = is_pending(timer);
    CHECK("poll/ok-timeout", prc == 0 && woke >= deadline && !ppending,
          "rc %ld, woke %ld ns after the deadline, timer pending %d", prc, (long)(woke - deadline), ppending);

    /* remote_shutdown: not for a guest */
    sched_remote_shutdown_t rs = { .domain_id = NO_DOMAIN, .reason = SHUTDOWN_poweroff };
    CHECK("remote_shutdown/ESRCH", HYPERVISOR_sched_op(SCHEDOP_remote_shutdown, &rs) == -XEN_ESRCH, "-");
    rs.domain_id = 0;
    CHECK("remote_shutdown/EPERM", HYPERVISOR_sched_op(SCHEDOP_remote_shutdown, &rs) == -XEN_EPERM, "-");
    CHECK("remote_shutdown/EFAULT", HYPERVISOR_sched_op(SCHEDOP_remote_shutdown, BAD) == -XEN_EFAULT, "-");
    CHECK("shutdown/EFAULT", HYPERVISOR_sched_op(SCHEDOP_shutdown, BAD) == -XEN_EFAULT, "and the domain keeps running");
    CHECK("shutdown_code/EFAULT", HYPERVISOR_sched_op(SCHEDOP_shutdown_code, BAD) == -XEN_EFAULT, "-");

    /* watchdog: two slots */
    sched_watchdog_t wd = { .id = 0, .timeout = 3600 };
    long w1 = HYPERVISOR_sched_op(SCHEDOP_watchdog, &wd);
    long w2 = HYPERVISOR_sched_op(SCHEDOP_watchdog, &wd);
    CHECK("watchdog/ok-new-ids", w1 == 1 && w2 == 2, "ids %ld %ld", w1, w2);
    CHECK("watchdog/ENOSPC", HYPERVISOR_sched_op(SCHEDOP_watchdog, &wd) == -XEN_ENOSPC, "-");
    wd.id = 3;
    CHECK("watchdog/EINVAL-id-past-slots", HYPERVISOR_sched_op(SCHEDOP_watchdog, &wd) == -XEN_EINVAL, "-");
    wd.id = 1;
    CHECK("watchdog/ok-rearm", HYPERVISOR_sched_op(SCHEDOP_watchdog, &wd) == 0, "-");
    wd.timeout = 0;
    CHECK("watchdog/ok-release", HYPERVISOR_sched_op(SCHEDOP_watchdog, &wd) == 0, "-");
    CHECK("watchdog/EINVAL-not-in-use", HYPERVISOR_sched_op(SCHEDOP_watchdog, &wd) == -XEN_EINVAL, "-");
    wd.id = 2;
    HYPERVISOR_sched_op(SCHEDOP_watchdog, &wd);
    CHECK("watchdog/EFAULT", HYPERVISOR_sched_op(SCHEDOP_watchdog, BAD) == -XEN_EFAULT, "-");
    CHECK("sched_op/ENOSYS", HYPERVISOR_sched_op(99, NULL) == -XEN_ENOSYS, "-");
}

static void hv_print(const char *s)
{
    HYPERVISOR_console_io(CONSOLEIO_write, (unsigned int)strlen(s), (char *)s);
}

int pv_main(start_info_t *si)
{
    (void)si;
    long self = pv_xenbus_domid();
    if (self < 0)
        pv_panic("errno: no domid (%ld)", self);
    evtchn_port_t timer;
    if (pv_timer_port(&timer) != 0)
        pv_panic("errno: no VIRQ_TIMER port");

    evtchn_checks();
    grant_checks((domid_t)self);
    timer_checks(timer);
    sched_checks(timer);
    pv_printf("errno: %d/%d checks passed\n", passed, total);

    /* reset(self): every port closes, the console's and the store's too. */
    evtchn_port_t ipi;
    bind_ipi(0, &ipi);
    evtchn_reset_t r = { .dom = DOMID_SELF };
    evtchn_status_t st;
    bool ok = evtchn(EVTCHNOP_reset, &r) == 0 && status_of(ipi, &st) == 0 && st.status == EVTCHNSTAT_closed
              && status_of(si->console.domU.evtchn, &st) == 0 && st.status == EVTCHNSTAT_closed;
    hv_print(ok ? "errno: reset: ok\n" : "errno: reset: FAIL\n");

    /* The first shutdown code wins, and a later shutdown reports it. */
    sched_shutdown_t code = { .reason = SHUTDOWN_reboot };
    HYPERVISOR_sched_op(SCHEDOP_shutdown_code, &code);
    code.reason = SHUTDOWN_crash;
    HYPERVISOR_sched_op(SCHEDOP_shutdown_code, &code);
    return 0;
}
