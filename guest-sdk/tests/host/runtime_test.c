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

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>

#include "../../lib/internal.h"
#include <paravirt/io/blkif.h>

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

void pv_wait_for_event(evtchn_port_t port)
{
    (void)port;
    pv_yield();
}

/* pv_panic: tests that expect one catch it with setjmp. */
shared_info_t *pv_shared_info;
static jmp_buf panic_jmp;
static bool panic_expected;
static char panic_msg[256];

void pv_panic(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(panic_msg, sizeof(panic_msg), fmt, ap);
    va_end(ap);
    if (!panic_expected) {
        fprintf(stderr, "FAIL: unexpected panic: %s\n", panic_msg);
        exit(2);
    }
    longjmp(panic_jmp, 1);
}

/* time.c's timer helpers are not exercised on the host. */
long pv_evtchn_bind_virq(uint32_t virq, uint32_t vcpu, evtchn_port_t *port)
{
    (void)virq; (void)vcpu; (void)port;
    return -XEN_ENOSYS;
}

long pv_map_mfn(void *va, xen_pfn_t mfn, bool writable)
{
    (void)va; (void)mfn; (void)writable;
    return -XEN_ENOSYS;
}

long pv_evtchn_wait(evtchn_port_t port, uint64_t deadline_ns)
{
    (void)port; (void)deadline_ns;
    return -XEN_ENOSYS;
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

static void test_xenbus_write_sends_path_nul_value_in_transaction(void)
{
    init_store(0);
    script_reply(XS_WRITE, 0, "OK", 3);
    int rc = pv_xenbus_write(7, "data/x", "hello");
    CHECK(rc == 0, "write rc=%d", rc);
    CHECK(last_req.type == XS_WRITE && last_req.tx_id == 7 && last_req.len == 12
          && memcmp(last_payload, "data/x\0hello", 12) == 0,
          "write payload is path NUL value (len=%u tx=%u)", last_req.len, last_req.tx_id);
}

static void test_xenbus_directory_counts_names(void)
{
    init_store(0);
    script_reply(XS_DIRECTORY, 0, "name\0domid\0device\0", 18);
    char buf[64];
    int n = pv_xenbus_directory(XBT_NIL, "/local/domain/3", buf, sizeof(buf));
    CHECK(n == 3 && strcmp(buf, "name") == 0 && strcmp(buf + 5, "domid") == 0
          && strcmp(buf + 11, "device") == 0, "directory n=%d", n);

    init_store(0);
    script_reply(XS_DIRECTORY, 0, "", 0);
    n = pv_xenbus_directory(XBT_NIL, "empty", buf, sizeof(buf));
    CHECK(n == 0, "empty directory n=%d", n);

    init_store(0);
    script_reply(XS_DIRECTORY, 0, "unterminated", 12);
    n = pv_xenbus_directory(XBT_NIL, "bad", buf, sizeof(buf));
    CHECK(n == -XEN_EIO, "names without NUL -> -EIO, got %d", n);
}

static void test_xenbus_watch_events_are_queued_and_read_in_order(void)
{
    init_store(0);
    script_reply(XS_WATCH, 0, "OK", 3);
    CHECK(pv_xenbus_watch("data", "tok1") == 0, "watch");
    CHECK(last_req.type == XS_WATCH && last_req.len == 10 && memcmp(last_payload, "data\0tok1\0", 10) == 0,
          "watch payload is path NUL token NUL");

    init_store(0);
    script_reply(XS_WATCH_EVENT, 0, "data\0tok1", 10);
    script_reply(XS_WATCH_EVENT, 0, "data/a\0tok1", 12);
    script_reply(XS_READ, 0, "v", 1);
    char buf[16], path[32], token[16];
    CHECK(pv_xenbus_read("data/a", buf, sizeof(buf)) == 1, "read past two watch events");
    CHECK(pv_xenbus_read_watch(path, sizeof(path), token, sizeof(token), false) == 0
          && strcmp(path, "data") == 0 && strcmp(token, "tok1") == 0, "first event: %s %s", path, token);
    CHECK(pv_xenbus_read_watch(path, sizeof(path), token, sizeof(token), false) == 0
          && strcmp(path, "data/a") == 0, "second event: %s", path);
    CHECK(pv_xenbus_read_watch(path, sizeof(path), token, sizeof(token), false) == -XEN_EAGAIN,
          "no third event");

    /* An event arriving in the ring with nothing outstanding is read directly. */
    script_reset();
    requests_seen = 1;
    script_reply(XS_WATCH_EVENT, 0, "x/y\0t", 6);
    int rc = pv_xenbus_read_watch(path, sizeof(path), token, sizeof(token), true);
    CHECK(rc == 0 && strcmp(path, "x/y") == 0 && strcmp(token, "t") == 0, "waited event rc=%d", rc);

    /* A token that does not fit is reported, not truncated silently. */
    script_reset();
    requests_seen = 1;
    script_reply(XS_WATCH_EVENT, 0, "p\0a-long-token", 15);
    rc = pv_xenbus_read_watch(path, sizeof(path), token, 4, true);
    CHECK(rc == -XEN_E2BIG, "token too long -> -E2BIG, got %d", rc);
}

static void test_xenbus_set_perms_sends_each_permission_with_its_nul(void)
{
    init_store(0);
    script_reply(XS_SET_PERMS, 0, "OK", 3);
    const char *perms[] = { "b5", "r7" };
    int rc = pv_xenbus_set_perms(XBT_NIL, "data/pp", perms, 2);
    CHECK(rc == 0, "set_perms rc=%d", rc);
    CHECK(last_req.type == XS_SET_PERMS && last_req.len == 14 && memcmp(last_payload, "data/pp\0b5\0r7\0", 14) == 0,
          "set_perms payload (len=%u)", last_req.len);
    const char *bad[] = { "x5" };
    CHECK(pv_xenbus_set_perms(XBT_NIL, "data/pp", bad, 1) == -XEN_EINVAL, "unknown permission letter");
    CHECK(pv_xenbus_set_perms(XBT_NIL, "data/pp", perms, 0) == -XEN_EINVAL, "no permissions");
}

static int tx_body_calls;
static int tx_body(pv_xbt_t tx, void *arg)
{
    (void)arg;
    tx_body_calls++;
    return pv_xenbus_write(tx, "counter", "1");
}

static void test_xenbus_transaction_retries_on_eagain(void)
{
    init_store(0);
    script_reply(XS_TRANSACTION_START, 0, "5", 2);
    script_reply(XS_WRITE, 0, "OK", 3);
    script_reply(XS_ERROR, 0, "EAGAIN", 7);
    script_reply(XS_TRANSACTION_START, 0, "6", 2);
    script_reply(XS_WRITE, 0, "OK", 3);
    script_reply(XS_TRANSACTION_END, 0, "OK", 3);
    tx_body_calls = 0;
    int rc = pv_xenbus_transaction_run(tx_body, NULL, 5);
    CHECK(rc == 0 && tx_body_calls == 2, "commit after one retry: rc=%d calls=%d", rc, tx_body_calls);
    CHECK(last_req.type == XS_TRANSACTION_END && last_req.tx_id == 6 && last_req.len == 2
          && memcmp(last_payload, "T", 2) == 0, "commit of tx 6");

    init_store(0);
    script_reply(XS_TRANSACTION_START, 0, "5", 2);
    script_reply(XS_WRITE, 0, "OK", 3);
    script_reply(XS_ERROR, 0, "EAGAIN", 7);
    tx_body_calls = 0;
    rc = pv_xenbus_transaction_run(tx_body, NULL, 1);
    CHECK(rc == -XEN_EAGAIN && tx_body_calls == 1, "gives up after max_tries: rc=%d", rc);

    init_store(0);
    script_reply(XS_TRANSACTION_START, 0, "x1", 3);
    pv_xbt_t tx;
    CHECK(pv_xenbus_transaction_start(&tx) == -XEN_EIO, "non-numeric transaction id -> -EIO");
}

static void test_scale_delta_applies_shift_then_multiplier(void)
{
    CHECK(pv_scale_delta(1000, 0x80000000u, 0) == 500, "x0.5");
    CHECK(pv_scale_delta(1000, 0x80000000u, -1) == 250, "x0.5, >>1");
    CHECK(pv_scale_delta(1000, 0x80000000u, 2) == 2000, "x0.5, <<2");
    CHECK(pv_scale_delta(1ULL << 40, 0xffffffffu, 0) == (1ULL << 40) - (1ULL << 8), "no 64-bit overflow");
    CHECK(pv_scale_delta(0, 0xffffffffu, 3) == 0, "zero delta");
}

static void test_system_time_follows_the_published_record(void)
{
    static shared_info_t si;
    memset(&si, 0, sizeof(si));
    uint32_t lo, hi;
    __asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi));
    si.vcpu_info[0].time.tsc_timestamp = ((uint64_t)hi << 32 | lo) + (1ULL << 40); /* in the future */
    si.vcpu_info[0].time.system_time = 123456789;
    si.vcpu_info[0].time.tsc_to_system_mul = 0x80000000u;
    si.vcpu_info[0].time.version = 2;
    pv_shared_info = &si;
    CHECK(pv_system_time_ns() == 123456789, "a stamp ahead of the TSC counts as zero delta");
    si.vcpu_info[0].time.tsc_timestamp = 0;
    uint64_t t = pv_system_time_ns();
    CHECK(t > 123456789, "time moves on with the TSC: %llu", (unsigned long long)t);
    si.wc_sec = 1700000000;
    si.wc_nsec = 999999999;
    si.vcpu_info[0].time.tsc_to_system_mul = 0;     /* freeze: system time = 123456789 */
    uint64_t sec; uint32_t nsec;
    CHECK(pv_wallclock(&sec, &nsec) == 0 && sec == 1700000001 && nsec == 123456788,
          "wallclock carries ns into seconds: %llu.%09u", (unsigned long long)sec, nsec);
    pv_shared_info = NULL;
    CHECK(pv_system_time_ns() == 0 && pv_wallclock(&sec, &nsec) == -XEN_ENODEV, "no shared_info");
}

static void test_page_pool_covers_the_rest_of_the_initial_mapping(void)
{
    unsigned long first, count;
    pv_mm_pool_range(10, 100000, &first, &count);
    CHECK(first == 11 && count == 1024 - 11, "stack at pfn 10: pool %lu+%lu", first, count);
    pv_mm_pool_range(900, 100000, &first, &count);
    /* 901 pages + 512 KiB ends past 4 MiB: mapping runs to 8 MiB. */
    CHECK(first == 901 && count == 2048 - 901, "stack at pfn 900: pool %lu+%lu", first, count);
    pv_mm_pool_range(10, 500, &first, &count);
    CHECK(count == 500 - 11, "clipped to nr_pages: %lu", count);
}

static void test_page_allocator_hands_out_distinct_zeroed_pages(void)
{
    enum { N = 16 };
    char *area = aligned_alloc(4096, N * 4096);
    memset(area, 0xAA, N * 4096);
    pv_mm_set_pool(area, 100, N);
    CHECK(pv_pages_free_count() == N, "all free");
    char *a = pv_page_alloc(), *b = pv_page_alloc();
    CHECK(a == area && b == area + 4096 && a[0] == 0 && a[4095] == 0, "first fit, zeroed");
    char *run = pv_pages_alloc(4);
    CHECK(run == area + 2 * 4096, "contiguous run");
    pv_page_free(a);
    CHECK(pv_page_alloc() == a, "freed page reused");
    CHECK(pv_pages_alloc(N) == NULL, "over-allocation fails");
    CHECK(pv_pages_free_count() == N - 6, "free count %zu", pv_pages_free_count());

    panic_expected = true;
    if (setjmp(panic_jmp) == 0) {
        pv_page_free(b);
        pv_page_free(b);
        CHECK(false, "double free must panic");
    }
    if (setjmp(panic_jmp) == 0) {
        pv_page_free(area + N * 4096);
        CHECK(false, "foreign page must panic");
    }
    panic_expected = false;
    free(area);
}

static void test_heap_allocates_aligned_blocks_and_reuses_them(void)
{
    enum { N = 64 };
    char *area = aligned_alloc(4096, N * 4096);
    pv_mm_set_pool(area, 0, N);
    void *p[100];
    for (int i = 0; i < 100; i++) {
        p[i] = pv_malloc((size_t)(i * 37 % 3000) + 1);
        CHECK(p[i] != NULL && ((uintptr_t)p[i] & 15) == 0, "malloc %d aligned", i);
        memset(p[i], i, (size_t)(i * 37 % 3000) + 1);
    }
    bool intact = true;
    for (int i = 0; i < 100; i++)
        for (size_t j = 0; j < (size_t)(i * 37 % 3000) + 1; j++)
            if (((unsigned char *)p[i])[j] != (unsigned char)i) intact = false;
    CHECK(intact, "blocks do not overlap");
    size_t before = pv_pages_free_count();
    for (int i = 0; i < 100; i++)
        pv_free(p[i]);
    CHECK(pv_pages_free_count() > before, "large blocks return their pages");
    void *q = pv_malloc(40);
    pv_free(q);
    CHECK(pv_malloc(40) == q, "small block reused");
    int *z = pv_calloc(10, sizeof(int));
    CHECK(z != NULL && z[9] == 0, "calloc zeroes");
    CHECK(pv_calloc((size_t)1 << 62, 8) == NULL, "calloc overflow refused");

    panic_expected = true;
    if (setjmp(panic_jmp) == 0) {
        pv_free(z);
        pv_free(z);
        CHECK(false, "heap double free must panic");
    }
    panic_expected = false;
    free(area);
}

static void test_grants_fill_entries_and_end_access_respects_mappings(void)
{
    static grant_entry_v1_t table[512];
    memset(table, 0, sizeof(table));
    pv_gnttab_attach(table, 512);
    long ref = pv_grant_access(3, 0x1234, true);
    CHECK(ref >= GNTTAB_NR_RESERVED_ENTRIES && ref < 512, "ref %ld outside the reserved entries", ref);
    CHECK(table[ref].domid == 3 && table[ref].frame == 0x1234
          && table[ref].flags == (GTF_permit_access | GTF_readonly), "entry filled");
    long ref2 = pv_grant_access(3, 0x1235, false);
    CHECK(ref2 != ref && table[ref2].flags == GTF_permit_access, "second grant writable");

    table[ref].flags |= GTF_reading;            /* the grantee maps it */
    CHECK(pv_grant_end_access((grant_ref_t)ref) == -XEN_EBUSY, "busy while mapped");
    table[ref].flags &= (uint16_t)~GTF_reading;
    CHECK(pv_grant_end_access((grant_ref_t)ref) == 0 && table[ref].flags == 0, "revoked");
    CHECK(pv_grant_end_access((grant_ref_t)ref) == -XEN_EINVAL, "revoking twice");
    CHECK(pv_grant_end_access(2) == -XEN_EINVAL, "reserved entry");
    CHECK(pv_grant_access(1, 0x100000000UL, false) == -XEN_EINVAL, "frame beyond 32 bits");

    int granted = 0;
    while (pv_grant_access(1, 1, false) >= 0)
        granted++;
    CHECK(granted == 512 - GNTTAB_NR_RESERVED_ENTRIES - 1, "table exhausted after %d", granted);
    CHECK(pv_grant_access(1, 1, false) == -XEN_ENOSPC, "no free entry");
}

static void test_ring_macros_follow_xen_event_avoidance(void)
{
    static union { blkif_sring_t s; char page[4096]; } shared __attribute__((aligned(4096)));
    blkif_front_ring_t front;
    blkif_back_ring_t back;
    SHARED_RING_INIT(&shared.s);
    FRONT_RING_INIT(&front, &shared.s, 4096);
    BACK_RING_INIT(&back, &shared.s, 4096);
    CHECK(RING_SIZE(&front) == 32 && RING_SIZE(&back) == 32, "32 slots, got %u", RING_SIZE(&front));
    CHECK(RING_FREE_REQUESTS(&front) == 32 && !RING_FULL(&front), "empty ring");

    /* The back end waits for the first request (req_event = 1): the first push notifies. */
    int notify;
    RING_GET_REQUEST(&front, front.req_prod_pvt)->id = 41;
    front.req_prod_pvt++;
    RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&front, notify);
    CHECK(notify && shared.s.req_prod == 1, "first request notifies");

    /* The back end has not asked again: further pushes stay quiet. */
    RING_GET_REQUEST(&front, front.req_prod_pvt)->id = 42;
    front.req_prod_pvt++;
    RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&front, notify);
    CHECK(!notify, "no notification while the back end is busy");

    int work;
    RING_FINAL_CHECK_FOR_REQUESTS(&back, work);
    CHECK(work == 2, "back end sees 2 requests, got %d", work);
    blkif_request_t req;
    RING_COPY_REQUEST(&back, back.req_cons, &req);
    back.req_cons++;
    CHECK(req.id == 41, "first request id %llu", (unsigned long long)req.id);
    RING_COPY_REQUEST(&back, back.req_cons, &req);
    back.req_cons++;
    RING_FINAL_CHECK_FOR_REQUESTS(&back, work);
    CHECK(work == 0 && shared.s.req_event == 3, "idle back end asks for the next (req_event %u)", shared.s.req_event);
    front.req_prod_pvt++;
    RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&front, notify);
    CHECK(notify, "a request after the back end went idle notifies");

    /* Responses: the front end asked at rsp_event = 1. */
    RING_GET_RESPONSE(&back, back.rsp_prod_pvt)->id = 41;
    back.rsp_prod_pvt++;
    RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(&back, notify);
    CHECK(notify && RING_HAS_UNCONSUMED_RESPONSES(&front) == 1, "first response notifies");
    CHECK(RING_GET_RESPONSE(&front, front.rsp_cons)->id == 41, "response slot");
    front.rsp_cons++;
    CHECK(RING_FREE_REQUESTS(&front) == 32 - 2, "free slots: %u", RING_FREE_REQUESTS(&front));

    /* A hostile front end claiming far more requests than the ring holds is bounded. */
    shared.s.req_prod = back.req_cons + 1000;
    CHECK(RING_HAS_UNCONSUMED_REQUESTS(&back) <= RING_SIZE(&back), "unconsumed requests bounded by the ring size");
    CHECK(RING_REQUEST_PROD_OVERFLOW(&back, shared.s.req_prod), "overflow detected");

    /* Wrap-around of the free-running indexes. */
    SHARED_RING_INIT(&shared.s);
    FRONT_RING_ATTACH(&front, &shared.s, 0xfffffff0u, 4096);
    BACK_RING_ATTACH(&back, &shared.s, 0xfffffff0u, 4096);
    shared.s.req_prod = shared.s.rsp_prod = 0xfffffff0u;
    for (int i = 0; i < 32; i++) {
        RING_GET_REQUEST(&front, front.req_prod_pvt)->id = (uint64_t)i;
        front.req_prod_pvt++;
    }
    CHECK(RING_FULL(&front), "full after 32 across the wrap");
    RING_PUSH_REQUESTS(&front);
    RING_FINAL_CHECK_FOR_REQUESTS(&back, work);
    CHECK(work == 32 && RING_GET_REQUEST(&back, back.req_cons + 31)->id == 31, "32 requests across the wrap");
}

static evtchn_port_t handled[8];
static int nr_handled;
static void record_port(evtchn_port_t port, void *data)
{
    CHECK(data == &handled, "handler data passed through");
    if (nr_handled < 8)
        handled[nr_handled++] = port;
}

static void test_dispatcher_runs_handlers_of_pending_unmasked_ports(void)
{
    static shared_info_t si;
    memset(&si, 0, sizeof(si));
    pv_shared_info = &si;
    nr_handled = 0;
    CHECK(pv_evtchn_set_handler(3, record_port, &handled) == 0, "handler on 3");
    CHECK(pv_evtchn_set_handler(70, record_port, &handled) == 0, "handler on 70");
    CHECK(pv_evtchn_set_handler(4096, record_port, NULL) == -XEN_EINVAL, "port beyond the 2-level ABI");

    si.evtchn_pending[0] = 1UL << 3;
    si.evtchn_pending[1] = 1UL << (70 - 64);
    si.evtchn_pending[2] = 1UL << (130 - 128);          /* no handler: left for a poller */
    si.evtchn_mask[1] = 1UL << (70 - 64);               /* masked: not delivered */
    si.vcpu_info[0].evtchn_pending_sel = 0x7;
    si.vcpu_info[0].evtchn_upcall_pending = 1;

    int ran = pv_evtchn_dispatch();
    CHECK(ran == 1 && nr_handled == 1 && handled[0] == 3, "only port 3 ran (ran=%d)", ran);
    CHECK(si.evtchn_pending[0] == 0, "port 3 consumed");
    CHECK(si.evtchn_pending[1] == 1UL << 6 && si.evtchn_pending[2] == 1UL << 2, "masked and handler-less ports stay pending");
    CHECK(si.vcpu_info[0].evtchn_pending_sel == 0 && si.vcpu_info[0].evtchn_upcall_pending == 0,
          "selector and summary cleared");

    /* Unmasked later, the hypervisor sets the selector again. */
    si.evtchn_mask[1] = 0;
    si.vcpu_info[0].evtchn_pending_sel = 0x2;
    ran = pv_evtchn_dispatch();
    CHECK(ran == 1 && handled[1] == 70 && si.evtchn_pending[1] == 0, "port 70 after unmask");

    CHECK(pv_evtchn_set_handler(3, NULL, NULL) == 0, "handler removed");
    si.evtchn_pending[0] = 1UL << 3;
    si.vcpu_info[0].evtchn_pending_sel = 0x1;
    CHECK(pv_evtchn_dispatch() == 0 && si.evtchn_pending[0] == 1UL << 3, "removed handler: port stays pending");
    pv_shared_info = NULL;
    CHECK(pv_evtchn_dispatch() == 0, "no shared_info: nothing to do");
}

/* ---- cmdline.c */
static void set_cmdline(start_info_t *si, const char *line)
{
    memset(si->cmd_line, 0, sizeof(si->cmd_line));
    memcpy(si->cmd_line, line, strlen(line));
}

static void test_cmdline_number_reads_whole_words_below_the_limit(void)
{
    static start_info_t si;
    set_cmdline(&si, "console=hvc0 xpeer=7 peer=12 rounds=100000");
    CHECK(pv_cmdline_number(&si, "peer=", 0x7ff0) == 12, "peer= after a word that merely ends in it");
    CHECK(pv_cmdline_number(&si, "rounds=", 100001) == 100000, "the last word");
    CHECK(pv_cmdline_number(&si, "rounds=", 100000) == -1, "a value at the limit is refused");
    CHECK(pv_cmdline_number(&si, "missing=", 10) == -1, "an absent key");
    set_cmdline(&si, "peer= peer=3x peer=4");
    CHECK(pv_cmdline_number(&si, "peer=", 10) == -1, "the first occurrence counts, and it is empty");
    set_cmdline(&si, "peer=3x");
    CHECK(pv_cmdline_number(&si, "peer=", 10) == -1, "trailing garbage is not a number");
    set_cmdline(&si, "peer=99999999999999999999999");
    CHECK(pv_cmdline_number(&si, "peer=", 0x7ff0) == -1, "no overflow past the limit");
    CHECK(pv_cmdline_number(NULL, "peer=", 10) == -1, "no start_info");
}

static void test_parse_decimal_takes_the_whole_string(void)
{
    CHECK(pv_parse_decimal("0", 10) == 0, "zero");
    CHECK(pv_parse_decimal("12345", 100000) == 12345, "digits");
    CHECK(pv_parse_decimal("", 10) == -1, "empty");
    CHECK(pv_parse_decimal("12a", 1000) == -1, "another character");
    CHECK(pv_parse_decimal("-1", 10) == -1, "a sign");
    CHECK(pv_parse_decimal("1000", 1000) == -1, "at the limit");
    CHECK(pv_parse_decimal("99999999999999999999999", 1000000000L) == -1, "no overflow");
    CHECK(pv_parse_decimal(NULL, 10) == -1, "NULL");
}

int main(void)
{
    test_printf_matches_c_library();
    test_cmdline_number_reads_whole_words_below_the_limit();
    test_parse_decimal_takes_the_whole_string();
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
    test_xenbus_write_sends_path_nul_value_in_transaction();
    test_xenbus_directory_counts_names();
    test_xenbus_watch_events_are_queued_and_read_in_order();
    test_xenbus_transaction_retries_on_eagain();
    test_xenbus_set_perms_sends_each_permission_with_its_nul();
    test_scale_delta_applies_shift_then_multiplier();
    test_system_time_follows_the_published_record();
    test_page_pool_covers_the_rest_of_the_initial_mapping();
    test_page_allocator_hands_out_distinct_zeroed_pages();
    test_heap_allocates_aligned_blocks_and_reuses_them();
    test_grants_fill_entries_and_end_access_respects_mappings();
    test_ring_macros_follow_xen_event_avoidance();
    test_dispatcher_runs_handlers_of_pending_unmasked_ports();

    printf("runtime_test: %d checks, %d failed\n", checks, failures);
    return failures == 0 ? 0 : 1;
}
