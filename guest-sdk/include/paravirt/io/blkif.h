/*
 * paravirt/io/blkif.h - the PV block protocol (blkfront <-> blkback).
 *
 * Facts from Xen's public/io/blkif.h.  Requests name the data by grant
 * references: each segment is one granted page and a sector range
 * [first_sect, last_sect] inside it (512-byte sectors).  BLKIF_OP_INDIRECT
 * requests name up to BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST granted pages
 * that each hold 512 struct blkif_request_segment, for large I/O when the
 * back end advertises feature-max-indirect-segments.
 */
#ifndef PARAVIRT_IO_BLKIF_H
#define PARAVIRT_IO_BLKIF_H

#include "../abi.h"
#include "../grant_table.h"
#include "ring.h"

#define BLKIF_OP_READ            0
#define BLKIF_OP_WRITE           1
#define BLKIF_OP_WRITE_BARRIER   2   /* feature-barrier */
#define BLKIF_OP_FLUSH_DISKCACHE 3   /* feature-flush-cache */
#define BLKIF_OP_RESERVED_1      4   /* was used by blktap */
#define BLKIF_OP_DISCARD         5   /* feature-discard */
#define BLKIF_OP_INDIRECT        6   /* feature-max-indirect-segments */

/* Segments carried directly in a request. */
#define BLKIF_MAX_SEGMENTS_PER_REQUEST 11
/* Indirect requests: pages of segment descriptors per request. */
#define BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST 8
#define BLKIF_SEGS_PER_INDIRECT_FRAME (4096 / sizeof(struct blkif_request_segment))

/* Response status. */
#define BLKIF_RSP_EOPNOTSUPP (-2)
#define BLKIF_RSP_ERROR      (-1)
#define BLKIF_RSP_OKAY       0

/* blkif_request_discard.flag */
#define BLKIF_DISCARD_SECURE (1 << 0)

/* virtual device 'info' bits (backend's "info" node). */
#define VDISK_CDROM     0x1
#define VDISK_REMOVABLE 0x2
#define VDISK_READONLY  0x4

#ifndef __ASSEMBLY__

typedef uint16_t blkif_vdev_t;
typedef uint64_t blkif_sector_t;

struct blkif_request_segment {
    grant_ref_t gref;       /* granted page holding the data */
    uint8_t     first_sect; /* first sector in the page (0..7) */
    uint8_t     last_sect;  /* last sector, inclusive */
};
PV_ABI_SIZE(struct blkif_request_segment, 8);
PV_ABI_OFFSET(struct blkif_request_segment, first_sect, 4);
PV_ABI_OFFSET(struct blkif_request_segment, last_sect, 5);

struct blkif_request {
    uint8_t        operation;       /* BLKIF_OP_* */
    uint8_t        nr_segments;     /* 1..BLKIF_MAX_SEGMENTS_PER_REQUEST */
    blkif_vdev_t   handle;          /* device (only read/write) */
    uint64_t       id;              /* echoed in the response */
    blkif_sector_t sector_number;   /* first sector on the disk */
    struct blkif_request_segment seg[BLKIF_MAX_SEGMENTS_PER_REQUEST];
};
typedef struct blkif_request blkif_request_t;
PV_ABI_SIZE(struct blkif_request, 112);
PV_ABI_OFFSET(struct blkif_request, nr_segments, 1);
PV_ABI_OFFSET(struct blkif_request, handle, 2);
PV_ABI_OFFSET(struct blkif_request, id, 8);
PV_ABI_OFFSET(struct blkif_request, sector_number, 16);
PV_ABI_OFFSET(struct blkif_request, seg, 24);

struct blkif_request_discard {
    uint8_t        operation;       /* BLKIF_OP_DISCARD */
    uint8_t        flag;            /* BLKIF_DISCARD_* */
    blkif_vdev_t   handle;
    uint64_t       id;
    blkif_sector_t sector_number;
    blkif_sector_t nr_sectors;
};
typedef struct blkif_request_discard blkif_request_discard_t;
PV_ABI_SIZE(struct blkif_request_discard, 32);
PV_ABI_OFFSET(struct blkif_request_discard, flag, 1);
PV_ABI_OFFSET(struct blkif_request_discard, id, 8);
PV_ABI_OFFSET(struct blkif_request_discard, sector_number, 16);
PV_ABI_OFFSET(struct blkif_request_discard, nr_sectors, 24);

struct blkif_request_indirect {
    uint8_t        operation;       /* BLKIF_OP_INDIRECT */
    uint8_t        indirect_op;     /* BLKIF_OP_READ or _WRITE */
    uint16_t       nr_segments;     /* total segments over all indirect pages */
    uint64_t       id;
    blkif_sector_t sector_number;
    blkif_vdev_t   handle;
    grant_ref_t    indirect_grefs[BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST];
};
typedef struct blkif_request_indirect blkif_request_indirect_t;
PV_ABI_SIZE(struct blkif_request_indirect, 64);
PV_ABI_OFFSET(struct blkif_request_indirect, indirect_op, 1);
PV_ABI_OFFSET(struct blkif_request_indirect, nr_segments, 2);
PV_ABI_OFFSET(struct blkif_request_indirect, id, 8);
PV_ABI_OFFSET(struct blkif_request_indirect, sector_number, 16);
PV_ABI_OFFSET(struct blkif_request_indirect, handle, 24);
PV_ABI_OFFSET(struct blkif_request_indirect, indirect_grefs, 28);

struct blkif_response {
    uint64_t id;                    /* copied from the request */
    uint8_t  operation;             /* copied from the request */
    int16_t  status;                /* BLKIF_RSP_* */
};
typedef struct blkif_response blkif_response_t;
PV_ABI_SIZE(struct blkif_response, 16);
PV_ABI_OFFSET(struct blkif_response, operation, 8);
PV_ABI_OFFSET(struct blkif_response, status, 10);

DEFINE_RING_TYPES(blkif, struct blkif_request, struct blkif_response);
PV_RING_ABI_CHECK(blkif);
_Static_assert(__CONST_RING_SIZE(blkif, 4096) == 32, "32 blkif slots per page");

#endif /* !__ASSEMBLY__ */

#endif /* PARAVIRT_IO_BLKIF_H */
