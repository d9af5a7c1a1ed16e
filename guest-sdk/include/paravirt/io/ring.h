/*
 * paravirt/io/ring.h - shared request/response rings for split drivers.
 *
 * Semantics of Xen's public/io/ring.h, written for this project.  A shared
 * ring is one page: a 64-byte header (req_prod, req_event, rsp_prod,
 * rsp_event, private bytes) followed by an array of slots, each a union of
 * one request and one response; the slot count is the largest power of two
 * that fits.  Indexes are free-running 32-bit counters, slot = idx & (n-1).
 *
 * The front end owns req_prod_pvt/rsp_cons, the back end req_cons/
 * rsp_prod_pvt; each side publishes its private producer index with a
 * PUSH macro and notifies the other only if the other asked (the *_event
 * index lies in the range just published): Xen's "event avoidance".
 *
 *   DEFINE_RING_TYPES(blkif, struct blkif_request, struct blkif_response)
 *
 * defines union blkif_sring_entry, struct blkif_sring, struct
 * blkif_front_ring and struct blkif_back_ring (and their _t typedefs).
 */
#ifndef PARAVIRT_IO_RING_H
#define PARAVIRT_IO_RING_H

#include "../abi.h"

#ifndef __ASSEMBLY__

typedef unsigned int RING_IDX;

/* Largest power of two <= x, for x < 2^32 (a constant expression). */
#define __RD2(x)  (((x) & 0x00000002U) ? 0x2U : ((x) & 0x1U))
#define __RD4(x)  (((x) & 0x0000000cU) ? __RD2((x) >> 2) << 2 : __RD2(x))
#define __RD8(x)  (((x) & 0x000000f0U) ? __RD4((x) >> 4) << 4 : __RD4(x))
#define __RD16(x) (((x) & 0x0000ff00U) ? __RD8((x) >> 8) << 8 : __RD8(x))
#define __RD32(x) (((x) & 0xffff0000U) ? __RD16((x) >> 16) << 16 : __RD16(x))

/* Header bytes before the slot array (fixed by the ABI). */
#define XEN_RING_HEADER_SIZE 64

/* Slots in a ring of _sz bytes whose slots are sizeof((_s)->ring[0]). */
#define __RING_SIZE(_s, _sz) \
    (__RD32((unsigned int)(((_sz) - (size_t)((char *)(_s)->ring - (char *)(_s))) / sizeof((_s)->ring[0]))))
/* The same as a constant expression from the type name (for static sizes). */
#define __CONST_RING_SIZE(_name, _sz) \
    (__RD32((unsigned int)(((_sz) - offsetof(struct _name##_sring, ring)) / \
                           sizeof(((struct _name##_sring *)0)->ring[0]))))

#define DEFINE_RING_TYPES(__name, __req_t, __rsp_t)                         \
union __name##_sring_entry {                                                \
    __req_t req;                                                            \
    __rsp_t rsp;                                                            \
};                                                                          \
struct __name##_sring {                                                     \
    RING_IDX req_prod, req_event;                                           \
    RING_IDX rsp_prod, rsp_event;                                           \
    union {                                                                 \
        struct { uint8_t smartpoll_active; } netif;                         \
        struct { uint8_t msg; } tapif_user;                                 \
        uint8_t pvt_pad[4];                                                 \
    } pvt;                                                                  \
    uint8_t __pad[44];                                                      \
    union __name##_sring_entry ring[1]; /* really a power of two */         \
};                                                                          \
struct __name##_front_ring {                                                \
    RING_IDX req_prod_pvt;                                                  \
    RING_IDX rsp_cons;                                                      \
    unsigned int nr_ents;                                                   \
    struct __name##_sring *sring;                                           \
};                                                                          \
struct __name##_back_ring {                                                 \
    RING_IDX rsp_prod_pvt;                                                  \
    RING_IDX req_cons;                                                      \
    unsigned int nr_ents;                                                   \
    struct __name##_sring *sring;                                           \
};                                                                          \
typedef struct __name##_sring __name##_sring_t;                             \
typedef struct __name##_front_ring __name##_front_ring_t;                   \
typedef struct __name##_back_ring __name##_back_ring_t

/* Pins the 64-byte header of a ring type (use after DEFINE_RING_TYPES). */
#define PV_RING_ABI_CHECK(__name)                                            \
    PV_ABI_OFFSET(struct __name##_sring, req_event, 4);                     \
    PV_ABI_OFFSET(struct __name##_sring, rsp_prod, 8);                      \
    PV_ABI_OFFSET(struct __name##_sring, rsp_event, 12);                    \
    PV_ABI_OFFSET(struct __name##_sring, pvt, 16);                          \
    PV_ABI_OFFSET(struct __name##_sring, ring, XEN_RING_HEADER_SIZE)

/* ---- Initialisation.  The front end creates the shared page. */
#define SHARED_RING_INIT(_s) do {                                           \
    (_s)->req_prod = (_s)->rsp_prod = 0;                                    \
    (_s)->req_event = (_s)->rsp_event = 1;                                  \
    __builtin_memset((_s)->pvt.pvt_pad, 0, sizeof((_s)->pvt.pvt_pad));                \
    __builtin_memset((_s)->__pad, 0, sizeof((_s)->__pad));                            \
} while (0)

#define FRONT_RING_ATTACH(_r, _s, _i, __size) do {                          \
    (_r)->req_prod_pvt = (_i);                                              \
    (_r)->rsp_cons = (_i);                                                  \
    (_r)->nr_ents = __RING_SIZE(_s, __size);                                \
    (_r)->sring = (_s);                                                     \
} while (0)
#define FRONT_RING_INIT(_r, _s, __size) FRONT_RING_ATTACH(_r, _s, 0, __size)

#define BACK_RING_ATTACH(_r, _s, _i, __size) do {                           \
    (_r)->rsp_prod_pvt = (_i);                                              \
    (_r)->req_cons = (_i);                                                  \
    (_r)->nr_ents = __RING_SIZE(_s, __size);                                \
    (_r)->sring = (_s);                                                     \
} while (0)
#define BACK_RING_INIT(_r, _s, __size) BACK_RING_ATTACH(_r, _s, 0, __size)

/* ---- Queries. */
#define RING_SIZE(_r)  ((_r)->nr_ents)
#define RING_FREE_REQUESTS(_r) \
    (RING_SIZE(_r) - ((_r)->req_prod_pvt - (_r)->rsp_cons))
#define RING_FULL(_r)  (RING_FREE_REQUESTS(_r) == 0)
#define RING_HAS_UNCONSUMED_RESPONSES(_r) \
    ((_r)->sring->rsp_prod - (_r)->rsp_cons)
/* Requests the back end may consume: bounded by the ring size, so a hostile
 * front end cannot make the back end spin over stale slots. */
#define RING_HAS_UNCONSUMED_REQUESTS(_r) ({                                 \
    unsigned int __req = (_r)->sring->req_prod - (_r)->req_cons;            \
    unsigned int __rsp = RING_SIZE(_r) - ((_r)->req_cons - (_r)->rsp_prod_pvt); \
    __req < __rsp ? __req : __rsp; })
/* Request overflow check for the back end (a misbehaving front end). */
#define RING_REQUEST_CONS_OVERFLOW(_r, _cons) \
    (((_cons) - (_r)->rsp_prod_pvt) >= RING_SIZE(_r))
#define RING_REQUEST_PROD_OVERFLOW(_r, _prod) \
    (((_prod) - (_r)->rsp_prod_pvt) > RING_SIZE(_r))
#define RING_RESPONSE_PROD_OVERFLOW(_r, _prod) \
    (((_prod) - (_r)->rsp_cons) > RING_SIZE(_r))

/* ---- Slot access. */
#define RING_GET_REQUEST(_r, _idx) \
    (&((_r)->sring->ring[(_idx) & (RING_SIZE(_r) - 1)].req))
#define RING_GET_RESPONSE(_r, _idx) \
    (&((_r)->sring->ring[(_idx) & (RING_SIZE(_r) - 1)].rsp))
/* Copy a request out of the shared page, so a racing front end cannot
 * change it between the back end's checks and its use. */
#define RING_COPY_REQUEST(_r, _idx, _req) do {                              \
    *(_req) = *(volatile __typeof__(_req))RING_GET_REQUEST(_r, _idx);       \
} while (0)
#define RING_COPY_RESPONSE(_r, _idx, _rsp) do {                             \
    *(_rsp) = *(volatile __typeof__(_rsp))RING_GET_RESPONSE(_r, _idx);      \
} while (0)

/* Barriers: x86 is TSO, so ordering stores/loads needs only the compiler;
 * a store followed by a load of another location needs a locked op. */
#define xen_ring_wmb() __asm__ __volatile__("" ::: "memory")
#define xen_ring_rmb() __asm__ __volatile__("" ::: "memory")
#define xen_ring_mb()  __asm__ __volatile__("lock; addl $0,0(%%rsp)" ::: "memory", "cc")

/* ---- Publishing. */
#define RING_PUSH_REQUESTS(_r) do {                                         \
    xen_ring_wmb();                 /* requests before the index */         \
    (_r)->sring->req_prod = (_r)->req_prod_pvt;                             \
} while (0)

#define RING_PUSH_RESPONSES(_r) do {                                        \
    xen_ring_wmb();                 /* responses before the index */        \
    (_r)->sring->rsp_prod = (_r)->rsp_prod_pvt;                             \
} while (0)

/*
 * Publish, and tell the caller whether the other end must be notified: it
 * asked to be woken at req_event, and that index is in (old, new].
 */
#define RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(_r, _notify) do {               \
    RING_IDX __old = (_r)->sring->req_prod;                                 \
    RING_IDX __new = (_r)->req_prod_pvt;                                    \
    xen_ring_wmb();                                                         \
    (_r)->sring->req_prod = __new;                                          \
    xen_ring_mb();                  /* index before reading req_event */    \
    (_notify) = ((RING_IDX)(__new - (_r)->sring->req_event) <               \
                 (RING_IDX)(__new - __old));                                \
} while (0)

#define RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(_r, _notify) do {              \
    RING_IDX __old = (_r)->sring->rsp_prod;                                 \
    RING_IDX __new = (_r)->rsp_prod_pvt;                                    \
    xen_ring_wmb();                                                         \
    (_r)->sring->rsp_prod = __new;                                          \
    xen_ring_mb();                                                          \
    (_notify) = ((RING_IDX)(__new - (_r)->sring->rsp_event) <               \
                 (RING_IDX)(__new - __old));                                \
} while (0)

/*
 * Consumers: "anything more?" and, if not, ask to be woken by the next
 * item (set *_event one past what we consumed) and look once more, closing
 * the race with a producer that published just before the event index moved.
 */
#define RING_FINAL_CHECK_FOR_REQUESTS(_r, _work_to_do) do {                 \
    (_work_to_do) = RING_HAS_UNCONSUMED_REQUESTS(_r);                       \
    if (_work_to_do) break;                                                 \
    (_r)->sring->req_event = (_r)->req_cons + 1;                            \
    xen_ring_mb();                                                          \
    (_work_to_do) = RING_HAS_UNCONSUMED_REQUESTS(_r);                       \
} while (0)

#define RING_FINAL_CHECK_FOR_RESPONSES(_r, _work_to_do) do {                \
    (_work_to_do) = RING_HAS_UNCONSUMED_RESPONSES(_r);                      \
    if (_work_to_do) break;                                                 \
    (_r)->sring->rsp_event = (_r)->rsp_cons + 1;                            \
    xen_ring_mb();                                                          \
    (_work_to_do) = RING_HAS_UNCONSUMED_RESPONSES(_r);                      \
} while (0)

#endif /* !__ASSEMBLY__ */

#endif /* PARAVIRT_IO_RING_H */
