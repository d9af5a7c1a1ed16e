/*
 * paravirt/io/xenbus.h - the states a split driver's front and back end
 * publish in their xenstore "state" nodes.  Facts from Xen's
 * public/io/xenbus.h; the number is written as decimal text.
 */
#ifndef PARAVIRT_IO_XENBUS_H
#define PARAVIRT_IO_XENBUS_H

#include "../abi.h"

#ifndef __ASSEMBLY__
enum xenbus_state {
    XenbusStateUnknown       = 0,
    XenbusStateInitialising  = 1,
    XenbusStateInitWait      = 2,   /* back end: waiting for front-end details */
    XenbusStateInitialised   = 3,   /* front end: ring and event channel published */
    XenbusStateConnected     = 4,
    XenbusStateClosing       = 5,   /* the device is going away */
    XenbusStateClosed        = 6,
    XenbusStateReconfiguring = 7,
    XenbusStateReconfigured  = 8,
};
typedef enum xenbus_state XenbusState;
_Static_assert(sizeof(enum xenbus_state) == 4, "XenbusState is an int");
#endif

#endif /* PARAVIRT_IO_XENBUS_H */
