/*
 * paravirt/console.h - the PV console ring shared with xenconsoled.
 * Facts from Xen's public/io/console.h.
 *
 * The page is start_info.console.domU.mfn, notified through
 * start_info.console.domU.evtchn.  Indexes are free-running; a ring holds
 * (prod - cons) bytes, never more than its size.
 */
#ifndef PARAVIRT_CONSOLE_H
#define PARAVIRT_CONSOLE_H

#include "abi.h"

/* connection field values (Xen 4.21+; zero-filled pages read as connected). */
#define XENCONSOLE_CONNECTED    0
#define XENCONSOLE_DISCONNECTED 1

#ifndef __ASSEMBLY__

typedef uint32_t XENCONS_RING_IDX;

#define MASK_XENCONS_IDX(idx, ring) ((idx) & (sizeof(ring) - 1))

struct xencons_interface {
    char in[1024];                  /* console input: backend -> guest */
    char out[2048];                 /* console output: guest -> backend */
    XENCONS_RING_IDX in_cons, in_prod;
    XENCONS_RING_IDX out_cons, out_prod;
    uint8_t connection;             /* XENCONSOLE_*, written by the backend */
};
PV_ABI_OFFSET(struct xencons_interface, out, 1024);
PV_ABI_OFFSET(struct xencons_interface, in_cons, 3072);
PV_ABI_OFFSET(struct xencons_interface, in_prod, 3076);
PV_ABI_OFFSET(struct xencons_interface, out_cons, 3080);
PV_ABI_OFFSET(struct xencons_interface, out_prod, 3084);
PV_ABI_OFFSET(struct xencons_interface, connection, 3088);
PV_ABI_SIZE(struct xencons_interface, 3092);

#endif /* !__ASSEMBLY__ */

#endif /* PARAVIRT_CONSOLE_H */
