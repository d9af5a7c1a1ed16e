/*
 * crash - test guest that faults: prints "about to fault" and stores to
 * virtual address 0x10.  Nothing is mapped below VIRT_BASE and no trap
 * table is registered, so the hypervisor must crash the domain
 * (a page fault the guest cannot receive).
 */
#include <paravirt/pv.h>

int pv_main(start_info_t *si)
{
    (void)si;
    pv_printf("about to fault\n");

    /* The store is written in asm so the compiler can neither drop it nor
     * reason about the constant address. */
    __asm__ __volatile__("movl $1, (%0)" : : "r"(0x10UL) : "memory");

    /* Reaching this line means the fault was not delivered as a crash. */
    pv_printf("crash: store to 0x10 did not fault\n");
    return 1;
}
