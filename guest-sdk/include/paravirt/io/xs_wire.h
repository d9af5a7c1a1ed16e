/*
 * paravirt/io/xs_wire.h - the xenstore wire protocol at the path Xen's
 * public headers use; the definitions live in paravirt/xs_wire.h.
 */
#ifndef PARAVIRT_IO_XS_WIRE_H
#define PARAVIRT_IO_XS_WIRE_H
#include "../xs_wire.h"
#endif
