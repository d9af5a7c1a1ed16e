/*
 * version - test guest for HYPERVISOR_xen_version: prints three lines
 *   xen_version: <major>.<minor>
 *   extraversion: <XENVER_extraversion string>
 *   capabilities: <XENVER_capabilities string>
 * and powers off.  Any failing call prints the error and crashes.
 */
#include <paravirt/pv.h>

static xen_extraversion_t extraversion;
static xen_capabilities_info_t capabilities;

int pv_main(start_info_t *si)
{
    (void)si;

    long v = HYPERVISOR_xen_version(XENVER_version, NULL);
    if (v < 0)
        pv_panic("version: XENVER_version failed (error %ld)", v);

    long rc = HYPERVISOR_xen_version(XENVER_extraversion, extraversion);
    if (rc < 0)
        pv_panic("version: XENVER_extraversion failed (error %ld)", rc);

    rc = HYPERVISOR_xen_version(XENVER_capabilities, capabilities);
    if (rc < 0)
        pv_panic("version: XENVER_capabilities failed (error %ld)", rc);

    /* The hypervisor fills fixed-size arrays; never trust a terminator. */
    pv_printf("xen_version: %u.%u\n", XEN_VERSION_MAJOR(v), XEN_VERSION_MINOR(v));
    pv_printf("extraversion: %.*s\n", (int)sizeof(extraversion), extraversion);
    pv_printf("capabilities: %.*s\n", (int)sizeof(capabilities), capabilities);
    return 0;
}
