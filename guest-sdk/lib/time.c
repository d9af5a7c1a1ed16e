/*
 * time.c - system time from vcpu_time_info and the VIRQ_TIMER timers.
 *
 * Xen publishes, per vCPU, a (tsc_timestamp, system_time) pair and a
 * scale: ns = system_time + (((tsc - tsc_timestamp) << shift) * mul) >> 32
 * (a negative shift shifts right).  'version' is odd while an update is in
 * progress; readers retry until they see the same even version around
 * their copy.
 */
#include <paravirt/pv.h>

#include <paravirt/smp.h>

#include "internal.h"

uint64_t pv_scale_delta(uint64_t delta, uint32_t mul_frac, int8_t shift)
{
    if (shift < 0)
        delta >>= -shift;
    else
        delta <<= shift;
    return (uint64_t)(((unsigned __int128)delta * mul_frac) >> 32);
}

static inline uint64_t rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

uint64_t pv_system_time_ns(void)
{
    /* Each vCPU reads its own time record (its vcpu_info may have moved: VCPUOP_register_vcpu_info). */
    const vcpu_info_t *vi = pv_this_vcpu_info();
    if (vi == NULL)
        return 0;
    const volatile struct vcpu_time_info *t = &vi->time;
    uint32_t version;
    uint64_t stamp, system, tsc;
    uint32_t mul;
    int8_t shift;
    do {
        version = t->version;
        pv_rmb();
        stamp = t->tsc_timestamp;
        system = t->system_time;
        mul = t->tsc_to_system_mul;
        shift = t->tsc_shift;
        tsc = rdtsc();
        pv_rmb();
    } while ((version & 1) != 0 || version != t->version);
    /* A TSC read just before the stamp (another vCPU's clock) counts as 0. */
    uint64_t delta = tsc > stamp ? tsc - stamp : 0;
    return system + pv_scale_delta(delta, mul, shift);
}

long pv_wallclock(uint64_t *sec, uint32_t *nsec)
{
    if (pv_shared_info == NULL)
        return -XEN_ENODEV;
    const volatile shared_info_t *s = pv_shared_info;
    uint32_t version, wsec, wsec_hi, wnsec;
    do {
        version = s->wc_version;
        pv_rmb();
        wsec = s->wc_sec;
        wsec_hi = s->wc_sec_hi;
        wnsec = s->wc_nsec;
        pv_rmb();
    } while ((version & 1) != 0 || version != s->wc_version);
    uint64_t ns = (uint64_t)wnsec + pv_system_time_ns();
    if (sec != NULL)
        *sec = (((uint64_t)wsec_hi << 32) | wsec) + ns / 1000000000ULL;
    if (nsec != NULL)
        *nsec = (uint32_t)(ns % 1000000000ULL);
    return 0;
}

static evtchn_port_t timer_port;
static bool timer_bound;

long pv_timer_port(evtchn_port_t *port)
{
    if (!timer_bound) {
        long rc = pv_evtchn_bind_virq(VIRQ_TIMER, 0, &timer_port);
        if (rc != 0)
            return rc;
        timer_bound = true;
    }
    if (port != NULL)
        *port = timer_port;
    return 0;
}

long pv_timer_set_periodic(uint64_t period_ns)
{
    vcpu_set_periodic_timer_t t = { .period_ns = period_ns };
    return HYPERVISOR_vcpu_op(VCPUOP_set_periodic_timer, 0, &t);
}

long pv_timer_stop_periodic(void)
{
    return HYPERVISOR_vcpu_op(VCPUOP_stop_periodic_timer, 0, NULL);
}

long pv_timer_set_singleshot(uint64_t deadline_ns)
{
    vcpu_set_singleshot_timer_t t = { .timeout_abs_ns = deadline_ns, .flags = 0 };
    return HYPERVISOR_vcpu_op(VCPUOP_set_singleshot_timer, 0, &t);
}

long pv_sleep_ns(uint64_t ns)
{
    if (pv_shared_info == NULL)
        return -XEN_ENODEV;
    evtchn_port_t port;
    long rc = pv_timer_port(&port);
    if (rc != 0)
        return rc;
    uint64_t deadline = pv_system_time_ns() + ns;
    while (pv_system_time_ns() < deadline) {
        rc = pv_timer_set_singleshot(deadline);
        if (rc != 0)
            return rc;
        /* The poll deadline doubles as a safety net if the timer is lost. */
        rc = pv_evtchn_wait(port, deadline);
        if (rc != 0 && rc != -XEN_ETIME)
            return rc;
    }
    return 0;
}
