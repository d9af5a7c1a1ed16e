/*
 * internal.h - libpv internals shared between its source files.
 */
#ifndef PARAVIRT_LIB_INTERNAL_H
#define PARAVIRT_LIB_INTERNAL_H

#include <paravirt/pv.h>

/* Locate the console ring (domU) or select console_io (dom0). */
void pv_console_init(const start_info_t *si);

/* Locate the xenstore ring; pv_xenbus_read fails with -XEN_ENODEV if absent. */
void pv_xenbus_init(const start_info_t *si);

/* printf engine: output goes to a sink in chunks. */
struct pv_sink {
    void (*put)(struct pv_sink *sink, const char *s, size_t n);
};
int pv_vformat(struct pv_sink *sink, const char *fmt, va_list ap);

#endif /* PARAVIRT_LIB_INTERNAL_H */
