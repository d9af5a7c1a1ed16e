/*
 * xenstore - lists the guest's own store subtree, /local/domain/<domid>,
 * recursively over the store ring, the way xenstore-ls prints it:
 *
 *   /local/domain/3/name = "xenstore"
 *   /local/domain/3/memory/target = "32768"
 *   ...
 *   xenstore: 17 nodes under /local/domain/3
 *
 * Node buffers come from the runtime's heap (pv_malloc).  A node the guest
 * may not read prints its error instead of a value.
 */
#include <paravirt/pv.h>

#define MAX_DEPTH 16
#define VALUE_MAX 256
#define NAMES_MAX XENSTORE_PAYLOAD_MAX

static int nodes;

static void print_value(const char *path)
{
    char value[VALUE_MAX];
    int rc = pv_xenbus_read(path, value, sizeof(value));
    if (rc == -XEN_E2BIG) {
        pv_printf("%s = <longer than %d bytes>\n", path, VALUE_MAX - 1);
        return;
    }
    if (rc < 0) {
        pv_printf("%s: read error %d\n", path, rc);
        return;
    }
    /* Values are bytes; show control characters escaped, as xenstore-ls does. */
    pv_printf("%s = \"", path);
    for (int i = 0; i < rc; i++) {
        unsigned char c = (unsigned char)value[i];
        if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
            pv_printf("\\x%02x", c);
        else
            pv_printf("%c", c);
    }
    pv_printf("\"\n");
}

static int list(const char *path, int depth)
{
    if (depth > MAX_DEPTH)
        return -XEN_E2BIG;      /* deeper than any sane store layout */
    nodes++;
    print_value(path);

    char *names = pv_malloc(NAMES_MAX);
    if (names == NULL)
        pv_panic("xenstore: out of heap at %s", path);
    int n = pv_xenbus_directory(XBT_NIL, path, names, NAMES_MAX);
    if (n < 0) {
        pv_printf("%s: directory error %d\n", path, n);
        pv_free(names);
        return 0;
    }
    size_t path_len = strlen(path);
    const char *name = names;
    for (int i = 0; i < n; i++) {
        size_t name_len = strlen(name);
        char *child = pv_malloc(path_len + 1 + name_len + 1);
        if (child == NULL)
            pv_panic("xenstore: out of heap at %s", path);
        memcpy(child, path, path_len);
        child[path_len] = '/';
        memcpy(child + path_len + 1, name, name_len + 1);
        list(child, depth + 1);
        pv_free(child);
        name += name_len + 1;
    }
    pv_free(names);
    return 0;
}

int pv_main(start_info_t *si)
{
    (void)si;
    long domid = pv_xenbus_domid();
    if (domid < 0)
        pv_panic("xenstore: cannot read my domid (error %ld)", domid);

    char root[32];
    pv_snprintf(root, sizeof(root), "/local/domain/%ld", domid);
    list(root, 0);
    pv_printf("xenstore: %d nodes under %s\n", nodes, root);
    return 0;
}
