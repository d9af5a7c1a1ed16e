/*
 * startinfo - test guest that checks, from inside the domain, the start-of-day
 * state Xen's PV domain builder promises (xen.h "start of day" layout,
 * tools/libs/guest/xg_dom_x86.c start_info_x86_64):
 *
 *   magic "xen-3.0-x86_64", nr_pages, flags, shared_info, the xenstore and
 *   console pages and event channels, pt_base/nr_pt_frames (walked from the
 *   L4 down to this very code), mfn_list, the ramdisk (mod_start/mod_len,
 *   contents checked against a checksum) and cmd_line.
 *
 * Expected values come on the command line (xl.cfg extra=):
 *   pages=<nr_pages>  [rdlen=<ramdisk bytes> rdsum=<FNV-1a 32 of them, hex>]
 * Prints one "ok <check>" or "FAIL <check>: ..." line per check, then
 * "startinfo: <n> checks, <m> failed", and powers off (crashes if any failed).
 *
 * Built a second time as tests/startinfo-p2m with STARTINFO_INIT_P2M, which adds
 * the INIT_P2M (p2m list at 512 GiB, as Linux asks) and MOD_START_PFN notes and
 * checks the layout Xen gives such a kernel instead.
 */
#include <paravirt/pv.h>

extern char _end[];

#ifdef STARTINFO_INIT_P2M
#define P2M_BASE 0x8000000000UL
/* Two more Xen notes in the same section head.S uses (4-byte aligned, 8-byte values). */
__asm__(".pushsection .note.Xen, \"a\", @note\n"
        ".balign 4\n .long 4\n .long 8\n .long 15\n .asciz \"Xen\"\n .balign 4\n .quad 0x8000000000\n"
        ".balign 4\n .long 4\n .long 8\n .long 16\n .asciz \"Xen\"\n .balign 4\n .quad 1\n"
        ".popsection");
#endif

static unsigned int checks, failures;

static void check(int good, const char *name, const char *detail_fmt, unsigned long a, unsigned long b)
{
    checks++;
    if (good) {
        pv_printf("ok %s\n", name);
        return;
    }
    failures++;
    pv_printf("FAIL %s: ", name);
    pv_printf(detail_fmt, a, b);
    pv_printf("\n");
}

/* ---- the command line: space-separated key=value tokens. */

static const char *cmdline_value(const char *cmd, const char *key)
{
    size_t klen = strlen(key);
    for (const char *p = cmd; *p; ) {
        while (*p == ' ')
            p++;
        if (strncmp(p, key, klen) == 0 && p[klen] == '=')
            return p + klen + 1;
        while (*p && *p != ' ')
            p++;
    }
    return NULL;
}

/* Decimal, or hex with 0x; stops at a space or NUL.  0 if absent or malformed (*ok = 0). */
static unsigned long parse_number(const char *s, int *ok)
{
    unsigned long v = 0;
    unsigned int base = 10;
    *ok = 0;
    if (s == NULL)
        return 0;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
    }
    for (; *s && *s != ' '; s++) {
        unsigned int d;
        if (*s >= '0' && *s <= '9')
            d = (unsigned int)(*s - '0');
        else if (base == 16 && *s >= 'a' && *s <= 'f')
            d = (unsigned int)(*s - 'a' + 10);
        else if (base == 16 && *s >= 'A' && *s <= 'F')
            d = (unsigned int)(*s - 'A' + 10);
        else
            return 0;
        v = v * base + d;
        *ok = 1;
    }
    return v;
}

/* FNV-1a, 32 bits: the test computes the same over the ramdisk file's (inflated) bytes. */
static uint32_t fnv1a(const unsigned char *p, unsigned long n)
{
    uint32_t h = 2166136261u;
    for (unsigned long i = 0; i < n; i++) {
        h ^= p[i];
        h *= 16777619u;
    }
    return h;
}

/* ---- page-table walk from pt_base, through the tables the builder put in the initial mapping. */

#define PTE_PRESENT 1UL
#define PTE_MFN(e)  (((e) & 0x000ffffffffff000UL) >> PV_PAGE_SHIFT)

static unsigned long pt_first_pfn, pt_count;

/* The machine frame behind va, or PV_INVALID_MFN; every table on the way must be a bootstrap table. */
static xen_pfn_t walk(const start_info_t *si, unsigned long va, int *tables_ok)
{
    const uint64_t *table = (const uint64_t *)si->pt_base;
    for (int level = 4; level >= 1; level--) {
        unsigned long table_pfn = ((unsigned long)table - PV_VIRT_BASE) >> PV_PAGE_SHIFT;
        if (table_pfn < pt_first_pfn || table_pfn >= pt_first_pfn + pt_count)
            *tables_ok = 0;
        unsigned int index = (unsigned int)(va >> (PV_PAGE_SHIFT + 9 * (level - 1))) & 511;
        uint64_t e = table[index];
        if (!(e & PTE_PRESENT))
            return PV_INVALID_MFN;
        if (level == 1)
            return PTE_MFN(e);
        table = (const uint64_t *)pv_mfn_to_virt(PTE_MFN(e));
        if (table == NULL)
            return PV_INVALID_MFN;
    }
    return PV_INVALID_MFN;
}

int pv_main(start_info_t *si)
{
    const char *cmd = (const char *)si->cmd_line;
    const xen_pfn_t *p2m = (const xen_pfn_t *)si->mfn_list;
    unsigned long si_pfn = ((unsigned long)si - PV_VIRT_BASE) >> PV_PAGE_SHIFT;
    unsigned long kernel_end = ((unsigned long)_end + PV_PAGE_SIZE - 1) & ~(unsigned long)(PV_PAGE_SIZE - 1);
    int ok;

    /* cmd_line first: everything else is checked against it. */
    check(strnlen(cmd, MAX_GUEST_CMDLINE) < MAX_GUEST_CMDLINE, "cmd_line terminated", "no NUL in %lu bytes", MAX_GUEST_CMDLINE, 0);
    pv_printf("cmd_line: %s\n", cmd);

    check(memcmp(si->magic, "xen-3.0-x86_64", 15) == 0, "magic", "%.32s", (unsigned long)si->magic, 0);

    unsigned long pages = parse_number(cmdline_value(cmd, "pages"), &ok);
    check(ok && si->nr_pages == pages, "nr_pages", "nr_pages %lu, expected %lu", si->nr_pages, pages);

#ifdef STARTINFO_INIT_P2M
    uint32_t want_mod_pfn = cmdline_value(cmd, "rdlen") ? SIF_MOD_START_PFN : 0;
#else
    uint32_t want_mod_pfn = 0;
#endif
    check((si->flags & SIF_VIRT_P2M_4TOOLS) && !(si->flags & (SIF_PRIVILEGED | SIF_INITDOMAIN))
          && (si->flags & SIF_MOD_START_PFN) == want_mod_pfn, "flags", "flags %#lx", si->flags, 0);

    /* shared_info: a machine address of a page that is not one of the domain's own frames. */
    int shared_foreign = 1;
    for (unsigned long pfn = 0; pfn < si->nr_pages; pfn++)
        if (p2m[pfn] == si->shared_info >> PV_PAGE_SHIFT)
            shared_foreign = 0;
    check(si->shared_info != 0 && (si->shared_info & (PV_PAGE_SIZE - 1)) == 0 && shared_foreign,
          "shared_info", "shared_info %#lx (in the p2m: %lu)", si->shared_info, !shared_foreign);

    /* mfn_list: one valid entry per page. */
    int p2m_valid = 1;
    for (unsigned long pfn = 0; pfn < si->nr_pages; pfn++)
        if (p2m[pfn] == 0 || p2m[pfn] == PV_INVALID_MFN)
            p2m_valid = 0;
    check(p2m_valid, "mfn_list entries", "mfn_list %#lx has an invalid entry", si->mfn_list, 0);

    /* Xen's order after the kernel: [ramdisk] p2m start_info xenstore console page-tables boot-stack. */
    unsigned long p2m_pages = (si->nr_pages * 8 + PV_PAGE_SIZE - 1) >> PV_PAGE_SHIFT;
#ifdef STARTINFO_INIT_P2M
    /* INIT_P2M: the list at the kernel's address, its frames after the initial mapping; start_info follows the kernel. */
    check(si->mfn_list == P2M_BASE, "mfn_list at INIT_P2M", "mfn_list %#lx, expected %#lx", si->mfn_list, P2M_BASE);
    check(si->first_p2m_pfn != 0 && si->nr_p2m_frames > p2m_pages, "first_p2m_pfn/nr_p2m_frames",
          "first_p2m_pfn %lu nr_p2m_frames %lu", si->first_p2m_pfn, si->nr_p2m_frames);
    check((unsigned long)si == kernel_end, "start_info placement", "start_info %#lx, expected %#lx", (unsigned long)si, kernel_end);
#else
    unsigned long p2m_at = si->mod_len ? si->mod_start + si->mod_len : kernel_end;
    check(si->mfn_list == p2m_at, "mfn_list placement", "mfn_list %#lx, expected %#lx", si->mfn_list, p2m_at);
    check((unsigned long)si == si->mfn_list + p2m_pages * PV_PAGE_SIZE, "start_info placement",
          "start_info %#lx, expected %#lx", (unsigned long)si, si->mfn_list + p2m_pages * PV_PAGE_SIZE);
#endif
    check(si->store_mfn == p2m[si_pfn + 1], "store_mfn", "store_mfn %#lx, pfn after start_info is mfn %#lx", si->store_mfn, p2m[si_pfn + 1]);
    check(si->console.domU.mfn == p2m[si_pfn + 2], "console mfn", "console mfn %#lx, expected %#lx", si->console.domU.mfn, p2m[si_pfn + 2]);
    check(si->store_evtchn != 0 && si->console.domU.evtchn != 0 && si->store_evtchn != si->console.domU.evtchn,
          "evtchns", "store %lu, console %lu", si->store_evtchn, si->console.domU.evtchn);
    pv_printf("store_evtchn=%u console_evtchn=%u\n", si->store_evtchn, si->console.domU.evtchn);

    /* Page tables right after the console page; the walk to our own code uses only them. */
    pt_first_pfn = (si->pt_base - PV_VIRT_BASE) >> PV_PAGE_SHIFT;
    pt_count = si->nr_pt_frames;
    check(si->pt_base == PV_VIRT_BASE + ((si_pfn + 3) << PV_PAGE_SHIFT), "pt_base", "pt_base %#lx, expected %#lx",
          si->pt_base, PV_VIRT_BASE + ((si_pfn + 3) << PV_PAGE_SHIFT));
    check(si->nr_pt_frames >= 4, "nr_pt_frames", "nr_pt_frames %lu", si->nr_pt_frames, 0);
    int tables_ok = 1;
    unsigned long code = (unsigned long)&pv_main, code_pfn = (code - PV_VIRT_BASE) >> PV_PAGE_SHIFT;
    xen_pfn_t code_mfn = walk(si, code, &tables_ok);
    check(code_mfn == p2m[code_pfn], "walk to pv_main", "mfn %#lx, mfn_list says %#lx", code_mfn, p2m[code_pfn]);
    xen_pfn_t si_mfn = walk(si, (unsigned long)si, &tables_ok);
    check(si_mfn == p2m[si_pfn], "walk to start_info", "mfn %#lx, mfn_list says %#lx", si_mfn, p2m[si_pfn]);
#ifdef STARTINFO_INIT_P2M
    /*
     * The p2m mapping has tables of its own, after the list in first_p2m_pfn..+nr_p2m_frames and outside the
     * initial mapping (so not readable here): the L4 slot for P2M_BASE must point at one of them.
     */
    uint64_t l4e = ((const uint64_t *)si->pt_base)[(P2M_BASE >> 39) & 511];
    unsigned long p2m_l3 = 0;
    for (unsigned long pfn = si->first_p2m_pfn + p2m_pages; pfn < si->first_p2m_pfn + si->nr_p2m_frames; pfn++)
        if (p2m[pfn] == PTE_MFN(l4e))
            p2m_l3 = pfn;
    check((l4e & PTE_PRESENT) && p2m_l3 != 0, "p2m mapping's own tables", "L4 entry %#lx, table pfn %lu", l4e, p2m_l3);
    check(tables_ok, "tables within pt_base..+nr_pt_frames", "pt_base pfn %lu, %lu frames", pt_first_pfn, pt_count);
#else
    unsigned long p2m_pfn = (si->mfn_list - PV_VIRT_BASE) >> PV_PAGE_SHIFT;
    xen_pfn_t p2m_mfn = walk(si, si->mfn_list, &tables_ok);
    check(p2m_mfn == p2m[p2m_pfn], "walk to mfn_list", "mfn %#lx, mfn_list says %#lx", p2m_mfn, p2m[p2m_pfn]);
    check(tables_ok, "tables within pt_base..+nr_pt_frames", "pt_base pfn %lu, %lu frames", pt_first_pfn, pt_count);
    check(si->first_p2m_pfn == 0 && si->nr_p2m_frames == 0, "no INIT_P2M", "first_p2m_pfn %lu nr_p2m_frames %lu",
          si->first_p2m_pfn, si->nr_p2m_frames);
#endif

    /* The ramdisk: right after the kernel, page-rounded length, contents as the file, zero padding. */
    const char *rdlen_s = cmdline_value(cmd, "rdlen");
#ifdef STARTINFO_INIT_P2M
    if (rdlen_s != NULL) {
        /* MOD_START_PFN: the ramdisk is unmapped, given by frame number, right before the p2m list's frames. */
        unsigned long rdlen = parse_number(rdlen_s, &ok);
        unsigned long rd_pages = (rdlen + PV_PAGE_SIZE - 1) >> PV_PAGE_SHIFT;
        check(ok && si->mod_len == rd_pages * PV_PAGE_SIZE, "mod_len", "mod_len %lu for %lu bytes", si->mod_len, rdlen);
        check(si->mod_start + rd_pages == si->first_p2m_pfn, "mod_start is a pfn", "mod_start %lu, p2m at pfn %lu",
              si->mod_start, si->first_p2m_pfn);
        pv_printf("mod_len=%lu\n", si->mod_len);
        rdlen_s = NULL;
    } else
#endif
    if (rdlen_s != NULL) {
        unsigned long rdlen = parse_number(rdlen_s, &ok);
        int sum_ok;
        unsigned long rdsum = parse_number(cmdline_value(cmd, "rdsum"), &sum_ok);
        check(ok && sum_ok, "ramdisk expectations", "rdlen= or rdsum= malformed", 0, 0);
        check(si->mod_start == kernel_end, "mod_start", "mod_start %#lx, expected %#lx", si->mod_start, kernel_end);
        check(si->mod_len >= rdlen && (si->mod_len & (PV_PAGE_SIZE - 1)) == 0, "mod_len", "mod_len %lu for %lu bytes",
              si->mod_len, rdlen);
        if (si->mod_start == kernel_end && si->mod_len >= rdlen) {
            const unsigned char *rd = (const unsigned char *)si->mod_start;
            uint32_t sum = fnv1a(rd, rdlen);
            check(sum == rdsum, "ramdisk checksum", "fnv1a %#lx, expected %#lx", sum, rdsum);
            int zero = 1;
            for (unsigned long i = rdlen; i < si->mod_len; i++)
                if (rd[i] != 0)
                    zero = 0;
            check(zero, "ramdisk padding", "nonzero byte past %lu of %lu", rdlen, si->mod_len);
        }
        pv_printf("mod_len=%lu\n", si->mod_len);
    } else {
        check(si->mod_start == 0 && si->mod_len == 0, "no ramdisk", "mod_start %#lx mod_len %lu", si->mod_start, si->mod_len);
    }

    pv_printf("startinfo: %u checks, %u failed\n", checks, failures);
    return failures ? 1 : 0;
}
