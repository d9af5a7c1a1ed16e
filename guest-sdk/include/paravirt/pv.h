/*
 * paravirt/pv.h - the Paravirt guest runtime (libpv.a).
 *
 * A guest provides   int pv_main(start_info_t *si);
 * libpv's _start zeroes .bss, switches to its own stack, locates the console
 * and xenstore rings, then calls pv_main.  Returning 0 powers the domain off
 * (SCHEDOP_shutdown, SHUTDOWN_poweroff); any other value crashes it
 * (SHUTDOWN_crash).  Event upcalls stay masked unless the guest calls
 * pv_evtchn_enable_upcalls(); the runtime otherwise polls (SCHEDOP_poll).
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
#include "grant_table.h"
#include "hypercall.h"
#include "layout.h"
#include "sched.h"
#include "vcpu.h"
#include "version.h"
#include "xen.h"
#include "xs_wire.h"
#include "io/xenbus.h"

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

/* The decimal number after the word <key> (e.g. "peer=") on si's command line, or -1 when it is absent,
 * not a number, or not below limit. */
long pv_cmdline_number(const start_info_t *si, const char *key, long limit);
/* The whole string as a decimal number below limit, or -1 (empty, another character, too large). */
long pv_parse_decimal(const char *s, long limit);

/*
 * Virtual address of a MACHINE frame inside the initial 1:1 region: finds
 * pfn with mfn_list[pfn] == mfn and returns PV_VIRT_BASE + pfn * 4096.
 * NULL if the frame is not the domain's.
 */
void *pv_mfn_to_virt(xen_pfn_t mfn);

/* Machine frame of a pseudo-physical frame (initial p2m); INVALID_MFN if out of range. */
#define PV_INVALID_MFN (~0UL)
xen_pfn_t pv_pfn_to_mfn(xen_pfn_t pfn);
/* Machine frame behind a virtual address of the initial 1:1 region (PV_INVALID_MFN if outside it). */
xen_pfn_t pv_virt_to_mfn(const void *va);
/* Pseudo-physical frame of one of our machine frames (M2P when mapped, else a p2m scan). */
xen_pfn_t pv_mfn_to_pfn(xen_pfn_t mfn);
/* Page-table helpers (update_va_mapping): map a machine frame at a page-aligned va, or unmap it. */
long pv_map_mfn(void *va, xen_pfn_t mfn, bool writable);
long pv_unmap(void *va);

/*
 * The shared info page, mapped by pv_boot with update_va_mapping (NULL if
 * the hypervisor refused: then time and event-pending bits are unavailable
 * and the functions that need them return -XEN_ENODEV).
 */
extern shared_info_t *pv_shared_info;

/* ---- Domain control. */
PV_NORETURN void pv_shutdown(unsigned int reason);       /* SHUTDOWN_* */
void pv_yield(void);                                     /* SCHEDOP_yield */
/*
 * Print "panic: <message>\n" on the console, then a register dump of the
 * caller (rip = return address, rsp, callee-saved registers, a few stack
 * words), then crash the domain.
 */
PV_NORETURN PV_PRINTF(1, 2) void pv_panic(const char *fmt, ...);
/* Print a full register frame (for trap handlers and the panic path). */
void pv_dump_regs(const struct cpu_user_regs *regs);

/* ---- Event channels (2-level ABI, shared_info bitmaps). */
long pv_evtchn_send(evtchn_port_t port);
long pv_evtchn_bind_virq(uint32_t virq, uint32_t vcpu, evtchn_port_t *port);
long pv_evtchn_bind_interdomain(domid_t remote_dom, evtchn_port_t remote_port, evtchn_port_t *port);
long pv_evtchn_alloc_unbound(domid_t remote_dom, evtchn_port_t *port);
long pv_evtchn_close(evtchn_port_t port);
/* EVTCHNOP_bind_vcpu: notify vcpu instead; the dispatcher then runs the port's handler there. */
long pv_evtchn_bind_vcpu(evtchn_port_t port, uint32_t vcpu);
/* Masking is the guest's own bit in shared_info; unmask goes through Xen so
 * an event that arrived while masked is delivered. */
long pv_evtchn_mask(evtchn_port_t port);
long pv_evtchn_unmask(evtchn_port_t port);
/* Pending bit: test, and test-and-clear (atomic). 0/1, or -XEN_ENODEV/-XEN_EINVAL. */
int pv_evtchn_is_pending(evtchn_port_t port);
int pv_evtchn_test_and_clear(evtchn_port_t port);
/*
 * Blocks in SCHEDOP_poll until one of ports[0..n) is pending, then clears
 * it and stores it in *which.  deadline_ns is absolute system time (0 = no
 * timeout).  Returns 0, -XEN_ETIME at the deadline, or a poll error.
 */
long pv_evtchn_wait_any(const evtchn_port_t *ports, unsigned int n, uint64_t deadline_ns,
                        evtchn_port_t *which);
long pv_evtchn_wait(evtchn_port_t port, uint64_t deadline_ns);

/* Upcall dispatcher: handler per port, run from the event callback (or pv_evtchn_dispatch). */
typedef void (*pv_evtchn_handler_t)(evtchn_port_t port, void *data);
long pv_evtchn_set_handler(evtchn_port_t port, pv_evtchn_handler_t fn, void *data);
/* Runs the handlers of every pending, unmasked port (clearing their bits); returns how many ran. */
int pv_evtchn_dispatch(void);
/*
 * Registers the event callback (CALLBACKOP_register, CALLBACKTYPE_event,
 * events masked on entry) and unmasks upcalls on the calling vCPU.  Handlers then run
 * asynchronously, on the interrupted stack.
 */
long pv_evtchn_enable_upcalls(void);
void pv_evtchn_disable_upcalls(void);

/* ---- Time (the calling vCPU's vcpu_time_info, scaled from rdtsc). */
/* ns = system_time + ((tsc - tsc_timestamp) scaled by mul/shift). */
uint64_t pv_scale_delta(uint64_t delta, uint32_t mul_frac, int8_t shift);
/* System time in ns since boot; 0 if shared_info is not mapped. */
uint64_t pv_system_time_ns(void);
/* Wall clock: seconds and ns since the epoch (shared_info wc_* + system time). */
long pv_wallclock(uint64_t *sec, uint32_t *nsec);
/* Timers raise VIRQ_TIMER on vCPU 0; pv_timer_port binds it once. */
long pv_timer_port(evtchn_port_t *port);
long pv_timer_set_periodic(uint64_t period_ns);
long pv_timer_stop_periodic(void);
long pv_timer_set_singleshot(uint64_t deadline_ns);
/* Sleeps until system time + ns (singleshot timer + poll on VIRQ_TIMER). */
long pv_sleep_ns(uint64_t ns);

/* ---- Memory: the free pages of the initial mapping, and a heap over them. */
/* Page-aligned, zero-filled page of the initial 1:1 region, or NULL. */
void *pv_page_alloc(void);
/* n physically (pfn) and virtually contiguous pages, or NULL. */
void *pv_pages_alloc(size_t n);
void pv_page_free(void *page);
void pv_pages_free(void *pages, size_t n);
size_t pv_pages_free_count(void);
void *pv_malloc(size_t size);           /* 16-byte aligned, or NULL */
void *pv_calloc(size_t n, size_t size);
void pv_free(void *p);

/* ---- Grants (v1 table mapped with setup_table + update_va_mapping). */
/* Maps the table (nr_frames frames).  -XEN_E* if the hypervisor refuses. */
long pv_gnttab_init(unsigned int nr_frames);
/* Grants domid access to machine frame mfn; returns the reference or -XEN_E*. */
long pv_grant_access(domid_t domid, xen_pfn_t mfn, bool readonly);
/* Revokes a grant: 0, or -XEN_EBUSY while the grantee still maps it. */
long pv_grant_end_access(grant_ref_t ref);

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

/* ---- Xenstore client (synchronous, one request at a time). */
/* A transaction id; XBT_NIL (0) is "no transaction". */
typedef uint32_t pv_xbt_t;
#define XBT_NIL ((pv_xbt_t)0)
/*
 * Reads 'path' (relative paths resolve under /local/domain/<domid>).  On
 * success stores the value NUL-terminated in buf and returns its length.
 * Errors: -XEN_ENOENT etc. as reported by xenstored, -XEN_E2BIG if the value
 * does not fit buf, -XEN_ENODEV without a store ring, -XEN_EIO on a
 * malformed reply or ring.
 */
int pv_xenbus_read(const char *path, char *buf, size_t size);
int pv_xenbus_read_tx(pv_xbt_t tx, const char *path, char *buf, size_t size);
int pv_xenbus_write(pv_xbt_t tx, const char *path, const char *value);
int pv_xenbus_mkdir(pv_xbt_t tx, const char *path);
int pv_xenbus_rm(pv_xbt_t tx, const char *path);
/*
 * Lists the children of 'path' into buf as consecutive NUL-terminated names;
 * returns the number of children (-XEN_E2BIG if they do not fit).
 */
int pv_xenbus_directory(pv_xbt_t tx, const char *path, char *buf, size_t size);
/*
 * Sets the permissions of path: perms[0] is "<p><owner>" where <p> (r, w,
 * b = both, n = none) is what every domain not listed gets; the others are
 * "<p><domid>" entries.  Only the owner (or Dom0) may do this.
 */
int pv_xenbus_set_perms(pv_xbt_t tx, const char *path, const char *const *perms, unsigned int n);
/* Watches fire XS_WATCH_EVENT (path, token) for changes at or below path. */
int pv_xenbus_watch(const char *path, const char *token);
int pv_xenbus_unwatch(const char *path, const char *token);
/*
 * Next watch event (queued while other replies were awaited, or read from
 * the ring): path and token NUL-terminated.  With wait false returns
 * -XEN_EAGAIN when none is there.  The first event of every new watch is
 * the immediate one xenstored sends on registration.
 */
int pv_xenbus_read_watch(char *path, size_t path_size, char *token, size_t token_size, bool wait);
int pv_xenbus_transaction_start(pv_xbt_t *tx);
/* abort: discard the changes.  -XEN_EAGAIN: another writer won; start over. */
int pv_xenbus_transaction_end(pv_xbt_t tx, bool abort);
/*
 * Runs fn(tx, arg) in a transaction and commits it, starting over on
 * -XEN_EAGAIN (up to max_tries times); fn's own error aborts it.
 */
int pv_xenbus_transaction_run(int (*fn)(pv_xbt_t tx, void *arg), void *arg, unsigned int max_tries);
/* The domain's own id, read from "domid" once; -XEN_E* on failure. */
long pv_xenbus_domid(void);

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
