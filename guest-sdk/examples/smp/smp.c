/*
 * smp - brings up every vCPU of the domain through libpv's SMP API and
 * farms a prime count out to them over IPIs.
 *
 * vCPU 0 binds one IPI event channel per vCPU (pv_smp_ipi_init), enables
 * upcalls and starts vCPUs 1..n-1 (pv_vcpu_start: own stack, own vcpu_info,
 * GS base on its pv_cpu block).  It then hands out ranges of [0, LIMIT) in
 * CHUNK-sized pieces: it writes a worker's mailbox and sends that worker an
 * IPI; the worker, asleep in SCHEDOP_block (pv_smp_wait), wakes, counts and
 * sums the primes of its range, posts the result and sends vCPU 0 an IPI
 * back.  When every range is done vCPU 0 tells the workers to stop (one
 * more IPI each) and waits for each to take itself down.
 *
 * Output (the last line is the verifiable result):
 *   smp: <n> vcpus up
 *   smp: vcpu <i>: <chunks> chunks, <ipis> ipis handled       (one per worker)
 *   smp: primes below <LIMIT>: <count>, sum <sum>
 */
#include <paravirt/pv.h>
#include <paravirt/smp.h>

#define LIMIT  100000u
#define CHUNK  2500u
#define NCHUNK ((LIMIT + CHUNK - 1) / CHUNK)

struct mailbox {
    uint32_t lo, hi;                /* the range to do, written by vCPU 0 before it sets 'work' */
    uint32_t count;                 /* results, written by the worker before it clears 'work' */
    uint64_t sum;
    int work;                       /* 1: a range is waiting; 0: idle (result posted) */
    int quit;
    unsigned int chunks;            /* ranges this worker did */
} __attribute__((aligned(64)));

static struct mailbox box[PV_SMP_MAX_VCPUS];
static unsigned int ipis_handled[PV_SMP_MAX_VCPUS];

/* Runs on the vCPU the IPI was sent to, from its event upcall. */
static void on_ipi(evtchn_port_t port, void *data)
{
    (void)port;
    (void)data;
    __atomic_fetch_add(&ipis_handled[pv_smp_processor_id()], 1, __ATOMIC_RELAXED);
}

static bool is_prime(uint32_t n)
{
    if (n < 2)
        return false;
    if (n % 2 == 0)
        return n == 2;
    for (uint32_t d = 3; d * d <= n; d += 2)
        if (n % d == 0)
            return false;
    return true;
}

static bool has_work(void *arg)
{
    struct mailbox *m = arg;
    return __atomic_load_n(&m->work, __ATOMIC_ACQUIRE) || __atomic_load_n(&m->quit, __ATOMIC_ACQUIRE);
}

static void worker(void *arg)
{
    struct mailbox *m = arg;
    pv_evtchn_enable_upcalls();
    for (;;) {
        pv_smp_wait(has_work, m);
        if (!__atomic_load_n(&m->work, __ATOMIC_ACQUIRE))
            return;                 /* quit: libpv takes the vCPU down */
        uint32_t count = 0;
        uint64_t sum = 0;
        for (uint32_t n = m->lo; n < m->hi; n++)
            if (is_prime(n)) {
                count++;
                sum += n;
            }
        m->count = count;
        m->sum = sum;
        m->chunks++;
        __atomic_store_n(&m->work, 0, __ATOMIC_RELEASE);
        pv_smp_send_ipi(0);
    }
}

static unsigned int nr;
static bool busy[PV_SMP_MAX_VCPUS];     /* vCPU 0's view: a range is out at that worker */

/* vCPU 0 wakes when some worker that had a range has posted its result. */
static bool some_result(void *arg)
{
    (void)arg;
    for (unsigned int w = 1; w < nr; w++)
        if (busy[w] && !__atomic_load_n(&box[w].work, __ATOMIC_ACQUIRE))
            return true;
    return false;
}

int pv_main(start_info_t *si)
{
    (void)si;
    long rc = pv_smp_init();
    if (rc < 2)
        pv_panic("smp: needs at least 2 vcpus (pv_smp_init: %ld)", rc);
    nr = (unsigned int)rc;
    if ((rc = pv_smp_ipi_init(on_ipi, NULL)) != 0)
        pv_panic("smp: binding IPIs failed (%ld)", rc);
    if ((rc = pv_evtchn_enable_upcalls()) != 0)
        pv_panic("smp: enabling upcalls failed (%ld)", rc);
    for (unsigned int w = 1; w < nr; w++)
        if ((rc = pv_vcpu_start(w, worker, &box[w], 0)) != 0)
            pv_panic("smp: starting vcpu %u failed (%ld)", w, rc);
    unsigned int online = 1;
    for (unsigned int w = 1; w < nr; w++)
        online += HYPERVISOR_vcpu_op(VCPUOP_is_up, w, NULL) == 1;
    pv_printf("smp: %u vcpus up\n", online);

    uint32_t next = 0, count = 0;
    uint64_t sum = 0;
    unsigned int done = 0;
    while (done < NCHUNK) {
        /* Hand a range to every idle worker, then sleep until a result comes back. */
        for (unsigned int w = 1; w < nr && next < LIMIT; w++) {
            if (busy[w])
                continue;
            box[w].lo = next;
            box[w].hi = LIMIT - next > CHUNK ? next + CHUNK : LIMIT;
            next = box[w].hi;
            busy[w] = true;
            __atomic_store_n(&box[w].work, 1, __ATOMIC_RELEASE);
            if ((rc = pv_smp_send_ipi(w)) != 0)
                pv_panic("smp: IPI to vcpu %u failed (%ld)", w, rc);
        }
        pv_smp_wait(some_result, NULL);
        for (unsigned int w = 1; w < nr; w++) {
            if (busy[w] && !__atomic_load_n(&box[w].work, __ATOMIC_ACQUIRE)) {
                count += box[w].count;
                sum += box[w].sum;
                busy[w] = false;
                done++;
            }
        }
    }

    for (unsigned int w = 1; w < nr; w++) {
        __atomic_store_n(&box[w].quit, 1, __ATOMIC_RELEASE);
        pv_smp_send_ipi(w);
    }
    for (unsigned int w = 1; w < nr; w++)
        if ((rc = pv_vcpu_wait_down(w)) != 0)
            pv_panic("smp: vcpu %u did not go down (%ld)", w, rc);
    for (unsigned int w = 1; w < nr; w++)
        pv_printf("smp: vcpu %u: %u chunks, %u ipis handled\n", w, box[w].chunks,
                  __atomic_load_n(&ipis_handled[w], __ATOMIC_RELAXED));
    pv_printf("smp: primes below %u: %u, sum %lu\n", LIMIT, count, (unsigned long)sum);
    return 0;
}
