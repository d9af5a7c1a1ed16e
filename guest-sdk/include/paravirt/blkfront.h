/*
 * paravirt/blkfront.h - the PV block front-end of the guest runtime.
 *
 * pv_blkfront_open runs the xenbus handshake with the back-end named under
 * device/vbd/<id> (XenbusState Initialising -> Initialised, back-end
 * Connected -> Connected), publishing ring-ref(s)/ring-page-order,
 * event-channel, protocol "x86_64-abi" and feature-persistent.  I/O is
 * synchronous: a sector range is split into requests (direct, or
 * BLKIF_OP_INDIRECT when the back-end offers feature-max-indirect-segments),
 * queued on the ring together, and the call returns when every response is
 * in.  Data goes through bounce pages; with persistent grants they stay
 * granted for the device's lifetime, otherwise each segment is granted for
 * one request.  Sectors are 512 bytes (the blkif unit).
 * The grant table must be set up first (pv_gnttab_init); open does it with
 * the maximum frame count if nothing did.
 */
#ifndef PARAVIRT_BLKFRONT_H
#define PARAVIRT_BLKFRONT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "event_channel.h"
#include "grant_table.h"
#include "io/blkif.h"

#define PV_BLKFRONT_SECTOR_SIZE 512
/* Ring pages asked for at most (the back-end's max-ring-page-order caps it). */
#define PV_BLKFRONT_MAX_RING_ORDER 2
/* Bounce pages shared by the requests in flight. */
#define PV_BLKFRONT_POOL_PAGES 256
/* Segments per indirect request used at most (4 KiB each). */
#define PV_BLKFRONT_MAX_INDIRECT_SEGS 64

struct pv_blkfront {
    char nodename[32];              /* "device/vbd/<id>" */
    char backend[96];               /* back-end directory */
    domid_t backend_id;
    evtchn_port_t port;
    unsigned int ring_order;
    blkif_front_ring_t ring;
    grant_ref_t ring_refs[1 << PV_BLKFRONT_MAX_RING_ORDER];

    uint64_t sectors;               /* disk size in 512-byte sectors */
    uint32_t sector_size;
    uint32_t info;                  /* VDISK_* */
    bool feature_flush, feature_barrier, persistent;
    unsigned int max_indirect_segs; /* 0: no indirect requests */
    unsigned int segs_per_request;  /* what one request carries here */

    uint8_t *pool;                  /* PV_BLKFRONT_POOL_PAGES bounce pages */
    grant_ref_t pool_refs[PV_BLKFRONT_POOL_PAGES];  /* persistent mode */
    void *indirect_pages;           /* one per request slot in flight */
    grant_ref_t *indirect_refs;
    unsigned int max_inflight;      /* requests queued at once */

    uint64_t requests, errors;      /* counters */
};
typedef struct pv_blkfront pv_blkfront_t;

/*
 * Connects to device/vbd/<devid>; devid < 0 takes the first device listed.
 * Returns 0 or -XEN_E* (-XEN_ENOENT: no such device; -XEN_EIO: the back-end
 * closed or published nonsense).
 */
long pv_blkfront_open(pv_blkfront_t *dev, long devid);
/* Same, declining features the back-end offers (to exercise or compare the plain protocol). */
#define PV_BLKFRONT_NO_PERSISTENT 0x1u  /* grant per request; feature-persistent "0" */
#define PV_BLKFRONT_NO_INDIRECT   0x2u  /* direct requests only (11 segments) */
long pv_blkfront_open_flags(pv_blkfront_t *dev, long devid, unsigned int flags);
/* nsect sectors from 'sector' into/out of buf (any alignment).  0 or -XEN_E*
 * (-XEN_EINVAL out of range, -XEN_EROFS read-only disk, -XEN_EIO a response
 * other than BLKIF_RSP_OKAY). */
long pv_blkfront_read(pv_blkfront_t *dev, uint64_t sector, void *buf, uint64_t nsect);
long pv_blkfront_write(pv_blkfront_t *dev, uint64_t sector, const void *buf, uint64_t nsect);
/* Everything written so far reaches stable storage (flush-diskcache, else a
 * write barrier; -XEN_EOPNOTSUPP when the back-end offers neither). */
long pv_blkfront_flush(pv_blkfront_t *dev);
/* Closing -> Closed handshake; releases ring, grants and event channel. */
long pv_blkfront_close(pv_blkfront_t *dev);

#endif /* PARAVIRT_BLKFRONT_H */
