/*
 * spin - test guest that never yields: prints "spinning" and then loops
 * forever without a single hypercall.  Exercises preemption/scheduling and
 * `xl destroy` of a busy domain.
 */
#include <paravirt/pv.h>

int pv_main(start_info_t *si)
{
    (void)si;
    pv_printf("spinning\n");
    for (;;)
        pv_barrier();   /* keeps the loop, compiles to a jump to itself */
}
