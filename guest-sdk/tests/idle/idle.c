/*
 * idle - test guest that does nothing, the way an idle kernel does it: event
 * upcalls enabled (the runtime's dispatcher clears whatever arrives), then
 * SCHEDOP_block for ever.  Prints "idle: blocking" first.  A blocked vCPU
 * holds no pCPU and must cost the host no CPU (./bench sched measures it).
 */
#include <paravirt/pv.h>

int pv_main(start_info_t *si)
{
    (void)si;
    long rc = pv_evtchn_enable_upcalls();
    if (rc != 0)
        pv_panic("idle: cannot enable event upcalls (error %ld)", rc);
    pv_printf("idle: blocking\n");
    for (;;)
        HYPERVISOR_sched_op(SCHEDOP_block, NULL);   /* returns after an event was delivered */
}
