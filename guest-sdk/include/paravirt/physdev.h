/*
 * paravirt/physdev.h - HYPERVISOR_physdev_op(cmd, arg): a PV kernel's I/O
 * privilege.  Facts from Xen's public/physdev.h.  Port accesses the virtual
 * IOPL or the I/O bitmap permit are emulated instead of raising #GP; ports
 * the domain was not given read as all ones and ignore writes.
 */
#ifndef PARAVIRT_PHYSDEV_H
#define PARAVIRT_PHYSDEV_H

#include "abi.h"

/* Set the vCPU's virtual IOPL (0-3; the guest kernel counts as ring 1). */
#define PHYSDEVOP_set_iopl      6
/* Point at an I/O permission bitmap (a clear bit permits its port). */
#define PHYSDEVOP_set_iobitmap  7

#ifndef __ASSEMBLY__
#include <stdint.h>

struct physdev_set_iopl {
    uint32_t iopl;                   /* IN */
};
PV_ABI_SIZE(struct physdev_set_iopl, 4);

struct physdev_set_iobitmap {
    uint8_t *bitmap;                 /* IN: a guest handle, 8192 bytes */
    uint32_t nr_ports;               /* IN: ports it covers, at most 65536 */
};
PV_ABI_SIZE(struct physdev_set_iobitmap, 16);
PV_ABI_OFFSET(struct physdev_set_iobitmap, nr_ports, 8);

/* The legacy HYPERVISOR_physdev_op_compat argument: the command and its struct. */
struct physdev_op {
    uint32_t cmd;
    union {
        struct physdev_set_iopl     set_iopl;
        struct physdev_set_iobitmap set_iobitmap;
        uint64_t                    _pad[2];
    } u;
};
PV_ABI_SIZE(struct physdev_op, 24);
PV_ABI_OFFSET(struct physdev_op, u, 8);

#endif /* __ASSEMBLY__ */
#endif
