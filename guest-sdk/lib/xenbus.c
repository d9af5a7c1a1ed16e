/*
 * xenbus.c - a synchronous xenstore client over the shared store ring
 * (io/xs_wire.h).
 *
 * Request: struct xsd_sockmsg + payload written into req[] at req_prod,
 * req_prod published after the bytes, then EVTCHNOP_send on store_evtchn.
 * Reply: read from rsp[] at rsp_cons once rsp_prod has moved, rsp_cons
 * published after the bytes were copied out, then a notify so xenstored
 * can refill.  Waiting is SCHEDOP_yield between checks: events stay masked
 * in this runtime.  One request at a time, req_id 0, tx_id 0.
 *
 * xenstored is another domain's code: every index and length read from the
 * ring is checked before it is used.
 */
#include <paravirt/pv.h>

#include "internal.h"

static struct xenstore_domain_interface *store_ring;
static evtchn_port_t store_evtchn;

void pv_xenbus_init(const start_info_t *si)
{
    if (si->flags & SIF_INITDOMAIN)
        return;     /* dom0 runs xenstored's peer side itself; no ring */
    store_ring = pv_mfn_to_virt(si->store_mfn);
    store_evtchn = si->store_evtchn;
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
            pv_yield();
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
            pv_yield();
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

/*
 * Sends one request and reads its reply payload into reply[0..size-1],
 * always consuming the whole reply.  Returns the payload length (which may
 * exceed size; the caller decides whether truncation is an error) or
 * -XEN_Exxx.
 */
static long xenbus_transact(uint32_t type, const void *payload, uint32_t len,
                            char *reply, size_t size)
{
    if (store_ring == NULL)
        return -XEN_ENODEV;
    if (len > XENSTORE_PAYLOAD_MAX)
        return -XEN_E2BIG;

    struct xsd_sockmsg req = { .type = type, .req_id = 0, .tx_id = 0, .len = len };
    int rc = ring_write(&req, sizeof(req));
    if (rc == 0)
        rc = ring_write(payload, len);
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
            /* No watches are registered; drop strays and keep waiting. */
            rc = ring_read(NULL, rsp.len);
            if (rc != 0)
                return rc;
            continue;
        }

        size_t keep = rsp.len < size ? rsp.len : size;
        rc = ring_read(reply, keep);
        if (rc == 0)
            rc = ring_read(NULL, rsp.len - keep);
        if (rc != 0)
            return rc;

        if (rsp.type == XS_ERROR) {
            char name[16];
            size_t n = keep < sizeof(name) - 1 ? keep : sizeof(name) - 1;
            memcpy(name, reply, n);
            name[n] = '\0';
            return -xs_error_value(name);
        }
        if (rsp.type != type || rsp.req_id != req.req_id)
            return -XEN_EIO;
        return (long)rsp.len;
    }
}

int pv_xenbus_read(const char *path, char *buf, size_t size)
{
    if (path == NULL || buf == NULL || size == 0)
        return -XEN_EINVAL;

    /* The payload is the path including its NUL. */
    size_t path_len = strnlen(path, XENSTORE_ABS_PATH_MAX + 1);
    if (path_len > XENSTORE_ABS_PATH_MAX)
        return -XEN_E2BIG;

    long n = xenbus_transact(XS_READ, path, (uint32_t)(path_len + 1), buf, size);
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
