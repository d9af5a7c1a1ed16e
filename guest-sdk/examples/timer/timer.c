/*
 * timer - a periodic tick through VIRQ_TIMER, measured against system time.
 *
 * Binds VIRQ_TIMER, asks for a 10 ms periodic timer (VCPUOP_set_periodic_
 * timer) and waits for TICKS events with SCHEDOP_poll, reading the system
 * time (vcpu_time_info scaled from rdtsc) at every tick.  Prints each tick
 * and then the measured drift: how far the last tick is from where
 * TICKS periods after the first one would put it.
 *
 *   tick 1 at 123456789 ns (+10001234)
 *   ...
 *   timer: 20 ticks, period 10000000 ns, measured 190012345 ns, drift +12345 ns (+64 ppm)
 *
 * Then the same timer drives a handler through the event upcall (the
 * runtime's dispatcher, registered with CALLBACKOP_register) while the
 * vCPU sleeps in SCHEDOP_block:
 *
 *   timer: 10 ticks through the upcall handler
 *
 * and finally sleeps on a single-shot timer (pv_sleep_ns):
 *
 *   timer: slept 50012345 ns for a 50000000 ns single-shot deadline
 */
#include <paravirt/pv.h>

#define PERIOD_NS 10000000ULL   /* 10 ms */
#define TICKS     20

#define UPCALL_TICKS 10

static volatile int upcall_ticks;

static void on_tick(evtchn_port_t port, void *data)
{
    (void)port;
    (void)data;
    upcall_ticks++;
}

/* The timer's events delivered asynchronously to on_tick; returns the ticks seen. */
static int ticks_through_upcalls(evtchn_port_t port)
{
    long rc = pv_evtchn_set_handler(port, on_tick, NULL);
    if (rc == 0)
        rc = pv_evtchn_enable_upcalls();
    if (rc != 0)
        pv_panic("timer: cannot enable event upcalls (error %ld)", rc);
    rc = pv_timer_set_periodic(PERIOD_NS);
    if (rc != 0)
        pv_panic("timer: VCPUOP_set_periodic_timer failed (error %ld)", rc);
    uint64_t give_up = pv_system_time_ns() + 100 * UPCALL_TICKS * PERIOD_NS;
    while (upcall_ticks < UPCALL_TICKS && pv_system_time_ns() < give_up)
        HYPERVISOR_sched_op(SCHEDOP_block, NULL);   /* unmasks events; returns once one is pending */
    pv_timer_stop_periodic();
    pv_evtchn_disable_upcalls();
    return upcall_ticks;
}

int pv_main(start_info_t *si)
{
    (void)si;
    if (pv_shared_info == NULL)
        pv_panic("timer: shared_info is not mapped (update_va_mapping refused), no system time");

    evtchn_port_t port;
    long rc = pv_timer_port(&port);
    if (rc != 0)
        pv_panic("timer: bind VIRQ_TIMER failed (error %ld)", rc);
    rc = pv_timer_set_periodic(PERIOD_NS);
    if (rc != 0)
        pv_panic("timer: VCPUOP_set_periodic_timer failed (error %ld)", rc);

    /* A tick may already be pending from before the period was set: drop it. */
    pv_evtchn_test_and_clear(port);

    uint64_t first = 0, last = 0;
    for (int i = 0; i <= TICKS; i++) {
        /* A generous deadline: a lost tick fails loudly instead of hanging. */
        uint64_t deadline = pv_system_time_ns() + 100 * PERIOD_NS;
        rc = pv_evtchn_wait(port, deadline);
        if (rc != 0)
            pv_panic("timer: no tick %d within %llu ns (error %ld)", i,
                     (unsigned long long)(100 * PERIOD_NS), rc);
        uint64_t now = pv_system_time_ns();
        if (i == 0)
            first = now;
        else
            pv_printf("tick %d at %llu ns (+%llu)\n", i, (unsigned long long)now,
                      (unsigned long long)(now - last));
        if (now < last)
            pv_panic("timer: system time went backwards (%llu < %llu)",
                     (unsigned long long)now, (unsigned long long)last);
        last = now;
    }
    pv_timer_stop_periodic();

    uint64_t measured = last - first;
    int64_t drift = (int64_t)(measured - TICKS * PERIOD_NS);
    int64_t ppm = drift * 1000000 / (int64_t)(TICKS * PERIOD_NS);
    pv_printf("timer: %d ticks, period %llu ns, measured %llu ns, drift %c%llu ns (%c%llu ppm)\n",
              TICKS, (unsigned long long)PERIOD_NS, (unsigned long long)measured,
              drift < 0 ? '-' : '+', (unsigned long long)(drift < 0 ? -drift : drift),
              ppm < 0 ? '-' : '+', (unsigned long long)(ppm < 0 ? -ppm : ppm));

    int seen = ticks_through_upcalls(port);
    if (seen < UPCALL_TICKS)
        pv_panic("timer: the upcall handler ran %d times, want %d", seen, UPCALL_TICKS);
    pv_printf("timer: %d ticks through the upcall handler\n", seen);

    /* A single-shot deadline (VCPUOP_set_singleshot_timer) via pv_sleep_ns. */
    uint64_t before = pv_system_time_ns();
    rc = pv_sleep_ns(5 * PERIOD_NS);
    if (rc != 0)
        pv_panic("timer: pv_sleep_ns failed (error %ld)", rc);
    uint64_t slept = pv_system_time_ns() - before;
    if (slept < 5 * PERIOD_NS)
        pv_panic("timer: woke after %llu ns, before the %llu ns deadline",
                 (unsigned long long)slept, (unsigned long long)(5 * PERIOD_NS));
    pv_printf("timer: slept %llu ns for a %llu ns single-shot deadline\n",
              (unsigned long long)slept, (unsigned long long)(5 * PERIOD_NS));
    return 0;
}
