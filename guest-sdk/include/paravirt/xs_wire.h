/*
 * paravirt/xs_wire.h - the xenstore wire protocol and its shared ring.
 * Facts from Xen's public/io/xs_wire.h and docs/misc/xenstore*.txt.
 *
 * A message is a struct xsd_sockmsg header followed by 'len' payload bytes
 * (usually NUL-separated strings).  A guest talks to xenstored through one
 * shared page (start_info.store_mfn) holding two byte rings, and notifies
 * through start_info.store_evtchn.
 */
#ifndef PARAVIRT_XS_WIRE_H
#define PARAVIRT_XS_WIRE_H

#include "abi.h"

/* Message types (xsd_sockmsg.type). */
#define XS_CONTROL               0
#define XS_DEBUG                 XS_CONTROL
#define XS_DIRECTORY             1
#define XS_READ                  2
#define XS_GET_PERMS             3
#define XS_WATCH                 4
#define XS_UNWATCH               5
#define XS_TRANSACTION_START     6
#define XS_TRANSACTION_END       7
#define XS_INTRODUCE             8
#define XS_RELEASE               9
#define XS_GET_DOMAIN_PATH      10
#define XS_WRITE                11
#define XS_MKDIR                12
#define XS_RM                   13
#define XS_SET_PERMS            14
#define XS_WATCH_EVENT          15
#define XS_ERROR                16
#define XS_IS_DOMAIN_INTRODUCED 17
#define XS_RESUME               18
#define XS_SET_TARGET           19
/* 20 was XS_RESTRICT, removed */
#define XS_RESET_WATCHES        21
#define XS_DIRECTORY_PART       22
#define XS_TYPE_COUNT           23
#define XS_INVALID          0xffff   /* guaranteed never valid */

/* XS_WATCH_EVENT payload: path then token. */
#define XS_WATCH_PATH  0
#define XS_WATCH_TOKEN 1

#define XS_WRITE_NONE        "NONE"
#define XS_WRITE_CREATE      "CREATE"
#define XS_WRITE_CREATE_EXCL "CREATE|EXCL"

/* Ring geometry. */
#define XENSTORE_RING_SIZE 1024
#define MASK_XENSTORE_IDX(idx) ((idx) & (XENSTORE_RING_SIZE - 1))

/* Limits: exceeding the payload maximum is a protocol violation. */
#define XENSTORE_PAYLOAD_MAX  4096
#define XENSTORE_ABS_PATH_MAX 3072
#define XENSTORE_REL_PATH_MAX 2048

/* xenstore_domain_interface.server_features bits. */
#define XENSTORE_SERVER_FEATURE_RECONNECTION 1
#define XENSTORE_SERVER_FEATURE_ERROR        2

/* xenstore_domain_interface.connection values. */
#define XENSTORE_CONNECTED 0
#define XENSTORE_RECONNECT 1

/* xenstore_domain_interface.error values. */
#define XENSTORE_ERROR_NONE    0
#define XENSTORE_ERROR_COMM    1
#define XENSTORE_ERROR_RINGIDX 2
#define XENSTORE_ERROR_PROTO   3

#ifndef __ASSEMBLY__

struct xsd_sockmsg {
    uint32_t type;    /* XS_* */
    uint32_t req_id;  /* echoed in the reply */
    uint32_t tx_id;   /* transaction id, 0 = none */
    uint32_t len;     /* payload bytes that follow */
};
PV_ABI_SIZE(struct xsd_sockmsg, 16);
PV_ABI_OFFSET(struct xsd_sockmsg, req_id, 4);
PV_ABI_OFFSET(struct xsd_sockmsg, tx_id, 8);
PV_ABI_OFFSET(struct xsd_sockmsg, len, 12);

typedef uint32_t XENSTORE_RING_IDX;

/*
 * Free-running indexes: a ring holds (prod - cons) bytes, never more than
 * XENSTORE_RING_SIZE; byte i lives at MASK_XENSTORE_IDX(i).
 */
struct xenstore_domain_interface {
    char req[XENSTORE_RING_SIZE];   /* guest -> xenstored */
    char rsp[XENSTORE_RING_SIZE];   /* xenstored -> guest (replies, watch events) */
    XENSTORE_RING_IDX req_cons, req_prod;
    XENSTORE_RING_IDX rsp_cons, rsp_prod;
    uint32_t server_features;       /* XENSTORE_SERVER_FEATURE_* */
    uint32_t connection;            /* XENSTORE_CONNECTED / _RECONNECT */
    uint32_t error;                 /* XENSTORE_ERROR_* */
};
PV_ABI_SIZE(struct xenstore_domain_interface, 2076);
PV_ABI_OFFSET(struct xenstore_domain_interface, rsp, 1024);
PV_ABI_OFFSET(struct xenstore_domain_interface, req_cons, 2048);
PV_ABI_OFFSET(struct xenstore_domain_interface, req_prod, 2052);
PV_ABI_OFFSET(struct xenstore_domain_interface, rsp_cons, 2056);
PV_ABI_OFFSET(struct xenstore_domain_interface, rsp_prod, 2060);
PV_ABI_OFFSET(struct xenstore_domain_interface, server_features, 2064);
PV_ABI_OFFSET(struct xenstore_domain_interface, connection, 2068);
PV_ABI_OFFSET(struct xenstore_domain_interface, error, 2072);

#endif /* !__ASSEMBLY__ */

#endif /* PARAVIRT_XS_WIRE_H */
