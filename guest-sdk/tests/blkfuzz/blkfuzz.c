/*
 * blkfuzz - a hostile block front-end.
 *
 * Connects to its disk with the SDK's blkfront (an honest handshake), then
 * writes its own requests straight into the shared ring: unknown grant
 * references, grants made out to another domain, sectors beyond the disk
 * (including ones whose end wraps around 2^64), segment counts of 0 and
 * 12..255, sectors outside a page, bogus indirect descriptors (bad pages,
 * bad counts, bad segments inside a good page, unknown inner operations),
 * unknown operations, bad discards, and random entries.  Every one is
 * invalid by construction (a write never names a segment the back-end could
 * legitimately write from while its sectors are in range), so each must come
 * back BLKIF_RSP_ERROR or BLKIF_RSP_EOPNOTSUPP and the disk must stay as it
 * was.  Then one honest write and read still work, and finally a ring index
 * game (req_prod moved behind the responses) must make the back-end give up
 * on the ring: its state goes Closing.
 *
 *   blkfuzz: <n> hostile requests: <e> errors, <u> unsupported, 0 okay, 0 lost
 *   blkfuzz: honest write and read back of sectors 8+8 ok
 *   blkfuzz: back-end closed the ring after req_prod went backwards (state 5)
 *   blkfuzz: PASS
 *
 * extra="rounds=N seed=N" (default 600 random entries, seed 1).
 */
#include <paravirt/blkfront.h>
#include <paravirt/pv.h>

#define BAD_REF_BASE 0x70000000u
#define FOREIGN_DOMID 0x7ff0        /* no such domain: a grant made out to it is nobody's */

static pv_blkfront_t dev;
static uint64_t rng_state;
static unsigned long sent, errors, unsupported, okays, lost, mismatched;
static uint64_t next_id = 1;

static uint8_t *good_page;          /* granted to the back-end, writable */
static grant_ref_t good_ref;
static uint8_t *ro_page;            /* granted read-only */
static grant_ref_t ro_ref;
static grant_ref_t foreign_ref;     /* granted to a domain that is not the back-end */
static uint8_t *indirect_page;      /* granted read-only: segment descriptors */
static grant_ref_t indirect_ref;

static uint64_t splitmix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint64_t rnd(void)
{
    return splitmix64(++rng_state);
}

static uint64_t arg_num(const start_info_t *si, const char *key, uint64_t dflt)
{
    long v = pv_cmdline_number(si, key, 0x7fffffffffffffffL);
    return v < 0 ? dflt : (uint64_t)v;
}

static grant_ref_t bad_ref(void)
{
    return BAD_REF_BASE + (grant_ref_t)(rnd() % 0x0fffffffu);
}

/* A reference the back-end must refuse: unknown, or granted to another domain. */
static grant_ref_t refused_ref(void)
{
    return rnd() % 4 == 0 ? foreign_ref : bad_ref();
}

static blkif_request_t *slot(void)
{
    blkif_request_t *r = RING_GET_REQUEST(&dev.ring, dev.ring.req_prod_pvt);
    memset(r, 0, sizeof(*r));
    return r;
}

/* Publishes the request in the slot, waits for its response (bounded) and counts it. */
static void submit(uint64_t id)
{
    dev.ring.req_prod_pvt++;
    int notify;
    RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&dev.ring, notify);
    if (notify)
        pv_evtchn_send(dev.port);
    sent++;
    uint64_t deadline = pv_system_time_ns() + 5000000000ull;
    for (;;) {
        RING_IDX prod = PV_READ_ONCE(dev.ring.sring->rsp_prod);
        xen_ring_rmb();
        if (prod != dev.ring.rsp_cons) {
            blkif_response_t rsp;
            RING_COPY_RESPONSE(&dev.ring, dev.ring.rsp_cons, &rsp);
            dev.ring.rsp_cons++;
            if (rsp.id != id) {
                if (mismatched++ < 4)
                    pv_printf("blkfuzz: response for id %lu, expected %lu\n", (unsigned long)rsp.id, (unsigned long)id);
                continue;
            }
            if (rsp.status == BLKIF_RSP_ERROR)
                errors++;
            else if (rsp.status == BLKIF_RSP_EOPNOTSUPP)
                unsupported++;
            else if (okays++ < 4)
                pv_printf("blkfuzz: request %lu (op %u) got status %d\n", (unsigned long)id, rsp.operation, rsp.status);
            return;
        }
        int more;
        RING_FINAL_CHECK_FOR_RESPONSES(&dev.ring, more);
        if (more)
            continue;
        if (pv_evtchn_wait(dev.port, deadline) == -XEN_ETIME) {
            if (lost++ < 4)
                pv_printf("blkfuzz: no response to request %lu\n", (unsigned long)id);
            return;
        }
    }
}

static void rw(uint8_t op, uint64_t sector, unsigned int nseg, grant_ref_t (*ref)(void), uint8_t first, uint8_t last)
{
    blkif_request_t *r = slot();
    uint64_t id = next_id++;
    r->operation = op;
    r->nr_segments = (uint8_t)nseg;
    r->handle = 0;
    r->id = id;
    r->sector_number = sector;
    for (unsigned int i = 0; i < BLKIF_MAX_SEGMENTS_PER_REQUEST; i++)
        r->seg[i] = (struct blkif_request_segment){ .gref = ref(), .first_sect = first, .last_sect = last };
    submit(id);
}

static grant_ref_t good(void) { return good_ref; }
static grant_ref_t readonly(void) { return ro_ref; }

static void indirect(uint8_t inner, uint16_t nseg, uint64_t sector, bool good_page_ref)
{
    blkif_request_indirect_t *r = (blkif_request_indirect_t *)slot();
    uint64_t id = next_id++;
    r->operation = BLKIF_OP_INDIRECT;
    r->indirect_op = inner;
    r->nr_segments = nseg;
    r->id = id;
    r->sector_number = sector;
    for (unsigned int i = 0; i < BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST; i++)
        r->indirect_grefs[i] = good_page_ref && i == 0 ? indirect_ref : refused_ref();
    submit(id);
}

/* Fills the indirect page with descriptors of which every one names a refused grant. */
static void indirect_bad_segments(void)
{
    struct blkif_request_segment *segs = (struct blkif_request_segment *)indirect_page;
    for (unsigned int i = 0; i < BLKIF_SEGS_PER_INDIRECT_FRAME; i++)
        segs[i] = (struct blkif_request_segment){ .gref = refused_ref(), .first_sect = (uint8_t)(rnd() % 8), .last_sect = 7 };
}

/* Good grants, but each descriptor's sectors leave the page. */
static void indirect_bad_sectors(void)
{
    struct blkif_request_segment *segs = (struct blkif_request_segment *)indirect_page;
    for (unsigned int i = 0; i < BLKIF_SEGS_PER_INDIRECT_FRAME; i++) {
        uint8_t first = (uint8_t)(rnd() % 256), last = (uint8_t)(rnd() % 256);
        if (first <= last && last < 8)
            last = (uint8_t)(8 + rnd() % 248);
        segs[i] = (struct blkif_request_segment){ .gref = good_ref, .first_sect = first, .last_sect = last };
    }
}

static void discard(uint64_t sector, uint64_t nr, uint8_t flag)
{
    blkif_request_discard_t *r = (blkif_request_discard_t *)slot();
    uint64_t id = next_id++;
    r->operation = BLKIF_OP_DISCARD;
    r->flag = flag;
    r->id = id;
    r->sector_number = sector;
    r->nr_sectors = nr;
    submit(id);
}

/* The cases named in the header, each at least once. */
static void targeted(void)
{
    uint64_t end = dev.sectors;
    /* Bad grant references: unknown, another domain's, read-only for a read (the disk would write into it). */
    rw(BLKIF_OP_WRITE, 0, 1, bad_ref, 0, 7);
    rw(BLKIF_OP_WRITE, 0, 11, bad_ref, 0, 7);
    rw(BLKIF_OP_READ, 0, 3, bad_ref, 0, 7);
    rw(BLKIF_OP_WRITE, 16, 1, refused_ref, 0, 7);
    rw(BLKIF_OP_READ, 16, 1, readonly, 0, 7);
    /* Sectors beyond the disk, at its end, and wrapping around 2^64. */
    rw(BLKIF_OP_WRITE, end, 1, good, 0, 7);
    rw(BLKIF_OP_WRITE, end - 4, 1, good, 0, 7);
    rw(BLKIF_OP_WRITE, ~0ull - 3, 1, good, 0, 7);
    rw(BLKIF_OP_WRITE, 1ull << 63, 11, good, 0, 7);
    rw(BLKIF_OP_READ, ~0ull, 1, good, 0, 0);
    /* Segment counts. */
    rw(BLKIF_OP_WRITE, 0, 0, good, 0, 7);
    for (unsigned int n = 12; n < 256; n += 61)
        rw(BLKIF_OP_WRITE, 0, n, good, 0, 7);
    rw(BLKIF_OP_WRITE, 0, 255, good, 0, 7);
    /* Sectors outside a page. */
    rw(BLKIF_OP_WRITE, 0, 1, good, 5, 2);
    rw(BLKIF_OP_WRITE, 0, 1, good, 0, 8);
    rw(BLKIF_OP_WRITE, 0, 1, good, 255, 255);
    /* Indirect descriptors. */
    indirect(BLKIF_OP_WRITE, 8, 0, false);                  /* indirect page not granted */
    indirect(BLKIF_OP_WRITE, 0, 0, true);                   /* no segments */
    indirect(BLKIF_OP_WRITE, 65535, 0, true);               /* more than any page list holds */
    indirect(BLKIF_OP_WRITE, 4096, 0, true);                /* more than the back-end offers */
    indirect(BLKIF_OP_FLUSH_DISKCACHE, 8, 0, true);         /* inner op other than read/write */
    indirect(BLKIF_OP_INDIRECT, 8, 0, true);
    indirect(200, 8, 0, true);
    indirect_bad_segments();
    indirect(BLKIF_OP_WRITE, 8, 0, true);
    indirect(BLKIF_OP_WRITE, 64, 0, true);
    indirect_bad_sectors();
    indirect(BLKIF_OP_WRITE, 8, 0, true);
    indirect(BLKIF_OP_READ, 64, 0, true);
    /* Unknown operations. */
    rw(BLKIF_OP_RESERVED_1, 0, 1, good, 0, 7);
    rw(7, 0, 1, good, 0, 7);
    rw(255, 0, 1, good, 0, 7);
    /* Discards beyond the disk, wrapping, and the secure kind (not offered). */
    discard(end, 8, 0);
    discard(end - 1, 2, 0);
    discard(~0ull - 1, 4, 0);
    discard(0, ~0ull, 0);
    discard(0, 8, BLKIF_DISCARD_SECURE);
}

/* Random ring entries, patched so that none can be honest. */
static void random_entries(unsigned long rounds)
{
    for (unsigned long i = 0; i < rounds; i++) {
        blkif_request_t *r = slot();
        uint64_t *w = (uint64_t *)r;
        for (unsigned int k = 0; k < sizeof(*r) / 8; k++)
            w[k] = rnd();
        uint64_t id = next_id++;
        r->id = id;
        switch (rnd() % 6) {
        case 0:     /* a read or write whose every segment names a refused grant */
            r->operation = rnd() % 2 ? BLKIF_OP_WRITE : BLKIF_OP_READ;
            for (unsigned int k = 0; k < BLKIF_MAX_SEGMENTS_PER_REQUEST; k++)
                r->seg[k].gref = refused_ref();
            break;
        case 1: {   /* an indirect request whose every page names a refused grant */
            blkif_request_indirect_t *ind = (blkif_request_indirect_t *)r;
            ind->operation = BLKIF_OP_INDIRECT;
            for (unsigned int k = 0; k < BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST; k++)
                ind->indirect_grefs[k] = refused_ref();
            break;
        }
        case 2: {   /* a discard past the end of the disk */
            blkif_request_discard_t *d = (blkif_request_discard_t *)r;
            d->operation = BLKIF_OP_DISCARD;
            d->flag = 0;
            d->sector_number = dev.sectors + rnd() % (~0ull - dev.sectors);
            break;
        }
        case 3:     /* a write with good grants past the end of the disk */
            r->operation = BLKIF_OP_WRITE;
            r->sector_number = dev.sectors + rnd() % (~0ull - dev.sectors);
            for (unsigned int k = 0; k < BLKIF_MAX_SEGMENTS_PER_REQUEST; k++)
                r->seg[k] = (struct blkif_request_segment){ .gref = good_ref, .first_sect = 0, .last_sect = 7 };
            break;
        default:    /* an operation no one defined */
            r->operation = (uint8_t)(BLKIF_OP_INDIRECT + 1 + rnd() % (255 - BLKIF_OP_INDIRECT));
            break;
        }
        /* Games with the event index the back-end reads to decide whether to notify us. */
        if (rnd() % 8 == 0)
            dev.ring.sring->rsp_event = (RING_IDX)rnd();
        submit(id);
        dev.ring.sring->rsp_event = dev.ring.rsp_cons + 1;
    }
}

static bool honest_io(void)
{
    uint8_t *buf = pv_pages_alloc(2);
    if (buf == NULL)
        return false;
    memset(buf, 0xa5, 4096);
    long rc = pv_blkfront_write(&dev, 8, buf, 8);
    if (rc == 0)
        rc = pv_blkfront_flush(&dev);
    if (rc == 0)
        rc = pv_blkfront_read(&dev, 8, buf + 4096, 8);
    if (rc < 0) {
        pv_printf("blkfuzz: honest I/O failed (error %ld)\n", rc);
        return false;
    }
    for (unsigned int i = 0; i < 4096; i++)
        if (buf[4096 + i] != 0xa5) {
            pv_printf("blkfuzz: honest read back differs at byte %u\n", i);
            return false;
        }
    pv_printf("blkfuzz: honest write and read back of sectors 8+8 ok\n");
    return true;
}

/* req_prod moved behind what the back-end already answered: it must stop serving this ring. */
static bool index_game(void)
{
    dev.ring.sring->req_prod = dev.ring.rsp_cons - 1;
    pv_evtchn_send(dev.port);
    char path[128], state[16];
    pv_snprintf(path, sizeof(path), "%s/state", dev.backend);
    uint64_t deadline = pv_system_time_ns() + 10000000000ull;
    while (pv_system_time_ns() < deadline) {
        if (pv_xenbus_read(path, state, sizeof(state)) >= 0 && (state[0] == '5' || state[0] == '6') && state[1] == '\0') {
            pv_printf("blkfuzz: back-end closed the ring after req_prod went backwards (state %s)\n", state);
            return true;
        }
        pv_sleep_ns(1000000);
    }
    pv_printf("blkfuzz: back-end kept the ring after req_prod went backwards\n");
    return false;
}

int pv_main(start_info_t *si)
{
    rng_state = arg_num(si, "seed=", 1);
    unsigned long rounds = (unsigned long)arg_num(si, "rounds=", 600);
    long rc = pv_blkfront_open(&dev, -1);
    if (rc < 0) {
        pv_printf("blkfuzz: cannot connect to the disk (error %ld)\n", rc);
        return 1;
    }
    pv_printf("blkfuzz: %s: %lu sectors, back-end d%u, ring of %u, indirect %u\n", dev.nodename,
              (unsigned long)dev.sectors, dev.backend_id, RING_SIZE(&dev.ring), dev.max_indirect_segs);
    good_page = pv_page_alloc();
    ro_page = pv_page_alloc();
    indirect_page = pv_page_alloc();
    uint8_t *foreign_page = pv_page_alloc();
    if (good_page == NULL || ro_page == NULL || indirect_page == NULL || foreign_page == NULL) {
        pv_printf("blkfuzz: out of memory\n");
        return 1;
    }
    memset(good_page, 0x5a, 4096);
    long g1 = pv_grant_access(dev.backend_id, pv_virt_to_mfn(good_page), false);
    long g2 = pv_grant_access(dev.backend_id, pv_virt_to_mfn(ro_page), true);
    long g3 = pv_grant_access(FOREIGN_DOMID, pv_virt_to_mfn(foreign_page), false);
    long g4 = pv_grant_access(dev.backend_id, pv_virt_to_mfn(indirect_page), true);
    if (g1 < 0 || g2 < 0 || g3 < 0 || g4 < 0) {
        pv_printf("blkfuzz: cannot grant pages (%ld %ld %ld %ld)\n", g1, g2, g3, g4);
        return 1;
    }
    good_ref = (grant_ref_t)g1;
    ro_ref = (grant_ref_t)g2;
    foreign_ref = (grant_ref_t)g3;
    indirect_ref = (grant_ref_t)g4;

    targeted();
    random_entries(rounds);
    pv_printf("blkfuzz: %lu hostile requests: %lu errors, %lu unsupported, %lu okay, %lu lost\n", sent, errors,
              unsupported, okays, lost);
    bool ok = okays == 0 && lost == 0 && mismatched == 0 && errors + unsupported == sent;
    ok = honest_io() && ok;
    ok = index_game() && ok;
    pv_printf("blkfuzz: %s\n", ok ? "PASS" : "FAIL");
    return ok ? 0 : 1;
}
