/*
 * blkfront.c - PV block front-end (io/blkif.h over io/ring.h), synchronous.
 *
 * Handshake (docs: xen/include/public/io/blkif.h, xenbus.h): the toolstack
 * has written device/vbd/<id>/{backend,backend-id}.  We wait for the
 * back-end to reach InitWait (its features are published then), allocate
 * and grant the shared ring (2^order pages), allocate an unbound event
 * channel for the back-end domain, publish everything plus state
 * Initialised in one transaction, wait for the back-end to be Connected,
 * read the disk geometry and switch to Connected.
 *
 * Data path: every byte passes through bounce pages of a fixed pool, so the
 * caller's buffer needs no alignment and is never shown to the back-end.
 * Pool page i belongs to request slot i / segs_per_request; with persistent
 * grants page i keeps the same grant reference for the device's lifetime
 * (the back-end keeps it mapped), otherwise it is granted per request and
 * the grant ended when the response is in.  Every response is checked
 * (known id, matching operation) before it is trusted.
 */
#include <paravirt/blkfront.h>
#include <paravirt/pv.h>

#define PAGE 4096u
#define SECTS_PER_PAGE (PAGE / PV_BLKFRONT_SECTOR_SIZE)
#define MAX_SLOTS PV_BLKFRONT_POOL_PAGES

/* One request in flight. */
struct slot {
    bool busy;
    uint8_t op;             /* BLKIF_OP_READ / _WRITE / _FLUSH_DISKCACHE / _WRITE_BARRIER */
    unsigned int nseg;
    uint8_t *user;          /* read: where the data goes */
    uint64_t bytes;
};
static struct slot slots[MAX_SLOTS];

/* How long a request may wait for its response before the back-end's state is looked at. */
#define BACKEND_CHECK_NS 1000000000ull

/* ---- small helpers */

static int parse_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (*s == '\0')
        return -XEN_EINVAL;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (~0ull - 9) / 10)
            return -XEN_EINVAL;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return 0;
}

/* Numeric node dir/name; 'dflt' when absent; error on garbage. */
static int read_num(const char *dir, const char *name, uint64_t dflt, uint64_t *out)
{
    char path[160], val[32];
    pv_snprintf(path, sizeof(path), "%s/%s", dir, name);
    int n = pv_xenbus_read(path, val, sizeof(val));
    if (n == -XEN_ENOENT) {
        *out = dflt;
        return 0;
    }
    if (n < 0)
        return n;
    return parse_u64(val, out);
}

static int read_state(const char *dir, XenbusState *st)
{
    uint64_t v;
    int rc = read_num(dir, "state", XenbusStateUnknown, &v);
    if (rc < 0)
        return rc;
    *st = v > XenbusStateReconfigured ? XenbusStateUnknown : (XenbusState)v;
    return 0;
}

static int write_state(pv_xbt_t tx, const char *dir, XenbusState st)
{
    char path[160], val[4];
    pv_snprintf(path, sizeof(path), "%s/state", dir);
    pv_snprintf(val, sizeof(val), "%u", (unsigned int)st);
    return pv_xenbus_write(tx, path, val);
}

/*
 * Waits (through a watch on <dir>/state) until the state is one of 'want'
 * (bitmask of 1 << state); -XEN_EIO if it reaches Closing/Closed first
 * (unless wanted).
 */
static int wait_state(const char *dir, unsigned int want, XenbusState *got)
{
    char path[160], ev_path[160], ev_tok[16];
    pv_snprintf(path, sizeof(path), "%s/state", dir);
    int rc = pv_xenbus_watch(path, "blkfront");
    if (rc < 0)
        return rc;
    for (;;) {
        XenbusState st;
        rc = read_state(dir, &st);
        if (rc < 0)
            break;
        /* A back-end whose directory is gone (its domain died) is as good as Closed. */
        if (st == XenbusStateUnknown)
            st = XenbusStateClosed;
        if (want & (1u << st)) {
            *got = st;
            break;
        }
        if (st == XenbusStateClosing || st == XenbusStateClosed) {
            rc = -XEN_EIO;
            break;
        }
        /* Blocks until the next change (the first event is the registration's own). */
        rc = pv_xenbus_read_watch(ev_path, sizeof(ev_path), ev_tok, sizeof(ev_tok), true);
        if (rc < 0)
            break;
    }
    pv_xenbus_unwatch(path, "blkfront");
    return rc < 0 ? rc : 0;
}

static long grant(pv_blkfront_t *dev, const void *va, bool readonly)
{
    return pv_grant_access(dev->backend_id, pv_virt_to_mfn(va), readonly);
}

/* Ends a grant the back-end should have dropped; spins briefly while it still holds it. */
static void end_grant(grant_ref_t ref)
{
    for (unsigned int i = 0; i < 1000; i++) {
        if (pv_grant_end_access(ref) != -XEN_EBUSY)
            return;
        pv_yield();
    }
    pv_printf("blkfront: grant %u still in use by the back-end; leaked\n", ref);
}

/*
 * Copies whole sectors (bytes is a multiple of 512) with rep movsq: the
 * bounce copies are the front-end's main cost, and one string instruction
 * is far cheaper than a byte loop, natively and on the emulated CPU.
 */
static void copy_sectors(void *dst, const void *src, size_t bytes)
{
    size_t words = bytes / 8;
    __asm__ __volatile__("rep movsq" : "+D"(dst), "+S"(src), "+c"(words) : : "memory");
}

static uint8_t *pool_page(pv_blkfront_t *dev, unsigned int idx)
{
    return dev->pool + (size_t)idx * PAGE;
}

/* ---- handshake */

struct publish_args {
    pv_blkfront_t *dev;
};

static int publish(pv_xbt_t tx, void *arg)
{
    pv_blkfront_t *dev = ((struct publish_args *)arg)->dev;
    char path[160], val[24];
    int rc;
    if (dev->ring_order == 0) {
        pv_snprintf(path, sizeof(path), "%s/ring-ref", dev->nodename);
        pv_snprintf(val, sizeof(val), "%u", dev->ring_refs[0]);
        if ((rc = pv_xenbus_write(tx, path, val)) < 0)
            return rc;
    } else {
        pv_snprintf(path, sizeof(path), "%s/ring-page-order", dev->nodename);
        pv_snprintf(val, sizeof(val), "%u", dev->ring_order);
        if ((rc = pv_xenbus_write(tx, path, val)) < 0)
            return rc;
        for (unsigned int i = 0; i < (1u << dev->ring_order); i++) {
            pv_snprintf(path, sizeof(path), "%s/ring-ref%u", dev->nodename, i);
            pv_snprintf(val, sizeof(val), "%u", dev->ring_refs[i]);
            if ((rc = pv_xenbus_write(tx, path, val)) < 0)
                return rc;
        }
    }
    pv_snprintf(path, sizeof(path), "%s/event-channel", dev->nodename);
    pv_snprintf(val, sizeof(val), "%u", dev->port);
    if ((rc = pv_xenbus_write(tx, path, val)) < 0)
        return rc;
    pv_snprintf(path, sizeof(path), "%s/protocol", dev->nodename);
    if ((rc = pv_xenbus_write(tx, path, "x86_64-abi")) < 0)
        return rc;
    pv_snprintf(path, sizeof(path), "%s/feature-persistent", dev->nodename);
    if ((rc = pv_xenbus_write(tx, path, dev->persistent ? "1" : "0")) < 0)
        return rc;
    return write_state(tx, dev->nodename, XenbusStateInitialised);
}

static long ensure_gnttab(pv_blkfront_t *dev, void *probe_page)
{
    long ref = grant(dev, probe_page, true);
    if (ref == -XEN_ENODEV) {
        long rc = -XEN_ENODEV;
        for (unsigned int frames = 4; frames > 0 && rc != 0; frames--)
            rc = pv_gnttab_init(frames);
        if (rc != 0)
            return rc;
        ref = grant(dev, probe_page, true);
    }
    if (ref < 0)
        return ref;
    pv_grant_end_access((grant_ref_t)ref);
    return 0;
}

long pv_blkfront_open(pv_blkfront_t *dev, long devid)
{
    return pv_blkfront_open_flags(dev, devid, 0);
}

long pv_blkfront_open_flags(pv_blkfront_t *dev, long devid, unsigned int flags)
{
    memset(dev, 0, sizeof(*dev));
    for (unsigned int i = 0; i < MAX_SLOTS; i++)
        slots[i].busy = false;
    long rc;
    if (devid < 0) {
        char names[128];
        rc = pv_xenbus_directory(XBT_NIL, "device/vbd", names, sizeof(names));
        if (rc < 0)
            return rc;
        if (rc == 0)
            return -XEN_ENOENT;
        uint64_t id;
        if (parse_u64(names, &id) < 0)
            return -XEN_EIO;
        devid = (long)id;
    }
    pv_snprintf(dev->nodename, sizeof(dev->nodename), "device/vbd/%ld", devid);

    char path[160];
    uint64_t v;
    pv_snprintf(path, sizeof(path), "%s/backend", dev->nodename);
    rc = pv_xenbus_read(path, dev->backend, sizeof(dev->backend));
    if (rc < 0)
        return rc;
    if ((rc = read_num(dev->nodename, "backend-id", ~0ull, &v)) < 0 || v >= DOMID_FIRST_RESERVED)
        return rc < 0 ? rc : -XEN_EIO;
    dev->backend_id = (domid_t)v;

    /* The back-end publishes its features before InitWait. */
    XenbusState st;
    rc = wait_state(dev->backend, (1u << XenbusStateInitWait) | (1u << XenbusStateInitialised) |
                                  (1u << XenbusStateConnected), &st);
    if (rc < 0)
        return rc;
    uint64_t order, indirect, persistent, flush, barrier;
    if ((rc = read_num(dev->backend, "max-ring-page-order", 0, &order)) < 0 ||
        (rc = read_num(dev->backend, "feature-max-indirect-segments", 0, &indirect)) < 0 ||
        (rc = read_num(dev->backend, "feature-persistent", 0, &persistent)) < 0 ||
        (rc = read_num(dev->backend, "feature-flush-cache", 0, &flush)) < 0 ||
        (rc = read_num(dev->backend, "feature-barrier", 0, &barrier)) < 0)
        return -XEN_EIO;
    dev->ring_order = order > PV_BLKFRONT_MAX_RING_ORDER ? PV_BLKFRONT_MAX_RING_ORDER : (unsigned int)order;
    dev->persistent = persistent == 1 && !(flags & PV_BLKFRONT_NO_PERSISTENT);
    dev->feature_flush = flush == 1;
    dev->feature_barrier = barrier == 1;
    dev->max_indirect_segs = indirect > PV_BLKFRONT_MAX_INDIRECT_SEGS ? PV_BLKFRONT_MAX_INDIRECT_SEGS
                                                                      : (unsigned int)indirect;
    if (dev->max_indirect_segs <= BLKIF_MAX_SEGMENTS_PER_REQUEST || (flags & PV_BLKFRONT_NO_INDIRECT))
        dev->max_indirect_segs = 0;     /* no gain over direct requests */
    dev->segs_per_request = dev->max_indirect_segs ? dev->max_indirect_segs : BLKIF_MAX_SEGMENTS_PER_REQUEST;

    /* Ring. */
    unsigned int ring_pages = 1u << dev->ring_order;
    blkif_sring_t *sring = pv_pages_alloc(ring_pages);
    if (sring == NULL)
        return -XEN_ENOMEM;
    if ((rc = ensure_gnttab(dev, sring)) < 0)
        return rc;
    SHARED_RING_INIT(sring);
    FRONT_RING_INIT(&dev->ring, sring, (size_t)ring_pages * PAGE);
    for (unsigned int i = 0; i < ring_pages; i++) {
        rc = grant(dev, (uint8_t *)sring + (size_t)i * PAGE, false);
        if (rc < 0)
            return rc;
        dev->ring_refs[i] = (grant_ref_t)rc;
    }

    /* Bounce pool and indirect pages. */
    dev->max_inflight = PV_BLKFRONT_POOL_PAGES / dev->segs_per_request;
    if (dev->max_inflight > RING_SIZE(&dev->ring))
        dev->max_inflight = RING_SIZE(&dev->ring);
    dev->pool = pv_pages_alloc(PV_BLKFRONT_POOL_PAGES);
    if (dev->pool == NULL)
        return -XEN_ENOMEM;
    if (dev->max_indirect_segs) {
        dev->indirect_pages = pv_pages_alloc(dev->max_inflight);
        dev->indirect_refs = pv_calloc(dev->max_inflight, sizeof(grant_ref_t));
        if (dev->indirect_pages == NULL || dev->indirect_refs == NULL)
            return -XEN_ENOMEM;
    }
    if (dev->persistent) {
        /* Granted writable once: the back-end writes reads into them and reads writes out. */
        for (unsigned int i = 0; i < PV_BLKFRONT_POOL_PAGES; i++) {
            rc = grant(dev, pool_page(dev, i), false);
            if (rc < 0)
                return rc;
            dev->pool_refs[i] = (grant_ref_t)rc;
        }
        for (unsigned int i = 0; dev->max_indirect_segs && i < dev->max_inflight; i++) {
            rc = grant(dev, (uint8_t *)dev->indirect_pages + (size_t)i * PAGE, true);
            if (rc < 0)
                return rc;
            dev->indirect_refs[i] = (grant_ref_t)rc;
        }
    }

    rc = pv_evtchn_alloc_unbound(dev->backend_id, &dev->port);
    if (rc < 0)
        return rc;
    struct publish_args args = { dev };
    rc = pv_xenbus_transaction_run(publish, &args, 16);
    if (rc < 0)
        return rc;

    rc = wait_state(dev->backend, 1u << XenbusStateConnected, &st);
    if (rc < 0)
        return rc;
    uint64_t sector_size, info;
    if ((rc = read_num(dev->backend, "sectors", ~0ull, &dev->sectors)) < 0 || dev->sectors == ~0ull ||
        (rc = read_num(dev->backend, "sector-size", PV_BLKFRONT_SECTOR_SIZE, &sector_size)) < 0 ||
        (rc = read_num(dev->backend, "info", 0, &info)) < 0)
        return -XEN_EIO;
    if (sector_size != PV_BLKFRONT_SECTOR_SIZE)
        return -XEN_EOPNOTSUPP;     /* only 512-byte logical sectors */
    dev->sector_size = (uint32_t)sector_size;
    dev->info = (uint32_t)info;
    /* The back-end may advertise persistent grants but the front-end's word decides; it read ours. */
    return write_state(XBT_NIL, dev->nodename, XenbusStateConnected);
}

/* ---- data path */

static void notify(pv_blkfront_t *dev)
{
    int notify;
    RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&dev->ring, notify);
    if (notify)
        pv_evtchn_send(dev->port);
}

/*
 * Queues one request in slot s for 'nsect' sectors at 'sector'; for writes
 * the data is copied from src first.  Returns 0 or -XEN_E* (nothing queued).
 */
static long queue_rw(pv_blkfront_t *dev, unsigned int s, uint8_t op, uint64_t sector, uint8_t *user,
                     uint64_t nsect)
{
    unsigned int nseg = (unsigned int)((nsect + SECTS_PER_PAGE - 1) / SECTS_PER_PAGE);
    unsigned int first = s * dev->segs_per_request;
    bool indirect = nseg > BLKIF_MAX_SEGMENTS_PER_REQUEST;
    struct blkif_request_segment *segs;
    struct blkif_request_segment direct[BLKIF_MAX_SEGMENTS_PER_REQUEST];
    segs = indirect ? (struct blkif_request_segment *)((uint8_t *)dev->indirect_pages + (size_t)s * PAGE) : direct;

    uint64_t left = nsect;
    for (unsigned int i = 0; i < nseg; i++) {
        unsigned int n = left > SECTS_PER_PAGE ? SECTS_PER_PAGE : (unsigned int)left;
        uint8_t *page = pool_page(dev, first + i);
        if (op == BLKIF_OP_WRITE)
            copy_sectors(page, user + (size_t)i * PAGE, (size_t)n * PV_BLKFRONT_SECTOR_SIZE);
        if (!dev->persistent) {
            long ref = grant(dev, page, op == BLKIF_OP_WRITE);
            if (ref < 0) {
                while (i-- > 0)
                    end_grant(dev->pool_refs[first + i]);
                return ref;
            }
            dev->pool_refs[first + i] = (grant_ref_t)ref;
        }
        segs[i].gref = dev->pool_refs[first + i];
        segs[i].first_sect = 0;
        segs[i].last_sect = (uint8_t)(n - 1);
        left -= n;
    }

    RING_IDX idx = dev->ring.req_prod_pvt;
    if (indirect) {
        if (!dev->persistent) {
            long ref = grant(dev, segs, true);
            if (ref < 0) {
                for (unsigned int i = 0; i < nseg; i++)
                    end_grant(dev->pool_refs[first + i]);
                return ref;
            }
            dev->indirect_refs[s] = (grant_ref_t)ref;
        }
        blkif_request_indirect_t *req = (blkif_request_indirect_t *)RING_GET_REQUEST(&dev->ring, idx);
        memset(req, 0, sizeof(struct blkif_request));
        req->operation = BLKIF_OP_INDIRECT;
        req->indirect_op = op;
        req->nr_segments = (uint16_t)nseg;
        req->id = s;
        req->sector_number = sector;
        req->handle = 0;
        req->indirect_grefs[0] = dev->indirect_refs[s];
    } else {
        blkif_request_t *req = RING_GET_REQUEST(&dev->ring, idx);
        req->operation = op;
        req->nr_segments = (uint8_t)nseg;
        req->handle = 0;
        req->id = s;
        req->sector_number = sector;
        for (unsigned int i = 0; i < nseg; i++)
            req->seg[i] = segs[i];
    }
    dev->ring.req_prod_pvt = idx + 1;
    slots[s] = (struct slot){ .busy = true, .op = op, .nseg = nseg, .user = user,
                              .bytes = nsect * PV_BLKFRONT_SECTOR_SIZE };
    dev->requests++;
    return 0;
}

/* Completes slot s with status st; returns 0 or -XEN_EIO. */
static long complete(pv_blkfront_t *dev, unsigned int s, int16_t st)
{
    struct slot *sl = &slots[s];
    unsigned int first = s * dev->segs_per_request;
    if (!dev->persistent && (sl->op == BLKIF_OP_READ || sl->op == BLKIF_OP_WRITE)) {
        for (unsigned int i = 0; i < sl->nseg; i++)
            end_grant(dev->pool_refs[first + i]);
        if (sl->nseg > BLKIF_MAX_SEGMENTS_PER_REQUEST)
            end_grant(dev->indirect_refs[s]);
    }
    if (st == BLKIF_RSP_OKAY && sl->op == BLKIF_OP_READ) {
        uint64_t left = sl->bytes;
        for (unsigned int i = 0; i < sl->nseg; i++) {
            size_t n = left > PAGE ? PAGE : (size_t)left;
            copy_sectors(sl->user + (size_t)i * PAGE, pool_page(dev, first + i), n);
            left -= n;
        }
    }
    sl->busy = false;
    if (st != BLKIF_RSP_OKAY) {
        dev->errors++;
        return st == BLKIF_RSP_EOPNOTSUPP ? -XEN_EOPNOTSUPP : -XEN_EIO;
    }
    return 0;
}

/*
 * Consumes the responses that are there (waiting for at least one when
 * 'block'); returns how many completed, or a negative error when a
 * response failed or the back-end broke the protocol (the first error is
 * kept in *err, the others still complete).
 */
static long reap(pv_blkfront_t *dev, bool block, long *err, unsigned int *done)
{
    for (;;) {
        RING_IDX prod = PV_READ_ONCE(dev->ring.sring->rsp_prod);
        xen_ring_rmb();
        if (RING_RESPONSE_PROD_OVERFLOW(&dev->ring, prod)) {
            pv_printf("blkfront: back-end produced %u responses for %u requests\n",
                      prod - dev->ring.rsp_cons, dev->ring.req_prod_pvt - dev->ring.rsp_cons);
            return -XEN_EIO;
        }
        unsigned int n = 0;
        for (RING_IDX i = dev->ring.rsp_cons; i != prod; i++) {
            blkif_response_t rsp;
            RING_COPY_RESPONSE(&dev->ring, i, &rsp);
            if (rsp.id >= MAX_SLOTS || !slots[rsp.id].busy ||
                (rsp.operation != slots[rsp.id].op && rsp.operation != BLKIF_OP_INDIRECT)) {
                pv_printf("blkfront: bogus response id %lu op %u\n", (unsigned long)rsp.id, rsp.operation);
                return -XEN_EIO;
            }
            long rc = complete(dev, (unsigned int)rsp.id, rsp.status);
            if (rc < 0 && *err == 0)
                *err = rc;
            n++;
        }
        dev->ring.rsp_cons = prod;
        *done += n;
        if (n > 0 || !block)
            return n;
        int more;
        RING_FINAL_CHECK_FOR_RESPONSES(&dev->ring, more);
        if (more)
            continue;
        /* A back-end that is closing (or whose domain was destroyed) answers no more: look every second. */
        if (pv_evtchn_wait(dev->port, pv_system_time_ns() + BACKEND_CHECK_NS) == -XEN_ETIME) {
            /* Unreadable (EACCES once the back-end's domain and its directory are gone) counts as gone. */
            XenbusState st = XenbusStateUnknown;
            if (read_state(dev->backend, &st) < 0 || st == XenbusStateClosing || st == XenbusStateClosed ||
                st == XenbusStateUnknown) {
                pv_printf("blkfront: back-end %s is %s with requests in flight\n", dev->backend,
                          st == XenbusStateUnknown ? "gone" : st == XenbusStateClosing ? "closing" : "closed");
                return -XEN_EIO;
            }
        }
    }
}

static long find_free_slot(pv_blkfront_t *dev)
{
    for (unsigned int s = 0; s < dev->max_inflight; s++)
        if (!slots[s].busy)
            return s;
    return -1;
}

static long do_rw(pv_blkfront_t *dev, uint8_t op, uint64_t sector, uint8_t *buf, uint64_t nsect)
{
    if (dev->pool == NULL)
        return -XEN_ENOTCONN;
    if (sector > dev->sectors || nsect > dev->sectors - sector)
        return -XEN_EINVAL;
    if (op == BLKIF_OP_WRITE && (dev->info & VDISK_READONLY))
        return -XEN_EROFS;
    uint64_t per_req = (uint64_t)dev->segs_per_request * SECTS_PER_PAGE;
    unsigned int inflight = 0, done = 0;
    long err = 0;
    while (nsect > 0 || inflight > done) {
        long s = nsect > 0 && err == 0 ? find_free_slot(dev) : -1;
        if (s >= 0) {
            uint64_t n = nsect > per_req ? per_req : nsect;
            long rc = queue_rw(dev, (unsigned int)s, op, sector, buf, n);
            if (rc < 0) {
                err = rc;
                nsect = 0;
                continue;
            }
            inflight++;
            sector += n;
            buf += n * PV_BLKFRONT_SECTOR_SIZE;
            nsect -= n;
            if (nsect > 0 && find_free_slot(dev) >= 0)
                continue;   /* batch more before the notification */
        }
        notify(dev);
        long rc = reap(dev, true, &err, &done);
        if (rc < 0)
            return rc;
        if (err != 0)
            nsect = 0;      /* stop queuing; drain what is in flight */
    }
    return err;
}

long pv_blkfront_read(pv_blkfront_t *dev, uint64_t sector, void *buf, uint64_t nsect)
{
    return do_rw(dev, BLKIF_OP_READ, sector, buf, nsect);
}

long pv_blkfront_write(pv_blkfront_t *dev, uint64_t sector, const void *buf, uint64_t nsect)
{
    return do_rw(dev, BLKIF_OP_WRITE, sector, (uint8_t *)(uintptr_t)buf, nsect);
}

long pv_blkfront_flush(pv_blkfront_t *dev)
{
    if (dev->pool == NULL)
        return -XEN_ENOTCONN;
    uint8_t op;
    if (dev->feature_flush)
        op = BLKIF_OP_FLUSH_DISKCACHE;
    else if (dev->feature_barrier)
        op = BLKIF_OP_WRITE_BARRIER;
    else
        return -XEN_EOPNOTSUPP;
    long s = find_free_slot(dev);
    if (s < 0)
        return -XEN_EBUSY;
    RING_IDX idx = dev->ring.req_prod_pvt;
    blkif_request_t *req = RING_GET_REQUEST(&dev->ring, idx);
    memset(req, 0, sizeof(*req));
    req->operation = op;
    req->nr_segments = 0;
    req->id = (uint64_t)s;
    req->sector_number = 0;
    dev->ring.req_prod_pvt = idx + 1;
    slots[s] = (struct slot){ .busy = true, .op = op };
    dev->requests++;
    notify(dev);
    long err = 0;
    unsigned int done = 0;
    while (slots[s].busy) {
        long rc = reap(dev, true, &err, &done);
        if (rc < 0)
            return rc;
    }
    return err;
}

long pv_blkfront_close(pv_blkfront_t *dev)
{
    if (dev->pool == NULL)
        return -XEN_ENOTCONN;
    long rc = write_state(XBT_NIL, dev->nodename, XenbusStateClosing);
    if (rc < 0)
        return rc;
    XenbusState st;
    rc = wait_state(dev->backend, (1u << XenbusStateClosing) | (1u << XenbusStateClosed), &st);
    write_state(XBT_NIL, dev->nodename, XenbusStateClosed);
    if (rc == 0 && st != XenbusStateClosed)
        wait_state(dev->backend, 1u << XenbusStateClosed, &st);
    /* The back-end has unmapped everything once it is Closed. */
    for (unsigned int i = 0; i < (1u << dev->ring_order); i++)
        end_grant(dev->ring_refs[i]);
    if (dev->persistent) {
        for (unsigned int i = 0; i < PV_BLKFRONT_POOL_PAGES; i++)
            end_grant(dev->pool_refs[i]);
        for (unsigned int i = 0; dev->max_indirect_segs && i < dev->max_inflight; i++)
            end_grant(dev->indirect_refs[i]);
    }
    pv_evtchn_close(dev->port);
    dev->pool = NULL;
    return rc;
}
