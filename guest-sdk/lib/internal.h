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

/*
 * Waits for an event on port, or at least gives the CPU away: SCHEDOP_poll
 * (clearing the pending bit) once shared_info is mapped, SCHEDOP_yield
 * before.  Callers re-check their condition afterwards.
 */
void pv_wait_for_event(evtchn_port_t port);

/* Map shared_info and find the free pages of the initial mapping. */
void pv_shared_info_init(const start_info_t *si);
void pv_mm_init(const start_info_t *si);
/* The page pool: count frames from pfn first_pfn, mapped contiguously at base. */
void pv_mm_set_pool(void *base, unsigned long first_pfn, unsigned long count);
void pv_mm_pool_range(unsigned long stack_pfn, unsigned long nr_pages,
                      unsigned long *first, unsigned long *count);

/* Use table (entries v1 entries, already mapped) for pv_grant_*. */
void pv_gnttab_attach(grant_entry_v1_t *table, unsigned int entries);

/* ---- SMP (smp.c, percpu.c, trampoline.c). */
struct vcpu_guest_context;
/* Which vCPU a port notifies (bind_virq/bind_ipi/bind_vcpu): only that vCPU's dispatcher runs its handler. */
void pv_evtchn_note_vcpu(evtchn_port_t port, unsigned int vcpu);
/* Clear this vCPU's upcall mask and have anything already pending delivered. */
void pv_upcalls_unmask(void);
/* Machine frame of the kernel L4 the guest runs on (pt_base, or what a trampolined mov-to-cr3 loaded). */
xen_pfn_t pv_current_l4_mfn(void);
/* Copy the trap-table entries libpv installed (pvport trampolines) into a new vCPU's context. */
void pv_trampoline_fill_context(struct vcpu_guest_context *ctx);
/* Installs the #BP handler when `pvport patch` filled the trampoline table (pv_boot). */
void pv_trampoline_init(void);

/* ---- Event channel bitmaps: shared with the hypervisor, so changed with locked instructions. */
#define BITS_PER_WORD (sizeof(xen_ulong_t) * 8)

static inline bool port_valid(evtchn_port_t port)
{
    return port < EVTCHN_2L_NR_CHANNELS;
}

static inline int sync_test_and_clear_bit(unsigned int nr, volatile xen_ulong_t *words)
{
    unsigned char old;
    __asm__ __volatile__("lock; btrq %2, %1; setc %0"
                         : "=q"(old), "+m"(words[nr / BITS_PER_WORD])
                         : "r"((xen_ulong_t)(nr % BITS_PER_WORD)) : "memory", "cc");
    return old;
}

static inline void sync_set_bit(unsigned int nr, volatile xen_ulong_t *words)
{
    __asm__ __volatile__("lock; btsq %1, %0"
                         : "+m"(words[nr / BITS_PER_WORD])
                         : "r"((xen_ulong_t)(nr % BITS_PER_WORD)) : "memory", "cc");
}

static inline int test_bit(unsigned int nr, const volatile xen_ulong_t *words)
{
    return (int)((words[nr / BITS_PER_WORD] >> (nr % BITS_PER_WORD)) & 1);
}

/* printf engine: output goes to a sink in chunks. */
struct pv_sink {
    void (*put)(struct pv_sink *sink, const char *s, size_t n);
};
int pv_vformat(struct pv_sink *sink, const char *fmt, va_list ap);

#endif /* PARAVIRT_LIB_INTERNAL_H */
