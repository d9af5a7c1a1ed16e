/*
 * shutdown - test guest that honours the PV shutdown protocol: it polls its
 * control/shutdown node (docs/misc/xenstore-paths: "poweroff", "reboot",
 * "halt", "suspend") and, when the toolstack writes a request, says so on the
 * console and stops with the matching SCHEDOP_shutdown reason.  Exercises
 * `xl shutdown -w` and `xl reboot` end to end.  (It polls because the runtime
 * has no xenstore watch yet; pv_yield keeps the loop from starving Dom0.)
 */
#include <paravirt/pv.h>

int pv_main(start_info_t *si)
{
    char request[32];

    (void)si;
    pv_printf("waiting for control/shutdown\n");
    for (;;) {
        int n = pv_xenbus_read("control/shutdown", request, sizeof(request));
        if (n > 0) {
            if (strcmp(request, "poweroff") == 0 || strcmp(request, "halt") == 0) {
                pv_printf("control/shutdown: %s, powering off\n", request);
                pv_shutdown(SHUTDOWN_poweroff);
            }
            if (strcmp(request, "reboot") == 0) {
                pv_printf("control/shutdown: reboot, rebooting\n");
                pv_shutdown(SHUTDOWN_reboot);
            }
        }
        pv_yield();
    }
}
