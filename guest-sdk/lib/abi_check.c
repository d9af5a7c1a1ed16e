/*
 * abi_check.c - compiles every ABI header on its own, so each header is
 * self-contained and all _Static_assert layout pins are evaluated even for
 * structures the runtime does not use.  Produces no code.
 */
#include <paravirt/errno.h>
#include <paravirt/elfnote.h>
#include <paravirt/arch-x86_64.h>
#include <paravirt/xen.h>
#include <paravirt/sched.h>
#include <paravirt/version.h>
#include <paravirt/event_channel.h>
#include <paravirt/xs_wire.h>
#include <paravirt/console.h>
#include <paravirt/layout.h>
#include <paravirt/hypercall.h>
#include <paravirt/grant_table.h>
#include <paravirt/vcpu.h>
#include <paravirt/io/ring.h>
#include <paravirt/io/blkif.h>
#include <paravirt/io/netif.h>
#include <paravirt/io/console.h>
#include <paravirt/io/xenbus.h>
#include <paravirt/io/xs_wire.h>
#include <paravirt/pv.h>
/* The PV MMU, memory, trap and callback headers, when present, must coexist with all of the above. */
#if __has_include(<paravirt/mmu.h>)
#include <paravirt/mmu.h>
#endif
#if __has_include(<paravirt/memory.h>)
#include <paravirt/memory.h>
#endif
#if __has_include(<paravirt/traps.h>)
#include <paravirt/traps.h>
#endif
#if __has_include(<paravirt/callback.h>)
#include <paravirt/callback.h>
#endif

/* Facts that tie headers together. */
_Static_assert(PV_PAGE_SIZE / XEN_HYPERCALL_STUB_SIZE == 128, "128 hypercall stubs per page");
_Static_assert(sizeof(hypercall_page) == PV_PAGE_SIZE, "hypercall page is one page");
_Static_assert(sizeof(struct shared_info) <= PV_PAGE_SIZE, "shared_info fits a page");
_Static_assert(sizeof(struct start_info) <= PV_PAGE_SIZE, "start_info fits a page");
_Static_assert(sizeof(struct xencons_interface) <= PV_PAGE_SIZE, "console ring fits a page");
_Static_assert(sizeof(struct xenstore_domain_interface) <= PV_PAGE_SIZE, "store ring fits a page");
_Static_assert(EVTCHN_2L_NR_CHANNELS == 4096, "2-level event channels on x86-64");
_Static_assert((PV_VIRT_BASE & (PV_PAGE_SIZE - 1)) == 0, "VIRT_BASE page aligned");
_Static_assert(GNTTAB_V1_ENTRIES_PER_FRAME == 512, "512 v1 grant entries per frame");
_Static_assert(BLKIF_SEGS_PER_INDIRECT_FRAME == 512, "512 segments per indirect page");
_Static_assert(sizeof(struct blkif_sring) <= PV_PAGE_SIZE, "blkif ring header fits a page");
