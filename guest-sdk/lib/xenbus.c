/*
 * xenbus.c - a synchronous xenstore client over the shared store ring
 * (io/xs_wire.h).
 *
 * Request: struct xsd_sockmsg + payload written into req[] at req_prod,
 * req_prod published after the bytes, then EVTCHNOP_send on store_evtchn.
 * Reply: read from rsp[] at rsp_cons once rsp_prod has moved, rsp_cons
 * published after the bytes were copied out, then a notify so xenstored
 * can refill.  Waiting is pv_wait_for_event(store_evtchn): SCHEDOP_poll on
 * the store event channel once shared_info is mapped, SCHEDOP_yield before.
 * One request at a time (req_id 0; the reply is the next non-watch message).
 * XS_WATCH_EVENT messages that arrive while a reply is awaited are queued
 * for pv_xenbus_read_watch.
 *
 * xenstored is another domain's code: every index and length read from the
 * ring is checked before it is used.
 */
#include <paravirt/pv.h>

#include "internal.h"

static struct xenstore_domain_interface *store_ring;
static evtchn_port_t store_evtchn;

/* ---- Watch events that arrived while a reply was awaited. */
#define WATCH_QUEUE_LEN  16
#define WATCH_EVENT_MAX  1024      /* path + token; longer events are dropped */
static struct {
    uint32_t len;
    char payload[WATCH_EVENT_MAX];
} watch_queue[WATCH_QUEUE_LEN];
static unsigned int watch_head, watch_count;
static unsigned long watch_dropped;


void pv_xenbus_init(const start_info_t *si)
{
    if (si->flags & SIF_INITDOMAIN)
        return;     /* dom0 runs xenstored's peer side itself; no ring */
    store_ring = pv_mfn_to_virt(si->store_mfn);
    store_evtchn = si->store_evtchn;
    watch_head = watch_count = 0;
}

static int ring_write(const void *data, size_t len)
{
    struct xenstore_domain_interface *ring = store_ring;
    const char *src = data;

    while (len > 0) {
        XENSTORE_RING_IDX cons = PV_READ_ONCE(ring->req_cons);
        XENSTORE_RING_IDX prod = PV_READ_ONCE(ring->req_prod);
        pv_rmb();   /* indexes before data (loads stay ahead of stores on x86) */

        XENSTORE_RING_IDX used = prod - cons;
        if (used > XENSTORE_RING_SIZE)
            return -XEN_EIO;
        size_t space = XENSTORE_RING_SIZE - used;
        if (space == 0) {
            pv_evtchn_send(store_evtchn);
            pv_wait_for_event(store_evtchn);
            continue;
        }

        size_t n = len < space ? len : space;
        for (size_t i = 0; i < n; i++)
            ring->req[MASK_XENSTORE_IDX(prod + i)] = src[i];
        pv_wmb();   /* bytes visible before the producer index */
        PV_WRITE_ONCE(ring->req_prod, prod + (XENSTORE_RING_IDX)n);
        pv_evtchn_send(store_evtchn);
        src += n;
        len -= n;
    }
    return 0;
}

/* Reads exactly len bytes; dst may be NULL to discard them. */
static int ring_read(void *dst, size_t len)
{
    struct xenstore_domain_interface *ring = store_ring;
    char *out = dst;

    while (len > 0) {
        XENSTORE_RING_IDX cons = PV_READ_ONCE(ring->rsp_cons);
        XENSTORE_RING_IDX prod = PV_READ_ONCE(ring->rsp_prod);
        pv_rmb();   /* producer index before the bytes it covers */

        XENSTORE_RING_IDX avail = prod - cons;
        if (avail > XENSTORE_RING_SIZE)
            return -XEN_EIO;
        if (avail == 0) {
            pv_wait_for_event(store_evtchn);
            continue;
        }

        size_t n = len < avail ? len : avail;
        for (size_t i = 0; i < n; i++) {
            char c = ring->rsp[MASK_XENSTORE_IDX(cons + i)];
            if (out != NULL)
                out[i] = c;
        }
        pv_barrier();   /* bytes copied out before the slot is handed back */
        PV_WRITE_ONCE(ring->rsp_cons, cons + (XENSTORE_RING_IDX)n);
        pv_evtchn_send(store_evtchn);
        if (out != NULL)
            out += n;
        len -= n;
    }
    return 0;
}

/* xenstored reports errors as the errno's name (xs_wire.h's xsd_errors). */
static const struct {
    const char *name;
    int value;
} xs_error_names[] = {
    { "EINVAL", XEN_EINVAL },   { "EACCES", XEN_EACCES },
    { "EEXIST", XEN_EEXIST },   { "EISDIR", XEN_EISDIR },
    { "ENOENT", XEN_ENOENT },   { "ENOMEM", XEN_ENOMEM },
    { "ENOSPC", XEN_ENOSPC },   { "EIO", XEN_EIO },
    { "ENOTEMPTY", XEN_ENOTEMPTY }, { "ENOSYS", XEN_ENOSYS },
    { "EROFS", XEN_EROFS },     { "EBUSY", XEN_EBUSY },
    { "EAGAIN", XEN_EAGAIN },   { "EISCONN", XEN_EISCONN },
    { "E2BIG", XEN_E2BIG },     { "EPERM", XEN_EPERM },
};

static int xs_error_value(const char *name)
{
    for (size_t i = 0; i < sizeof(xs_error_names) / sizeof(xs_error_names[0]); i++) {
        if (strcmp(name, xs_error_names[i].name) == 0)
            return xs_error_names[i].value;
    }
    return XEN_EIO;     /* unknown name: still an error */
}

/* Consumes an XS_WATCH_EVENT payload of len bytes from the ring into the queue. */
static int queue_watch_event(uint32_t len)
{
    if (len > WATCH_EVENT_MAX || watch_count == WATCH_QUEUE_LEN) {
        watch_dropped++;
        return ring_read(NULL, len);
    }
    unsigned int slot = (watch_head + watch_count) % WATCH_QUEUE_LEN;
    int rc = ring_read(watch_queue[slot].payload, len);
    if (rc != 0)
        return rc;
    watch_queue[slot].len = len;
    watch_count++;
    return 0;
}

struct xs_iov {
    const void *base;
    size_t len;
};

/*
 * Sends one request (payload = the iovs back to back) and reads its reply
 * payload into reply[0..size-1], always consuming the whole reply.  Returns
 * the payload length (which may exceed size; the caller decides whether
 * truncation is an error) or -XEN_Exxx.
 */
static long xs_talk(uint32_t type, pv_xbt_t tx, const struct xs_iov *iov, unsigned int n,
                    char *reply, size_t size)
{
    if (store_ring == NULL)
        return -XEN_ENODEV;
    size_t len = 0;
    for (unsigned int i = 0; i < n; i++)
        len += iov[i].len;
    if (len > XENSTORE_PAYLOAD_MAX)
        return -XEN_E2BIG;

    struct xsd_sockmsg req = { .type = type, .req_id = 0, .tx_id = tx, .len = (uint32_t)len };
    int rc = ring_write(&req, sizeof(req));
    for (unsigned int i = 0; rc == 0 && i < n; i++)
        rc = ring_write(iov[i].base, iov[i].len);
    if (rc != 0)
        return rc;

    for (;;) {
        struct xsd_sockmsg rsp;
        rc = ring_read(&rsp, sizeof(rsp));
        if (rc != 0)
            return rc;
        /* An oversized length cannot be resynchronised from. */
        if (rsp.len > XENSTORE_PAYLOAD_MAX)
            return -XEN_EIO;

        if (rsp.type == XS_WATCH_EVENT) {
            rc = queue_watch_event(rsp.len);
            if (rc != 0)
                return rc;
            continue;
        }

        if (rsp.type == XS_ERROR) {
            /* The payload is the errno's name; read it whatever the caller's buffer. */
            char name[16];
            size_t k = rsp.len < sizeof(name) - 1 ? rsp.len : sizeof(name) - 1;
            rc = ring_read(name, k);
            if (rc == 0)
                rc = ring_read(NULL, rsp.len - k);
            if (rc != 0)
                return rc;
            name[k] = '\0';
            return -xs_error_value(name);
        }

        size_t keep = rsp.len < size ? rsp.len : size;
        rc = ring_read(reply, keep);
        if (rc == 0)
            rc = ring_read(NULL, rsp.len - keep);
        if (rc != 0)
            return rc;
        if (rsp.type != type || rsp.req_id != req.req_id)
            return -XEN_EIO;
        return (long)rsp.len;
    }
}

/* A path argument: NUL-terminated, within the protocol's limit. */
static long path_len(const char *path)
{
    if (path == NULL)
        return -XEN_EINVAL;
    size_t n = strnlen(path, XENSTORE_ABS_PATH_MAX + 1);
    if (n > XENSTORE_ABS_PATH_MAX)
        return -XEN_E2BIG;
    return (long)n;
}

static int strchr_any(char c, const char *set)
{
    for (; *set != '\0'; set++)
        if (*set == c)
            return 1;
    return 0;
}

/* Requests whose only payload is a path and whose reply is "OK". */
static int xs_path_op(uint32_t type, pv_xbt_t tx, const char *path)
{
    long n = path_len(path);
    if (n < 0)
        return (int)n;
    struct xs_iov iov[] = { { path, (size_t)n + 1 } };
    char ok[4];
    long rc = xs_talk(type, tx, iov, 1, ok, sizeof(ok));
    return rc < 0 ? (int)rc : 0;
}

int pv_xenbus_read_tx(pv_xbt_t tx, const char *path, char *buf, size_t size)
{
    if (buf == NULL || size == 0)
        return -XEN_EINVAL;
    buf[0] = '\0';
    long plen = path_len(path);
    if (plen < 0)
        return (int)plen;

    /* The payload is the path including its NUL. */
    struct xs_iov iov[] = { { path, (size_t)plen + 1 } };
    long n = xs_talk(XS_READ, tx, iov, 1, buf, size);
    if (n < 0) {
        buf[0] = '\0';
        return (int)n;
    }
    if ((size_t)n >= size) {    /* no room for the value plus its NUL */
        buf[0] = '\0';
        return -XEN_E2BIG;
    }
    buf[n] = '\0';
    return (int)n;
}

int pv_xenbus_read(const char *path, char *buf, size_t size)
{
    return pv_xenbus_read_tx(XBT_NIL, path, buf, size);
}

int pv_xenbus_write(pv_xbt_t tx, const char *path, const char *value)
{
    long plen = path_len(path);
    if (plen < 0)
        return (int)plen;
    if (value == NULL)
        return -XEN_EINVAL;
    /* Path with its NUL, then the value without one. */
    struct xs_iov iov[] = { { path, (size_t)plen + 1 },
                            { value, strnlen(value, XENSTORE_PAYLOAD_MAX + 1) } };
    char ok[4];
    long rc = xs_talk(XS_WRITE, tx, iov, 2, ok, sizeof(ok));
    return rc < 0 ? (int)rc : 0;
}

int pv_xenbus_mkdir(pv_xbt_t tx, const char *path)
{
    return xs_path_op(XS_MKDIR, tx, path);
}

int pv_xenbus_rm(pv_xbt_t tx, const char *path)
{
    return xs_path_op(XS_RM, tx, path);
}

int pv_xenbus_directory(pv_xbt_t tx, const char *path, char *buf, size_t size)
{
    if (buf == NULL || size == 0)
        return -XEN_EINVAL;
    buf[0] = '\0';
    long plen = path_len(path);
    if (plen < 0)
        return (int)plen;
    struct xs_iov iov[] = { { path, (size_t)plen + 1 } };
    long n = xs_talk(XS_DIRECTORY, tx, iov, 1, buf, size);
    if (n < 0)
        return (int)n;
    if ((size_t)n >= size) {
        buf[0] = '\0';
        return -XEN_E2BIG;
    }
    /* Names are NUL-terminated; a well-formed reply ends with one (or is empty). */
    if (n > 0 && buf[n - 1] != '\0')
        return -XEN_EIO;
    buf[n] = '\0';
    int count = 0;
    for (long i = 0; i < n; i++)
        if (buf[i] == '\0')
            count++;
    return count;
}

int pv_xenbus_set_perms(pv_xbt_t tx, const char *path, const char *const *perms, unsigned int n)
{
    long plen = path_len(path);
    if (plen < 0)
        return (int)plen;
    if (perms == NULL || n == 0 || n > 16)
        return -XEN_EINVAL;
    /* Path, then each permission ("<r|w|b|n><domid>") with its NUL. */
    struct xs_iov iov[17];
    iov[0] = (struct xs_iov){ path, (size_t)plen + 1 };
    for (unsigned int i = 0; i < n; i++) {
        if (perms[i] == NULL)
            return -XEN_EINVAL;
        size_t len = strnlen(perms[i], 16);
        if (len < 2 || len >= 16 || strchr_any(perms[i][0], "rwbn") == 0)
            return -XEN_EINVAL;
        iov[i + 1] = (struct xs_iov){ perms[i], len + 1 };
    }
    char ok[4];
    long rc = xs_talk(XS_SET_PERMS, tx, iov, n + 1, ok, sizeof(ok));
    return rc < 0 ? (int)rc : 0;
}

static int xs_watch_op(uint32_t type, const char *path, const char *token)
{
    long plen = path_len(path);
    if (plen < 0)
        return (int)plen;
    if (token == NULL)
        return -XEN_EINVAL;
    size_t tlen = strnlen(token, XENSTORE_ABS_PATH_MAX + 1);
    if (tlen > XENSTORE_ABS_PATH_MAX)
        return -XEN_E2BIG;
    struct xs_iov iov[] = { { path, (size_t)plen + 1 }, { token, tlen + 1 } };
    char ok[4];
    long rc = xs_talk(type, XBT_NIL, iov, 2, ok, sizeof(ok));
    return rc < 0 ? (int)rc : 0;
}

int pv_xenbus_watch(const char *path, const char *token)
{
    return xs_watch_op(XS_WATCH, path, token);
}

int pv_xenbus_unwatch(const char *path, const char *token)
{
    return xs_watch_op(XS_UNWATCH, path, token);
}

/* Splits a queued event payload "path\0token\0" into the caller's buffers. */
static int deliver_watch(const char *payload, uint32_t len, char *path, size_t path_size,
                         char *token, size_t token_size)
{
    size_t plen = strnlen(payload, len);
    if (plen >= len)
        return -XEN_EIO;                        /* no NUL after the path */
    const char *tok = payload + plen + 1;
    size_t tlen = strnlen(tok, len - plen - 1);
    if (plen >= path_size || tlen >= token_size)
        return -XEN_E2BIG;
    memcpy(path, payload, plen);
    path[plen] = '\0';
    memcpy(token, tok, tlen);
    token[tlen] = '\0';
    return 0;
}

int pv_xenbus_read_watch(char *path, size_t path_size, char *token, size_t token_size, bool wait)
{
    if (path == NULL || token == NULL || path_size == 0 || token_size == 0)
        return -XEN_EINVAL;
    if (store_ring == NULL)
        return -XEN_ENODEV;

    for (;;) {
        if (watch_count > 0) {
            unsigned int slot = watch_head;
            watch_head = (watch_head + 1) % WATCH_QUEUE_LEN;
            watch_count--;
            return deliver_watch(watch_queue[slot].payload, watch_queue[slot].len,
                                 path, path_size, token, token_size);
        }
        XENSTORE_RING_IDX avail = PV_READ_ONCE(store_ring->rsp_prod) - PV_READ_ONCE(store_ring->rsp_cons);
        if (avail > XENSTORE_RING_SIZE)
            return -XEN_EIO;
        if (avail == 0) {
            if (!wait)
                return -XEN_EAGAIN;
            pv_wait_for_event(store_evtchn);
            continue;
        }
        /* A message is arriving: a watch event (queued) or a stray reply (dropped). */
        struct xsd_sockmsg msg;
        int rc = ring_read(&msg, sizeof(msg));
        if (rc == 0 && msg.len > XENSTORE_PAYLOAD_MAX)
            rc = -XEN_EIO;
        if (rc == 0)
            rc = msg.type == XS_WATCH_EVENT ? queue_watch_event(msg.len) : ring_read(NULL, msg.len);
        if (rc != 0)
            return rc;
    }
}

/* Parses a decimal id (transaction id, domid) of at most 10 digits. */
static int parse_u32(const char *s, uint32_t *out)
{
    uint64_t v = 0;
    size_t i = 0;
    if (s[0] == '\0')
        return -XEN_EIO;
    for (; s[i] != '\0'; i++) {
        if (s[i] < '0' || s[i] > '9' || i >= 10)
            return -XEN_EIO;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v > 0xffffffffULL)
        return -XEN_EIO;
    *out = (uint32_t)v;
    return 0;
}

int pv_xenbus_transaction_start(pv_xbt_t *tx)
{
    if (tx == NULL)
        return -XEN_EINVAL;
    /* The payload is an empty string; the reply is the id in decimal. */
    struct xs_iov iov[] = { { "", 1 } };
    char id[16];
    long n = xs_talk(XS_TRANSACTION_START, XBT_NIL, iov, 1, id, sizeof(id) - 1);
    if (n < 0)
        return (int)n;
    if ((size_t)n >= sizeof(id) - 1)
        return -XEN_EIO;
    id[n] = '\0';
    uint32_t v;
    /* xenstored sends the id with its NUL. */
    if (parse_u32(id, &v) != 0 || v == XBT_NIL)
        return -XEN_EIO;
    *tx = v;
    return 0;
}

int pv_xenbus_transaction_end(pv_xbt_t tx, bool abort)
{
    if (tx == XBT_NIL)
        return -XEN_EINVAL;
    const char *arg = abort ? "F" : "T";
    struct xs_iov iov[] = { { arg, 2 } };
    char ok[4];
    long rc = xs_talk(XS_TRANSACTION_END, tx, iov, 1, ok, sizeof(ok));
    return rc < 0 ? (int)rc : 0;
}

int pv_xenbus_transaction_run(int (*fn)(pv_xbt_t tx, void *arg), void *arg, unsigned int max_tries)
{
    if (fn == NULL || max_tries == 0)
        return -XEN_EINVAL;
    int rc = -XEN_EAGAIN;
    for (unsigned int i = 0; i < max_tries && rc == -XEN_EAGAIN; i++) {
        pv_xbt_t tx;
        rc = pv_xenbus_transaction_start(&tx);
        if (rc != 0)
            return rc;
        rc = fn(tx, arg);
        if (rc != 0) {
            pv_xenbus_transaction_end(tx, true);
            if (rc != -XEN_EAGAIN)
                return rc;
            continue;
        }
        rc = pv_xenbus_transaction_end(tx, false);
    }
    return rc;
}

long pv_xenbus_domid(void)
{
    static long cached = -1;
    if (cached >= 0)
        return cached;
    char buf[16];
    int rc = pv_xenbus_read("domid", buf, sizeof(buf));
    if (rc < 0)
        return rc;
    uint32_t v;
    if (parse_u32(buf, &v) != 0 || v >= DOMID_FIRST_RESERVED)
        return -XEN_EIO;
    cached = (long)v;
    return cached;
}
