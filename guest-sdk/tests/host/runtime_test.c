/*
 * runtime_test.c - host-side tests of libpv's portable logic: the printf
 * engine (against the host C library's snprintf), the xenstore client and
 * the console writer (against a scripted fake xenstored / xenconsoled that
 * runs whenever the guest code notifies or yields).
 *
 * Built and run by `make check` with the host compiler; the runtime files
 * are compiled unchanged, only the hypervisor-facing primitives
 * (pv_evtchn_send, pv_yield, pv_mfn_to_virt) are replaced below.
 */
#include <paravirt/pv.h>

#include <stdio.h>
#include <stdlib.h>

#include "../../lib/internal.h"

static int failures;
static int checks;

#define CHECK(cond, ...) do {                                              \
        checks++;                                                          \
        if (!(cond)) {                                                     \
            failures++;                                                    \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);           \
            fprintf(stderr, __VA_ARGS__);                                  \
            fprintf(stderr, "\n");                                         \
        }                                                                  \
    } while (0)

/* ------------------------------------------------------------------------
 * Fake hypervisor primitives and back-ends.
 */
#define STORE_MFN   0x1234UL
#define CONS_MFN    0x5678UL
#define STORE_PORT  1
#define CONS_PORT   2

static struct xenstore_domain_interface store __attribute__((aligned(4096)));
static struct xencons_interface cons __attribute__((aligned(4096)));
start_info_t *pv_start_info;
struct xen_hypercall_stub hypercall_page[128];   /* never called on the host */

static unsigned long yields, store_kicks, cons_kicks;
static bool cons_backend_drains = true;

void *pv_mfn_to_virt(xen_pfn_t mfn)
{
    if (mfn == STORE_MFN) return &store;
    if (mfn == CONS_MFN) return &cons;
    return NULL;
}

/* ---- Fake xenstored: collects one request, answers from a script. */
static char srv_in[8192];
static size_t srv_in_len;
static struct xsd_sockmsg last_req;
static char last_payload[XENSTORE_PAYLOAD_MAX];
static int requests_seen;

static char srv_out[16384];     /* scripted reply bytes not yet in the ring */
static size_t srv_out_len, srv_out_pos;

static void script_reset(void)
{
    srv_in_len = 0;
    srv_out_len = srv_out_pos = 0;
    requests_seen = 0;
    memset(&last_req, 0, sizeof(last_req));
}

static void script_reply(uint32_t type, uint32_t req_id, const void *payload, uint32_t len)
{
    struct xsd_sockmsg h = { .type = type, .req_id = req_id, .tx_id = 0, .len = len };
    memcpy(srv_out + srv_out_len, &h, sizeof(h));
    srv_out_len += sizeof(h);
    memcpy(srv_out + srv_out_len, payload, len);
    srv_out_len += len;
}

static void xenstored_step(void)
{
    /* Consume whatever the guest published. */
    while (store.req_cons != store.req_prod && srv_in_len < sizeof(srv_in))
        srv_in[srv_in_len++] = store.req[MASK_XENSTORE_IDX(store.req_cons++)];
    if (srv_in_len >= sizeof(struct xsd_sockmsg)) {
        struct xsd_sockmsg h;
        memcpy(&h, srv_in, sizeof(h));
        if (srv_in_len >= sizeof(h) + h.len && h.len <= sizeof(last_payload)) {
            last_req = h;
            memcpy(last_payload, srv_in + sizeof(h), h.len);
            requests_seen++;
            srv_in_len = 0;
        }
    }
    /* Release scripted reply bytes only after the request arrived. */
    if (requests_seen == 0)
        return;
    while (srv_out_pos < srv_out_len && store.rsp_prod - store.rsp_cons < XENSTORE_RING_SIZE)
        store.rsp[MASK_XENSTORE_IDX(store.rsp_prod++)] = srv_out[srv_out_pos++];
}

/* ---- Fake xenconsoled: drains the output ring on every yield. */
static char cons_seen[65536];
static size_t cons_seen_len;

static void xenconsoled_step(void)
{
    if (!cons_backend_drains)
        return;
    while (cons.out_cons != cons.out_prod && cons_seen_len < sizeof(cons_seen))
        cons_seen[cons_seen_len++] = cons.out[MASK_XENCONS_IDX(cons.out_cons++, cons.out)];
}

long pv_evtchn_send(evtchn_port_t port)
{
    if (port == STORE_PORT) { store_kicks++; xenstored_step(); }
    if (port == CONS_PORT) cons_kicks++;
    return 0;
}

void pv_yield(void)
{
    if (++yields > 1000000) {
        fprintf(stderr, "FAIL: guest code spins forever\n");
        exit(2);
    }
    xenstored_step();
    xenconsoled_step();
}

static void reset_rings(uint32_t store_start, uint32_t cons_start)
{
    memset(&store, 0, sizeof(store));
    memset(&cons, 0, sizeof(cons));
    store.req_cons = store.req_prod = store_start;
    store.rsp_cons = store.rsp_prod = store_start;
    cons.out_cons = cons.out_prod = cons_start;
    cons_seen_len = 0;
    cons_backend_drains = true;
    yields = store_kicks = cons_kicks = 0;
    script_reset();
}

/* ------------------------------------------------------------------------
 * printf engine vs. the host's snprintf.
 */
#define CHECK_FMT(...) do {                                                 \
        char mine[512], ref[512];                                          \
        int n1 = pv_snprintf(mine, sizeof(mine), __VA_ARGS__);             \
        int n2 = snprintf(ref, sizeof(ref), __VA_ARGS__);                  \
        CHECK(n1 == n2 && strcmp(mine, ref) == 0,                          \
              "format %s: got \"%s\" (%d), want \"%s\" (%d)",              \
              #__VA_ARGS__, mine, n1, ref, n2);                            \
    } while (0)

static void test_printf_matches_c_library(void)
{
    CHECK_FMT("plain text");
    CHECK_FMT("%d %d %d", 0, 42, -42);
    CHECK_FMT("%d %d", 2147483647, -2147483647 - 1);
    CHECK_FMT("%i", -7);
    CHECK_FMT("%u %u", 0u, 4294967295u);
    CHECK_FMT("%x %X %x", 0xdeadbeefu, 0xdeadbeefu, 0u);
    CHECK_FMT("%lx %lu %ld", 0xffffffff80000000UL, 18446744073709551615UL, -9223372036854775807L - 1);
    CHECK_FMT("%llx %lld", 0x123456789abcdefULL, -1LL);
    CHECK_FMT("%zu %zx", (size_t)4096, (size_t)4096);
    CHECK_FMT("%hhu %hhd %hu %hd", 300, 200, 70000, 40000);
    CHECK_FMT("%o %o", 8u, 0u);
    CHECK_FMT("[%5d] [%-5d] [%05d] [%-05d]", 42, 42, 42, 42);
    CHECK_FMT("[%05d] [%5d] [%05x]", -42, -42, 0xabu);
    CHECK_FMT("[%016lx]", 0x1234UL);
    CHECK_FMT("[%.3d] [%.0d] [%5.3d] [%05.3d]", 7, 0, -7, 7);
    CHECK_FMT("[%*d] [%-*d] [%*d]", 6, 1, 6, 1, -6, 1);
    CHECK_FMT("[%c] [%3c] [%-3c]", 'a', 'b', 'c');
    CHECK_FMT("[%s] [%8s] [%-8s] [%.2s] [%.*s]", "abc", "abc", "abc", "abc", 1, "xyz");
    CHECK_FMT("[%.*s]", -1, "negative precision means none");
    CHECK_FMT("100%% sure");
    CHECK_FMT("Hello from Paravirt domain %u\n", 7u);

    char buf[64];
    pv_snprintf(buf, sizeof(buf), "%p", (void *)0xffffffff80001000UL);
    CHECK(strcmp(buf, "0xffffffff80001000") == 0, "%%p of a kernel address: %s", buf);
    pv_snprintf(buf, sizeof(buf), "%p", (void *)0x10);
    CHECK(strcmp(buf, "0x0000000000000010") == 0, "%%p pads to 16 digits: %s", buf);
    pv_snprintf(buf, sizeof(buf), "%s", (char *)NULL);
    CHECK(strcmp(buf, "(null)") == 0, "NULL string: %s", buf);
    pv_snprintf(buf, sizeof(buf), "a%qb");
    CHECK(strcmp(buf, "a%qb") == 0, "unknown conversion is printed verbatim: %s", buf);
    pv_snprintf(buf, sizeof(buf), "tail %");
    CHECK(strcmp(buf, "tail %") == 0, "dangling %% is printed verbatim: %s", buf);
}

static void test_snprintf_truncates_and_reports_full_length(void)
{
    char buf[8];
    memset(buf, 'X', sizeof(buf));
    int n = pv_snprintf(buf, 5, "%s", "abcdefgh");
    CHECK(n == 8, "returns full length, got %d", n);
    CHECK(strcmp(buf, "abcd") == 0, "keeps size-1 bytes: %s", buf);
    CHECK(buf[5] == 'X', "does not write past size");

    n = pv_snprintf(buf, 0, "%d", 12345);
    CHECK(n == 5 && buf[0] == 'a', "size 0 writes nothing, got %d", n);
}

/* ------------------------------------------------------------------------
 * Console writer.
 */
static start_info_t boot_info(void)
{
    start_info_t si;
    memset(&si, 0, sizeof(si));
    memcpy(si.magic, "xen-3.0-x86_64", 15);
    si.store_mfn = STORE_MFN;
    si.store_evtchn = STORE_PORT;
    si.console.domU.mfn = CONS_MFN;
    si.console.domU.evtchn = CONS_PORT;
    return si;
}

static void test_console_write_publishes_bytes_and_notifies(void)
{
    reset_rings(0, 0);
    start_info_t si = boot_info();
    pv_console_init(&si);

    pv_printf("Hello from Paravirt domain %u\n", 3u);
    const char *want = "Hello from Paravirt domain 3\n";
    CHECK(cons.out_prod == strlen(want), "out_prod advanced by the message: %u", cons.out_prod);
    CHECK(memcmp(cons.out, want, strlen(want)) == 0, "bytes in out[]");
    CHECK(cons_kicks >= 1, "backend notified");
    CHECK(cons.out_cons == 0, "guest never moves out_cons");
}

static void test_console_write_wraps_and_waits_for_space(void)
{
    /* Start near the 32-bit wrap so index arithmetic is exercised too. */
    reset_rings(0, 0xfffffc00u);
    start_info_t si = boot_info();
    pv_console_init(&si);

    static char msg[5000];
    for (size_t i = 0; i < sizeof(msg); i++)
        msg[i] = (char)('a' + i % 26);
    long rc = pv_console_write(msg, sizeof(msg));
    xenconsoled_step();
    CHECK(rc == (long)sizeof(msg), "all bytes written, rc=%ld", rc);
    CHECK(cons_seen_len == sizeof(msg) && memcmp(cons_seen, msg, sizeof(msg)) == 0,
          "backend saw the exact byte stream (%zu bytes)", cons_seen_len);
    CHECK(yields >= 2, "yielded while the 2 KiB ring was full (%lu yields)", yields);
}

static void test_console_write_rejects_corrupt_indexes(void)
{
    reset_rings(0, 0);
    start_info_t si = boot_info();
    pv_console_init(&si);
    cons.out_prod = 5000;   /* 5000 unread bytes in a 2048-byte ring: impossible */
    long rc = pv_console_write("x", 1);
    CHECK(rc == -XEN_EIO, "corrupt ring gives -EIO, got %ld", rc);
}

/* ------------------------------------------------------------------------
 * Xenstore client.
 */
static void init_store(uint32_t start)
{
    reset_rings(start, 0);
    start_info_t si = boot_info();
    pv_xenbus_init(&si);
}

static void test_xenbus_read_sends_xs_read_and_returns_value(void)
{
    init_store(0);
    script_reply(XS_READ, 0, "7", 1);
    char buf[16];
    int rc = pv_xenbus_read("domid", buf, sizeof(buf));
    CHECK(rc == 1 && strcmp(buf, "7") == 0, "read domid: rc=%d buf=%s", rc, buf);
    CHECK(last_req.type == XS_READ && last_req.req_id == 0 && last_req.tx_id == 0,
          "request header type=%u req_id=%u tx_id=%u", last_req.type, last_req.req_id, last_req.tx_id);
    CHECK(last_req.len == 6 && memcmp(last_payload, "domid", 6) == 0,
          "payload is the path with its NUL (len=%u)", last_req.len);
    CHECK(store.rsp_cons == store.rsp_prod, "reply fully consumed");
}

static void test_xenbus_read_maps_xs_error_to_errno(void)
{
    init_store(0);
    script_reply(XS_ERROR, 0, "ENOENT", 7);
    char buf[16];
    int rc = pv_xenbus_read("nonexistent", buf, sizeof(buf));
    CHECK(rc == -XEN_ENOENT, "ENOENT -> -%d, got %d", XEN_ENOENT, rc);

    init_store(0);
    script_reply(XS_ERROR, 0, "EACCES", 7);
    rc = pv_xenbus_read("/local/domain/0/secret", buf, sizeof(buf));
    CHECK(rc == -XEN_EACCES, "EACCES -> -%d, got %d", XEN_EACCES, rc);

    init_store(0);
    script_reply(XS_ERROR, 0, "EWHATEVER", 10);
    rc = pv_xenbus_read("x", buf, sizeof(buf));
    CHECK(rc == -XEN_EIO, "unknown error name -> -EIO, got %d", rc);
}

static void test_xenbus_read_skips_stray_watch_events(void)
{
    init_store(0);
    script_reply(XS_WATCH_EVENT, 0, "some/path\0tok", 14);
    script_reply(XS_READ, 0, "42", 2);
    char buf[16];
    int rc = pv_xenbus_read("domid", buf, sizeof(buf));
    CHECK(rc == 2 && strcmp(buf, "42") == 0, "value after watch event: rc=%d buf=%s", rc, buf);
}

static void test_xenbus_read_reports_value_too_big_and_consumes_it(void)
{
    init_store(0);
    script_reply(XS_READ, 0, "0123456789abcdef", 16);
    char buf[8];
    int rc = pv_xenbus_read("big", buf, sizeof(buf));
    CHECK(rc == -XEN_E2BIG && buf[0] == '\0', "too big -> -E2BIG, got %d", rc);
    CHECK(store.rsp_cons == store.rsp_prod, "oversized reply still consumed");
}

static void test_xenbus_read_handles_reply_larger_than_ring_across_wrap(void)
{
    init_store(0xfffffff0u);    /* indexes wrap during the exchange */
    static char value[3000];
    for (size_t i = 0; i < sizeof(value); i++)
        value[i] = (char)('A' + i % 26);
    script_reply(XS_READ, 0, value, sizeof(value));
    static char buf[4000];
    int rc = pv_xenbus_read("large", buf, sizeof(buf));
    CHECK(rc == (int)sizeof(value) && memcmp(buf, value, sizeof(value)) == 0 && buf[rc] == '\0',
          "3000-byte value through a 1 KiB ring, rc=%d", rc);
}

static void test_xenbus_read_rejects_corrupt_reply_ring(void)
{
    init_store(0);
    /* A well-formed reply sits in the ring, but the producer index claims
     * more unread bytes than the ring holds: the indexes cannot be trusted. */
    struct xsd_sockmsg h = { .type = XS_READ, .len = 1 };
    memcpy(store.rsp, &h, sizeof(h));
    store.rsp[sizeof(h)] = '7';
    store.rsp_prod = 4000;
    char buf[16];
    int rc = pv_xenbus_read("domid", buf, sizeof(buf));
    CHECK(rc == -XEN_EIO, "corrupt rsp indexes -> -EIO, got %d", rc);
}

static void test_xenbus_read_rejects_oversized_reply_length(void)
{
    init_store(0);
    struct xsd_sockmsg h = { .type = XS_READ, .len = XENSTORE_PAYLOAD_MAX + 1 };
    memcpy(srv_out, &h, sizeof(h));
    srv_out_len = sizeof(h);
    char buf[16];
    int rc = pv_xenbus_read("domid", buf, sizeof(buf));
    CHECK(rc == -XEN_EIO, "len > XENSTORE_PAYLOAD_MAX -> -EIO, got %d", rc);
}

static void test_xenbus_read_rejects_mismatched_reply_type(void)
{
    init_store(0);
    script_reply(XS_WRITE, 0, "OK", 3);
    char buf[16];
    int rc = pv_xenbus_read("domid", buf, sizeof(buf));
    CHECK(rc == -XEN_EIO, "reply of another type -> -EIO, got %d", rc);
}

static void test_xenbus_read_without_store_ring_fails(void)
{
    reset_rings(0, 0);
    start_info_t si = boot_info();
    si.store_mfn = 0x9999;      /* not one of the domain's frames */
    pv_xenbus_init(&si);
    char buf[16];
    int rc = pv_xenbus_read("domid", buf, sizeof(buf));
    CHECK(rc == -XEN_ENODEV, "no ring -> -ENODEV, got %d", rc);
    CHECK(pv_xenbus_read(NULL, buf, sizeof(buf)) == -XEN_EINVAL, "NULL path -> -EINVAL");
}

int main(void)
{
    test_printf_matches_c_library();
    test_snprintf_truncates_and_reports_full_length();
    test_console_write_publishes_bytes_and_notifies();
    test_console_write_wraps_and_waits_for_space();
    test_console_write_rejects_corrupt_indexes();
    test_xenbus_read_sends_xs_read_and_returns_value();
    test_xenbus_read_maps_xs_error_to_errno();
    test_xenbus_read_skips_stray_watch_events();
    test_xenbus_read_reports_value_too_big_and_consumes_it();
    test_xenbus_read_handles_reply_larger_than_ring_across_wrap();
    test_xenbus_read_rejects_corrupt_reply_ring();
    test_xenbus_read_rejects_oversized_reply_length();
    test_xenbus_read_rejects_mismatched_reply_type();
    test_xenbus_read_without_store_ring_fails();

    printf("runtime_test: %d checks, %d failed\n", checks, failures);
    return failures == 0 ? 0 : 1;
}
