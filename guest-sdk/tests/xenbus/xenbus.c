/*
 * xenbus - guest-side test kernel for the xenstore client over the store
 * ring (issue 6's guest acceptance point).  It reads and writes its own
 * paths, runs a transaction, checks that another domain's subtree is closed
 * to it (EACCES; the peer's domid comes on the command line as "peer=<id>"),
 * then watches data/trigger and waits until Dom0 writes "ping" there.
 *
 * Console protocol with the host test:
 *   "xenbus: watching data/trigger"      -> the host may write now
 *   "xenbus: watch fired on <path> (<token>)"
 *   "xenbus: <passed>/<total> checks passed"
 * Failed checks print "FAIL line <n>: ..." before the summary.  Then the
 * guest idles in SCHEDOP_poll until the host destroys it.
 */
#include <paravirt/pv.h>

static int passed, total;

#define CHECK(cond, ...) do {                                   \
        total++;                                                \
        if (cond) passed++;                                     \
        else { pv_printf("FAIL line %d: ", __LINE__);           \
               pv_printf(__VA_ARGS__); pv_printf("\n"); }       \
    } while (0)

static int tx_writes(pv_xbt_t tx, void *arg)
{
    (void)arg;
    int rc = pv_xenbus_write(tx, "data/tx-a", "alpha");
    if (rc == 0)
        rc = pv_xenbus_write(tx, "data/tx-b", "beta");
    return rc;
}

static bool list_contains(const char *names, int n, const char *want)
{
    for (int i = 0; i < n; i++) {
        if (strcmp(names, want) == 0)
            return true;
        names += strlen(names) + 1;
    }
    return false;
}

int pv_main(start_info_t *si)
{
    char buf[128], path[128], token[32];
    int rc;

    long domid = pv_xenbus_domid();
    CHECK(domid > 0, "domid %ld", domid);

    /* Own paths: relative and absolute. */
    CHECK(pv_xenbus_write(XBT_NIL, "data/greeting", "hello") == 0, "write data/greeting");
    rc = pv_xenbus_read("data/greeting", buf, sizeof(buf));
    CHECK(rc == 5 && strcmp(buf, "hello") == 0, "read back data/greeting: %d '%s'", rc, buf);
    pv_snprintf(path, sizeof(path), "/local/domain/%ld/data/greeting", domid);
    rc = pv_xenbus_read(path, buf, sizeof(buf));
    CHECK(rc == 5 && strcmp(buf, "hello") == 0, "read %s: %d", path, rc);
    pv_snprintf(path, sizeof(path), "/local/domain/%ld/name", domid);
    rc = pv_xenbus_read(path, buf, sizeof(buf));
    CHECK(rc > 0, "read own name: %d", rc);

    /* Directory. */
    char names[512];
    int n = pv_xenbus_directory(XBT_NIL, "data", names, sizeof(names));
    CHECK(n >= 1 && list_contains(names, n, "greeting"), "directory data: %d", n);

    /* Transaction, then rm. */
    rc = pv_xenbus_transaction_run(tx_writes, NULL, 10);
    CHECK(rc == 0, "transaction: %d", rc);
    rc = pv_xenbus_read("data/tx-b", buf, sizeof(buf));
    CHECK(rc == 4 && strcmp(buf, "beta") == 0, "transaction committed: %d '%s'", rc, buf);
    CHECK(pv_xenbus_rm(XBT_NIL, "data/tx-b") == 0, "rm data/tx-b");
    CHECK(pv_xenbus_read("data/tx-b", buf, sizeof(buf)) == -XEN_ENOENT, "removed node is gone");

    /* An aborted transaction leaves nothing behind. */
    pv_xbt_t tx;
    CHECK(pv_xenbus_transaction_start(&tx) == 0, "transaction start");
    CHECK(pv_xenbus_write(tx, "data/aborted", "x") == 0, "write in transaction");
    CHECK(pv_xenbus_transaction_end(tx, true) == 0, "abort");
    CHECK(pv_xenbus_read("data/aborted", buf, sizeof(buf)) == -XEN_ENOENT, "aborted write invisible");

    /* Another domain's subtree is closed. */
    long peer = pv_cmdline_number(si, "peer=", DOMID_FIRST_RESERVED);
    CHECK(peer >= 0 && peer != domid, "peer=<id> on the command line (%ld)", peer);
    if (peer >= 0) {
        pv_snprintf(path, sizeof(path), "/local/domain/%ld", peer);
        rc = pv_xenbus_read(path, buf, sizeof(buf));
        CHECK(rc == -XEN_EACCES, "read %s: %d, want -EACCES", path, rc);
        pv_snprintf(path, sizeof(path), "/local/domain/%ld/name", peer);
        rc = pv_xenbus_read(path, buf, sizeof(buf));
        CHECK(rc == -XEN_EACCES, "read %s: %d, want -EACCES", path, rc);
        pv_snprintf(path, sizeof(path), "/local/domain/%ld/data/intruder", peer);
        rc = pv_xenbus_write(XBT_NIL, path, "x");
        CHECK(rc == -XEN_EACCES, "write %s: %d, want -EACCES", path, rc);
    }

    /* Watch: the registration event first, then Dom0's write. */
    CHECK(pv_xenbus_watch("data/trigger", "pvtok") == 0, "watch data/trigger");
    pv_printf("xenbus: watching data/trigger\n");
    bool fired = false;
    for (int events = 0; events < 64 && !fired; events++) {
        rc = pv_xenbus_read_watch(path, sizeof(path), token, sizeof(token), true);
        if (rc != 0) {
            CHECK(false, "read_watch: %d", rc);
            break;
        }
        if (strcmp(token, "pvtok") != 0)
            continue;
        if (pv_xenbus_read("data/trigger", buf, sizeof(buf)) >= 0 && strcmp(buf, "ping") == 0) {
            pv_printf("xenbus: watch fired on %s (%s)\n", path, token);
            fired = true;
        }
    }
    CHECK(fired, "watch fired with data/trigger = ping");
    CHECK(pv_xenbus_unwatch("data/trigger", "pvtok") == 0, "unwatch");
    CHECK(pv_xenbus_write(XBT_NIL, "data/result", fired ? "ok" : "fail") == 0, "write result");

    pv_printf("xenbus: %d/%d checks passed\n", passed, total);

    /* Idle until the host destroys the domain: SCHEDOP_poll on a VIRQ nobody raises. */
    evtchn_port_t idle;
    if (pv_evtchn_bind_virq(VIRQ_DEBUG, 0, &idle) != 0)
        return passed == total ? 0 : 1;
    for (;;) {
        sched_poll_t poll = { .nr_ports = 1, .timeout = 0 };
        set_xen_guest_handle(poll.ports, &idle);
        HYPERVISOR_sched_op(SCHEDOP_poll, &poll);
    }
}
