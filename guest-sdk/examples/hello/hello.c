/*
 * hello - the smallest useful PV guest: asks xenstore who it is, says
 * hello on its console and powers off.
 *
 * "domid" is a relative xenstore path; xenstored resolves it against
 * /local/domain/<caller's domid>.
 */
#include <paravirt/pv.h>

/* Parses a decimal domid as xenstore stores it; false if it is not one. */
static bool parse_domid(const char *s, unsigned int *out)
{
    unsigned int v = 0;
    if (*s == '\0')
        return false;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9')
            return false;
        v = v * 10 + (unsigned int)(*s - '0');
        if (v >= DOMID_FIRST_RESERVED)
            return false;
    }
    *out = v;
    return true;
}

int pv_main(start_info_t *si)
{
    (void)si;
    char value[16];
    unsigned int domid;

    int rc = pv_xenbus_read("domid", value, sizeof(value));
    if (rc < 0)
        pv_panic("hello: xenstore read of \"domid\" failed (error %d)", rc);
    if (!parse_domid(value, &domid))
        pv_panic("hello: xenstore \"domid\" is not a domain id: \"%s\"", value);

    pv_printf("Hello from Paravirt domain %u\n", domid);
    return 0;   /* SHUTDOWN_poweroff */
}
