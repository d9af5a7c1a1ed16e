/*
 * paravirt/io/netif.h - the PV network protocol (netfront <-> netback).
 *
 * Facts from Xen's public/io/netif.h.  Two rings per queue: tx (the front
 * end grants packet fragments to send) and rx (the front end grants empty
 * pages for the back end to fill).  A packet may span several slots
 * (NETTXF_more_data / NETRXF_more_data) and carry extra-info slots (GSO,
 * multicast, hash) announced with *_extra_info.
 */
#ifndef PARAVIRT_IO_NETIF_H
#define PARAVIRT_IO_NETIF_H

#include "../abi.h"
#include "../grant_table.h"
#include "ring.h"

/* netif_tx_request.flags */
#define _NETTXF_csum_blank     0
#define NETTXF_csum_blank      (1U << _NETTXF_csum_blank)     /* checksum to be filled in */
#define _NETTXF_data_validated 1
#define NETTXF_data_validated  (1U << _NETTXF_data_validated) /* checksum already checked */
#define _NETTXF_more_data      2
#define NETTXF_more_data       (1U << _NETTXF_more_data)      /* packet continues in the next slot */
#define _NETTXF_extra_info     3
#define NETTXF_extra_info      (1U << _NETTXF_extra_info)     /* a netif_extra_info slot follows */

/* netif_rx_response.flags */
#define _NETRXF_data_validated 0
#define NETRXF_data_validated  (1U << _NETRXF_data_validated)
#define _NETRXF_csum_blank     1
#define NETRXF_csum_blank      (1U << _NETRXF_csum_blank)
#define _NETRXF_more_data      2
#define NETRXF_more_data       (1U << _NETRXF_more_data)
#define _NETRXF_extra_info     3
#define NETRXF_extra_info      (1U << _NETRXF_extra_info)
#define _NETRXF_gso_prefix     4
#define NETRXF_gso_prefix      (1U << _NETRXF_gso_prefix)

/* Response status. */
#define NETIF_RSP_DROPPED (-2)
#define NETIF_RSP_ERROR   (-1)
#define NETIF_RSP_OKAY    0
#define NETIF_RSP_NULL    1   /* a padding response, no data */

/* netif_extra_info.type / flags */
#define XEN_NETIF_EXTRA_TYPE_NONE      0
#define XEN_NETIF_EXTRA_TYPE_GSO       1
#define XEN_NETIF_EXTRA_TYPE_MCAST_ADD 2
#define XEN_NETIF_EXTRA_TYPE_MCAST_DEL 3
#define XEN_NETIF_EXTRA_TYPE_HASH      4
#define XEN_NETIF_EXTRA_TYPE_MAX       5
#define _XEN_NETIF_EXTRA_FLAG_MORE     0
#define XEN_NETIF_EXTRA_FLAG_MORE      (1U << _XEN_NETIF_EXTRA_FLAG_MORE)

/* GSO types */
#define XEN_NETIF_GSO_TYPE_NONE  0
#define XEN_NETIF_GSO_TYPE_TCPV4 1
#define XEN_NETIF_GSO_TYPE_TCPV6 2

/* The largest packet a single request may describe (64 KiB - 1). */
#define XEN_NETIF_MAX_TX_SIZE 0xFFFF
/* Minimum slots the back end must accept for one packet. */
#define XEN_NETIF_NR_SLOTS_MIN 18

#ifndef __ASSEMBLY__

struct netif_tx_request {
    grant_ref_t gref;       /* granted page with the data */
    uint16_t    offset;     /* offset of the data in the page */
    uint16_t    flags;      /* NETTXF_* */
    uint16_t    id;         /* echoed in the response */
    uint16_t    size;       /* first slot: packet size; others: fragment size */
};
typedef struct netif_tx_request netif_tx_request_t;
PV_ABI_SIZE(struct netif_tx_request, 12);
PV_ABI_OFFSET(struct netif_tx_request, offset, 4);
PV_ABI_OFFSET(struct netif_tx_request, flags, 6);
PV_ABI_OFFSET(struct netif_tx_request, id, 8);
PV_ABI_OFFSET(struct netif_tx_request, size, 10);

struct netif_extra_info {
    uint8_t type;           /* XEN_NETIF_EXTRA_TYPE_* */
    uint8_t flags;          /* XEN_NETIF_EXTRA_FLAG_* */
    union {
        struct {
            uint16_t size;      /* MSS */
            uint8_t  type;      /* XEN_NETIF_GSO_TYPE_* */
            uint8_t  pad;
            uint16_t features;
        } gso;
        struct {
            uint8_t addr[6];    /* multicast MAC */
        } mcast;
        struct {
            uint8_t type;
            uint8_t algorithm;
            uint8_t value[4];
        } hash;
        uint16_t pad[3];
    } u;
};
typedef struct netif_extra_info netif_extra_info_t;
PV_ABI_SIZE(struct netif_extra_info, 8);
PV_ABI_OFFSET(struct netif_extra_info, u, 2);
PV_ABI_OFFSET(struct netif_extra_info, u.gso.type, 4);
PV_ABI_OFFSET(struct netif_extra_info, u.gso.features, 6);

struct netif_tx_response {
    uint16_t id;
    int16_t  status;        /* NETIF_RSP_* */
};
typedef struct netif_tx_response netif_tx_response_t;
PV_ABI_SIZE(struct netif_tx_response, 4);

struct netif_rx_request {
    uint16_t    id;         /* echoed in the response */
    uint16_t    pad;
    grant_ref_t gref;       /* empty page for the back end to fill */
};
typedef struct netif_rx_request netif_rx_request_t;
PV_ABI_SIZE(struct netif_rx_request, 8);
PV_ABI_OFFSET(struct netif_rx_request, gref, 4);

struct netif_rx_response {
    uint16_t id;
    uint16_t offset;        /* where the data starts in the page */
    uint16_t flags;         /* NETRXF_* */
    int16_t  status;        /* < 0: NETIF_RSP_*; >= 0: bytes received */
};
typedef struct netif_rx_response netif_rx_response_t;
PV_ABI_SIZE(struct netif_rx_response, 8);
PV_ABI_OFFSET(struct netif_rx_response, offset, 2);
PV_ABI_OFFSET(struct netif_rx_response, flags, 4);
PV_ABI_OFFSET(struct netif_rx_response, status, 6);

DEFINE_RING_TYPES(netif_tx, struct netif_tx_request, struct netif_tx_response);
DEFINE_RING_TYPES(netif_rx, struct netif_rx_request, struct netif_rx_response);
PV_RING_ABI_CHECK(netif_tx);
PV_RING_ABI_CHECK(netif_rx);
_Static_assert(__CONST_RING_SIZE(netif_tx, 4096) == 256, "256 tx slots per page");
_Static_assert(__CONST_RING_SIZE(netif_rx, 4096) == 256, "256 rx slots per page");

#endif /* !__ASSEMBLY__ */

#endif /* PARAVIRT_IO_NETIF_H */
