/*
 * paravirt/pv.h - the Paravirt guest runtime (libpv.a).
 *
 * A guest provides   int pv_main(start_info_t *si);
 * libpv's _start zeroes .bss, switches to its own stack, locates the console
 * and xenstore rings, then calls pv_main.  Returning 0 powers the domain off
 * (SCHEDOP_shutdown, SHUTDOWN_poweroff); any other value crashes it
 * (SHUTDOWN_crash).  Events stay masked: the runtime polls and yields.
 */
#ifndef PARAVIRT_PV_H
#define PARAVIRT_PV_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "console.h"
#include "errno.h"
#include "event_channel.h"
#include "hypercall.h"
#include "layout.h"
#include "sched.h"
#include "version.h"
#include "xen.h"
#include "xs_wire.h"

#define PV_NORETURN __attribute__((noreturn))
#define PV_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))

/*
 * Memory ordering for shared rings.  x86 is TSO: stores are not reordered
 * with stores, loads not with loads, so write/read barriers only need to
 * stop the compiler.  A full barrier (store then load) needs a locked op.
 */
#define pv_barrier() __asm__ __volatile__("" ::: "memory")
#define pv_wmb()     pv_barrier()
#define pv_rmb()     pv_barrier()
#define pv_mb()      __asm__ __volatile__("lock; addl $0,0(%%rsp)" ::: "memory", "cc")

/* Single-copy access to fields the other end of a ring may change. */
#define PV_READ_ONCE(x)      (*(const volatile __typeof__(x) *)&(x))
#define PV_WRITE_ONCE(x, v)  (*(volatile __typeof__(x) *)&(x) = (v))

/* ---- Entry point supplied by the guest program. */
int pv_main(start_info_t *si);

/* ---- Boot information. */
/* start_info as passed in rsi at entry (never NULL once pv_main runs). */
extern start_info_t *pv_start_info;

/*
 * Virtual address of a MACHINE frame inside the initial 1:1 region: finds
 * pfn with mfn_list[pfn] == mfn and returns PV_VIRT_BASE + pfn * 4096.
 * NULL if the frame is not the domain's.
 */
void *pv_mfn_to_virt(xen_pfn_t mfn);

/* ---- Domain control. */
PV_NORETURN void pv_shutdown(unsigned int reason);       /* SHUTDOWN_* */
void pv_yield(void);                                     /* SCHEDOP_yield */
/* Print "panic: <message>\n" on the console, then crash the domain. */
PV_NORETURN PV_PRINTF(1, 2) void pv_panic(const char *fmt, ...);

/* ---- Event channels. */
long pv_evtchn_send(evtchn_port_t port);

/* ---- Console (PV console ring; dom0 falls back to console_io). */
/* Writes all of buf; returns len, or -XEN_Exxx if the ring is unusable. */
long pv_console_write(const char *buf, size_t len);
int pv_puts(const char *s);   /* writes s without adding a newline */

/*
 * printf-style formatting.  Conversions: %d %i %u %x %X %o %c %s %p %%,
 * length modifiers hh h l ll z, flags '-' and '0', width and precision
 * (numbers or '*').  %p prints 0x followed by 16 hex digits.
 * pv_vsnprintf returns the length the full output needs (like C99).
 */
int pv_printf(const char *fmt, ...) PV_PRINTF(1, 2);
int pv_vprintf(const char *fmt, va_list ap);
int pv_snprintf(char *buf, size_t size, const char *fmt, ...) PV_PRINTF(3, 4);
int pv_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);

/* ---- Xenstore client (synchronous, req_id/tx_id 0, no transactions). */
/*
 * Reads 'path' (relative paths resolve under /local/domain/<domid>).  On
 * success stores the value NUL-terminated in buf and returns its length.
 * Errors: -XEN_ENOENT etc. as reported by xenstored, -XEN_E2BIG if the value
 * does not fit buf, -XEN_ENODEV without a store ring, -XEN_EIO on a
 * malformed reply or ring.
 */
int pv_xenbus_read(const char *path, char *buf, size_t size);

/* ---- Freestanding string functions (the compiler may emit calls). */
void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
size_t strnlen(const char *s, size_t max);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);

#endif /* PARAVIRT_PV_H */
