/*
 * sharedpage - one domain grants a page, another maps it, and both see
 * each other's writes: the grant-table half of every split driver.
 *
 * Start the same kernel twice.  Without "peer=" on its command line a
 * domain is the granter: it opens data/sharedpage to other domains and
 * waits for a grantee to write its domid there.  It then maps its grant
 * table (GNTTABOP_setup_table), grants one of its pages to that domain and
 * publishes the reference.  The grantee ("peer=<granter's domid>") maps
 * the reference over a page of its own image (GNTTABOP_map_grant_ref,
 * GNTMAP_host_map).  The two take turns through xenstore (data/sharedpage/
 * state) writing into the shared page and checking the other's writes.  The
 * grantee also copies into the page by reference (GNTTABOP_copy), then
 * unmaps it; the granter, refused while the page is mapped (-EBUSY), then
 * revokes the grant.
 *
 *   xl create xl-config/examples/sharedpage.cfg                        # granter
 *   xl create -c xl-config/examples/sharedpage.cfg name=grantee 'extra="peer=<granter's domid>"'
 */
#include <paravirt/pv.h>

/* Where each side writes in the shared page. */
#define AT_GRANTER 0
#define AT_GRANTEE 1024
#define AT_ANSWER 2048
#define AT_COPY 3072

static const char from_granter[] = "written by the granter";
static const char from_grantee[] = "written by the grantee";
static const char answer[] = "answered by the granter";
static const char copied[] = "copied by the hypervisor";

/* The grantee's view of the granted page: a page of its own image whose PTE the map replaces. */
static char window[PV_PAGE_SIZE] __attribute__((aligned(PV_PAGE_SIZE)));

/*
 * Waits (through a watch on path) until path exists and, if want is not
 * NULL, holds exactly want.  The value is left in value.
 */
static void wait_for(const char *path, const char *token, const char *want, char *value, size_t size)
{
    char epath[128], etoken[32];
    int rc = pv_xenbus_watch(path, token);
    if (rc != 0)
        pv_panic("sharedpage: watch %s failed (error %d)", path, rc);
    for (;;) {
        /* The first event comes at registration, so an existing value is seen at once. */
        rc = pv_xenbus_read_watch(epath, sizeof(epath), etoken, sizeof(etoken), true);
        if (rc != 0)
            pv_panic("sharedpage: reading watch events failed (error %d)", rc);
        if (strcmp(etoken, token) != 0)
            continue;
        if (pv_xenbus_read(path, value, size) < 0)
            continue;
        if (want == NULL || strcmp(value, want) == 0)
            break;
    }
    pv_xenbus_unwatch(path, token);
}

static long wait_for_number(const char *path, const char *token)
{
    char value[32];
    wait_for(path, token, NULL, value, sizeof(value));
    long v = pv_parse_decimal(value, 1000000000L);
    if (v < 0)
        pv_panic("sharedpage: %s holds \"%s\", not a number", path, value);
    return v;
}

static void write_node(const char *path, const char *value)
{
    int rc = pv_xenbus_write(XBT_NIL, path, value);
    if (rc != 0)
        pv_panic("sharedpage: writing %s failed (error %d)", path, rc);
}

static int granter(long self)
{
    char path[96], value[32], dir[64];
    pv_snprintf(dir, sizeof(dir), "/local/domain/%ld/data/sharedpage", self);
    int rc = pv_xenbus_mkdir(XBT_NIL, dir);
    if (rc != 0)
        pv_panic("sharedpage: mkdir %s failed (error %d)", dir, rc);
    char owner[16];
    pv_snprintf(owner, sizeof(owner), "b%ld", self);
    const char *perms[] = { owner };
    rc = pv_xenbus_set_perms(XBT_NIL, dir, perms, 1);
    if (rc != 0)
        pv_panic("sharedpage: set_perms %s failed (error %d)", dir, rc);
    pv_printf("sharedpage: granter domain %ld waiting for a grantee at %s\n", self, dir);

    pv_snprintf(path, sizeof(path), "%s/grantee-domid", dir);
    long grantee = wait_for_number(path, "grantee");
    if (grantee >= DOMID_FIRST_RESERVED || grantee == self)
        pv_panic("sharedpage: grantee id %ld is not another domain", grantee);

    long lrc = pv_gnttab_init(1);
    if (lrc != 0)
        pv_panic("sharedpage: cannot map the grant table (error %ld)", lrc);
    char *page = pv_page_alloc();
    if (page == NULL)
        pv_panic("sharedpage: out of pages");
    xen_pfn_t mfn = pv_virt_to_mfn(page);
    memcpy(page + AT_GRANTER, from_granter, sizeof(from_granter));
    long ref = pv_grant_access((domid_t)grantee, mfn, false);
    if (ref < 0)
        pv_panic("sharedpage: grant_access failed (error %ld)", ref);
    pv_barrier();
    /*
     * The granter creates the state node itself, so it owns it: xenstored
     * deletes the nodes a domain owns when that domain dies, and the grantee
     * powers off right after its last write.  Had the grantee created the
     * node, the granter could find it gone before reading "unmapped".
     */
    pv_snprintf(path, sizeof(path), "%s/state", dir);
    write_node(path, "granted");
    pv_snprintf(path, sizeof(path), "%s/ref", dir);
    pv_snprintf(value, sizeof(value), "%ld", ref);
    write_node(path, value);
    pv_printf("sharedpage: granted mfn 0x%lx to domain %ld as ref %ld\n", (unsigned long)mfn, grantee, ref);

    /* The grantee has mapped the page and written into it. */
    pv_snprintf(path, sizeof(path), "%s/state", dir);
    wait_for(path, "mapped", "mapped", value, sizeof(value));
    pv_barrier();
    const volatile char *theirs = page + AT_GRANTEE;
    if (memcmp((const void *)theirs, from_grantee, sizeof(from_grantee)) != 0)
        pv_panic("sharedpage: the grantee's write did not reach the granted page");
    pv_printf("sharedpage: granter reads the grantee's write: \"%s\"\n", (const char *)theirs);

    /* A mapped grant cannot be revoked. */
    lrc = pv_grant_end_access((grant_ref_t)ref);
    if (lrc != -XEN_EBUSY)
        pv_panic("sharedpage: end_access while mapped returned %ld, want -EBUSY", lrc);
    pv_printf("sharedpage: end_access while the grantee maps the page: busy\n");

    memcpy(page + AT_ANSWER, answer, sizeof(answer));
    pv_barrier();
    write_node(path, "answered");

    /* The grantee has checked the answer, copied into the page and unmapped it. */
    wait_for(path, "unmapped", "unmapped", value, sizeof(value));
    pv_barrier();
    if (memcmp(page + AT_COPY, copied, sizeof(copied)) != 0)
        pv_panic("sharedpage: the grantee's gnttab_copy did not land in the granted page");
    pv_printf("sharedpage: granter reads the grantee's copy: \"%s\"\n", page + AT_COPY);
    lrc = pv_grant_end_access((grant_ref_t)ref);
    if (lrc != 0)
        pv_panic("sharedpage: end_access after the unmap failed (error %ld)", lrc);
    pv_printf("sharedpage: grantee unmapped; ref %ld revoked\n", ref);
    pv_page_free(page);
    pv_printf("sharedpage: granter done\n");
    return 0;
}

static int grantee(long self, long peer)
{
    char path[96], value[32], dir[64];
    pv_snprintf(dir, sizeof(dir), "/local/domain/%ld/data/sharedpage", peer);
    pv_snprintf(path, sizeof(path), "%s/grantee-domid", dir);
    pv_snprintf(value, sizeof(value), "%ld", self);
    int rc = pv_xenbus_write(XBT_NIL, path, value);
    if (rc != 0)
        pv_panic("sharedpage: writing %s failed (error %d): is domain %ld a granter?", path, rc, peer);

    pv_snprintf(path, sizeof(path), "%s/ref", dir);
    long ref = wait_for_number(path, "ref");
    gnttab_map_grant_ref_t map = {
        .host_addr = (uint64_t)(unsigned long)window,
        .flags = GNTMAP_host_map,
        .ref = (grant_ref_t)ref,
        .dom = (domid_t)peer,
    };
    long lrc = HYPERVISOR_grant_table_op(GNTTABOP_map_grant_ref, &map, 1);
    if (lrc != 0 || map.status != GNTST_okay)
        pv_panic("sharedpage: map_grant_ref of domain %ld's ref %ld failed (rc %ld, status %d)", peer, ref, lrc, map.status);
    pv_printf("sharedpage: mapped domain %ld's ref %ld at %p (handle %u)\n", peer, ref, (void *)window, map.handle);

    volatile char *shared = window;
    if (memcmp((const void *)(shared + AT_GRANTER), from_granter, sizeof(from_granter)) != 0)
        pv_panic("sharedpage: the mapping does not show the granter's page");
    pv_printf("sharedpage: grantee reads the granter's write: \"%s\"\n", (const char *)(shared + AT_GRANTER));
    memcpy((void *)(shared + AT_GRANTEE), from_grantee, sizeof(from_grantee));
    pv_barrier();
    pv_snprintf(path, sizeof(path), "%s/state", dir);
    write_node(path, "mapped");

    wait_for(path, "answered", "answered", value, sizeof(value));
    pv_barrier();
    if (memcmp((const void *)(shared + AT_ANSWER), answer, sizeof(answer)) != 0)
        pv_panic("sharedpage: the granter's answer is not in the mapped page");
    pv_printf("sharedpage: grantee reads the granter's answer: \"%s\"\n", (const char *)(shared + AT_ANSWER));

    /* The hypervisor copies from a frame of ours into the granted page, by grant reference. */
    static char source[PV_PAGE_SIZE] __attribute__((aligned(PV_PAGE_SIZE)));
    memcpy(source, copied, sizeof(copied));
    gnttab_copy_t copy = {
        .source = { .u.gmfn = pv_virt_to_mfn(source), .domid = DOMID_SELF, .offset = 0 },
        .dest = { .u.ref = (grant_ref_t)ref, .domid = (domid_t)peer, .offset = AT_COPY },
        .len = sizeof(copied),
        .flags = GNTCOPY_dest_gref,
    };
    lrc = HYPERVISOR_grant_table_op(GNTTABOP_copy, &copy, 1);
    if (lrc != 0 || copy.status != GNTST_okay)
        pv_panic("sharedpage: gnttab_copy failed (rc %ld, status %d)", lrc, copy.status);
    if (memcmp((const void *)(shared + AT_COPY), copied, sizeof(copied)) != 0)
        pv_panic("sharedpage: gnttab_copy did not show through the mapping");
    pv_printf("sharedpage: gnttab_copy wrote \"%s\"\n", (const char *)(shared + AT_COPY));

    gnttab_unmap_grant_ref_t unmap = {
        .host_addr = (uint64_t)(unsigned long)window,
        .handle = map.handle,
    };
    lrc = HYPERVISOR_grant_table_op(GNTTABOP_unmap_grant_ref, &unmap, 1);
    if (lrc != 0 || unmap.status != GNTST_okay)
        pv_panic("sharedpage: unmap_grant_ref failed (rc %ld, status %d)", lrc, unmap.status);
    write_node(path, "unmapped");
    pv_printf("sharedpage: grantee unmapped the page\n");
    pv_printf("sharedpage: grantee done\n");
    return 0;
}

int pv_main(start_info_t *si)
{
    long self = pv_xenbus_domid();
    if (self < 0)
        pv_panic("sharedpage: no domid (error %ld)", self);
    long peer = pv_cmdline_number(si, "peer=", DOMID_FIRST_RESERVED);
    if (peer < 0)
        return granter(self);
    if (peer == self)
        pv_panic("sharedpage: peer=%ld is this domain", peer);
    return grantee(self, peer);
}
