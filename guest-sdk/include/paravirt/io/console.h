/*
 * paravirt/io/console.h - the PV console ring (struct xencons_interface),
 * at the path Xen's public headers use.  The definitions live in
 * paravirt/console.h, which the runtime has always included.
 */
#ifndef PARAVIRT_IO_CONSOLE_H
#define PARAVIRT_IO_CONSOLE_H
#include "../console.h"
#endif
