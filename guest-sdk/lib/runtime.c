/*
 * runtime.c - from _start to pv_main and back out through SCHEDOP_shutdown.
 */
#include <paravirt/pv.h>

#include "internal.h"

start_info_t *pv_start_info;

void *pv_mfn_to_virt(xen_pfn_t mfn)
{
    const start_info_t *si = pv_start_info;
    if (si == NULL || si->mfn_list == 0)
        return NULL;

    /*
     * mfn_list is the initial p2m (one xen_pfn_t per pseudo-physical frame,
     * nr_pages entries).  The bootstrap region maps pfn N at VIRT_BASE + N
     * pages, and the builder puts the store and console rings inside it.
     * The p2m is guest-writable memory, so bound the pfn as well: it must
     * fit below the top of the address space.
     */
    const xen_pfn_t *p2m = (const xen_pfn_t *)si->mfn_list;
    const unsigned long max_pfn = (0UL - PV_VIRT_BASE) >> PV_PAGE_SHIFT;
    unsigned long nr = si->nr_pages < max_pfn ? si->nr_pages : max_pfn;

    for (unsigned long pfn = 0; pfn < nr; pfn++) {
        if (p2m[pfn] == mfn)
            return (void *)(PV_VIRT_BASE + (pfn << PV_PAGE_SHIFT));
    }
    return NULL;
}

void pv_yield(void)
{
    HYPERVISOR_sched_op(SCHEDOP_yield, NULL);
}

long pv_evtchn_send(evtchn_port_t port)
{
    evtchn_send_t send = { .port = port };
    return HYPERVISOR_event_channel_op(EVTCHNOP_send, &send);
}

void pv_shutdown(unsigned int reason)
{
    sched_shutdown_t op = { .reason = reason };

    /*
     * On success the hypervisor pauses every vCPU of the domain, so the call
     * does not come back.  If it does (refused, or a broken hypervisor),
     * keep asking rather than run off the end: returning here would execute
     * whatever follows.
     */
    for (;;) {
        HYPERVISOR_sched_op(SCHEDOP_shutdown, &op);
        HYPERVISOR_sched_op(SCHEDOP_yield, NULL);
    }
}

void pv_panic(const char *fmt, ...)
{
    char msg[256];
    va_list ap;

    va_start(ap, fmt);
    pv_vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    pv_printf("panic: %s\n", msg);
    pv_shutdown(SHUTDOWN_crash);
}

/* Called from _start on the runtime's own stack; never returns. */
PV_NORETURN void pv_boot(start_info_t *si);

void pv_boot(start_info_t *si)
{
    pv_start_info = si;

    /*
     * Without a plausible start_info nothing else (rings, p2m) can be
     * trusted: say so on the hypervisor console, which needs nothing but the
     * hypercall page, and crash.
     */
    if (si == NULL || memcmp(si->magic, XEN_START_INFO_MAGIC_PREFIX,
                             sizeof(XEN_START_INFO_MAGIC_PREFIX) - 1) != 0) {
        static char bad_magic[] = "paravirt: bad start_info magic\n";
        pv_start_info = NULL;
        HYPERVISOR_console_io(CONSOLEIO_write, sizeof(bad_magic) - 1, bad_magic);
        pv_shutdown(SHUTDOWN_crash);
    }

    pv_console_init(si);
    pv_xenbus_init(si);

    int rc = pv_main(si);
    if (rc != 0) {
        pv_printf("pv_main returned %d\n", rc);
        pv_shutdown(SHUTDOWN_crash);
    }
    pv_shutdown(SHUTDOWN_poweroff);
}
