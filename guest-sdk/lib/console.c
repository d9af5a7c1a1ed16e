/*
 * console.c - output through the PV console ring (io/console.h).
 *
 * Producer side of xencons_interface.out: copy bytes at out_prod, publish
 * the new out_prod after the data (write barrier), then kick the backend
 * with EVTCHNOP_send on start_info.console.domU.evtchn.  When the ring is
 * full, kick and yield until xenconsoled has drained some of it.
 */
#include <paravirt/pv.h>
#include <paravirt/smp.h>

#include "internal.h"

static struct xencons_interface *cons_ring;
static evtchn_port_t cons_evtchn;
static bool cons_use_hypervisor;   /* dom0: no ring, use console_io */

void pv_console_init(const start_info_t *si)
{
    if (si->flags & SIF_INITDOMAIN) {
        /* dom0's console union holds VGA info, not a ring. */
        cons_use_hypervisor = true;
        return;
    }
    cons_ring = pv_mfn_to_virt(si->console.domU.mfn);
    cons_evtchn = si->console.domU.evtchn;
    /* No ring (not mapped / not ours): fall back to the hypervisor console
     * so there is still a way to say what went wrong. */
    cons_use_hypervisor = (cons_ring == NULL);
}

static long hypervisor_console_write(const char *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        /* console_io takes a 32-bit count; write in modest pieces. */
        unsigned int chunk = len - done > 1024 ? 1024 : (unsigned int)(len - done);
        long rc = HYPERVISOR_console_io(CONSOLEIO_write, chunk, (char *)buf + done);
        if (rc < 0)
            return rc;
        done += chunk;
    }
    return (long)len;
}

/*
 * vCPUs write one at a time (a message is not torn by another vCPU's).  The
 * owner is recorded so a vCPU re-entering (a panic from an upcall handler
 * that interrupted its own write) goes on instead of deadlocking.
 */
static int cons_owner = -1;

static long console_write_locked(const char *buf, size_t len);

long pv_console_write(const char *buf, size_t len)
{
    int self = (int)pv_smp_processor_id();
    if (__atomic_load_n(&cons_owner, __ATOMIC_RELAXED) == self)
        return console_write_locked(buf, len);
    int expected;
    do {
        expected = -1;
        if (__atomic_compare_exchange_n(&cons_owner, &expected, self, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
            break;
        __asm__ __volatile__("pause");
    } while (1);
    long rc = console_write_locked(buf, len);
    __atomic_store_n(&cons_owner, -1, __ATOMIC_RELEASE);
    return rc;
}

static long console_write_locked(const char *buf, size_t len)
{
    if (cons_use_hypervisor)
        return hypervisor_console_write(buf, len);
    if (cons_ring == NULL)
        return -XEN_ENODEV;

    struct xencons_interface *ring = cons_ring;
    size_t done = 0;

    while (done < len) {
        XENCONS_RING_IDX cons = PV_READ_ONCE(ring->out_cons);
        XENCONS_RING_IDX prod = PV_READ_ONCE(ring->out_prod);
        /* Indexes before data: x86 keeps loads ordered before later stores,
         * so only the compiler needs holding back. */
        pv_rmb();

        XENCONS_RING_IDX used = prod - cons;
        if (used > sizeof(ring->out)) {
            /* The backend (or a stray write) broke the indexes; writing on
             * would overwrite unread data forever.  Give up on the ring. */
            return -XEN_EIO;
        }
        size_t space = sizeof(ring->out) - used;
        if (space == 0) {
            pv_evtchn_send(cons_evtchn);
            pv_yield();
            continue;
        }

        size_t n = len - done < space ? len - done : space;
        for (size_t i = 0; i < n; i++)
            ring->out[MASK_XENCONS_IDX(prod + i, ring->out)] = buf[done + i];
        pv_wmb();   /* data visible before the producer index moves */
        PV_WRITE_ONCE(ring->out_prod, prod + (XENCONS_RING_IDX)n);
        pv_evtchn_send(cons_evtchn);
        done += n;
    }
    return (long)len;
}

int pv_puts(const char *s)
{
    long rc = pv_console_write(s, strlen(s));
    return rc < 0 ? (int)rc : 0;
}
