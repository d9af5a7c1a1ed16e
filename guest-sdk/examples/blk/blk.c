/*
 * blk - the PV block front-end at work: a self-checking pattern workload.
 *
 * The mode comes from the kernel command line (xl.cfg extra=):
 *   write [seed=N]    fill the whole disk with the seeded pattern, flush, power off
 *   verify [seed=N]   read the whole disk back and compare with the pattern
 *   bench [mib=N] [ops=N] [seed=N]
 *                     timed workload for `./bench blk`: sequential write and read
 *                     of the first N MiB (default all), then N random 4 KiB reads
 *                     and writes
 *   endure [mib=N] [seed=N]
 *                     write the pattern over the first N MiB (default 4), flush,
 *                     say so, then keep rewriting the rest of the disk (with
 *                     other seeds, never flushing) until the domain is destroyed:
 *                     the test kills it mid-write and checks the flushed part
 * "nopersistent" and "noindirect" decline those back-end features.
 *
 * The pattern: 64-bit little-endian word w of the disk (byte offset 8*w) is
 * splitmix64(seed + w).  tests/Paravirt.EndToEnd.Tests/BlockTests.cs computes
 * the same bytes in C# and checks the image file against them.
 *
 *   blk: vbd 51712: 524288 sectors of 512 bytes, ring 4 page(s), persistent grants, indirect 64
 *   blk: wrote 256 MiB (seed 42)
 *   blk: flushed
 */
#include <paravirt/blkfront.h>
#include <paravirt/pv.h>

#define CHUNK_PAGES 64      /* 256 KiB per call */
#define CHUNK_BYTES (CHUNK_PAGES * 4096u)
#define CHUNK_SECTS (CHUNK_BYTES / PV_BLKFRONT_SECTOR_SIZE)

static pv_blkfront_t dev;

static uint64_t splitmix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static void fill(uint64_t *buf, uint64_t first_word, uint64_t words, uint64_t seed)
{
    for (uint64_t i = 0; i < words; i++)
        buf[i] = splitmix64(seed + first_word + i);
}

/* Value of "key=<number>" (key includes the "=") on the command line, or dflt. */
static uint64_t arg_num(const start_info_t *si, const char *key, uint64_t dflt)
{
    long v = pv_cmdline_number(si, key, 0x7fffffffffffffffL);
    return v < 0 ? dflt : (uint64_t)v;
}

static bool has_word(const char *cmd, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = cmd; *p; p++)
        if ((p == cmd || p[-1] == ' ') && strncmp(p, word, n) == 0 && (p[n] == ' ' || p[n] == '\0'))
            return true;
    return false;
}

static int do_write(uint64_t *buf, uint64_t seed)
{
    for (uint64_t s = 0; s < dev.sectors; s += CHUNK_SECTS) {
        uint64_t n = dev.sectors - s < CHUNK_SECTS ? dev.sectors - s : CHUNK_SECTS;
        fill(buf, s * 64, n * 64, seed);
        long rc = pv_blkfront_write(&dev, s, buf, n);
        if (rc < 0) {
            pv_printf("blk: write of sectors %lu+%lu failed (error %ld)\n", (unsigned long)s, (unsigned long)n, rc);
            return 1;
        }
    }
    pv_printf("blk: wrote %lu MiB (seed %lu)\n", (unsigned long)(dev.sectors >> 11), (unsigned long)seed);
    long rc = pv_blkfront_flush(&dev);
    if (rc < 0) {
        pv_printf("blk: flush failed (error %ld)\n", rc);
        return 1;
    }
    pv_printf("blk: flushed\n");
    return 0;
}

static int do_verify(uint64_t *buf, uint64_t seed)
{
    uint64_t bad = 0;
    for (uint64_t s = 0; s < dev.sectors; s += CHUNK_SECTS) {
        uint64_t n = dev.sectors - s < CHUNK_SECTS ? dev.sectors - s : CHUNK_SECTS;
        long rc = pv_blkfront_read(&dev, s, buf, n);
        if (rc < 0) {
            pv_printf("blk: read of sectors %lu+%lu failed (error %ld)\n", (unsigned long)s, (unsigned long)n, rc);
            return 1;
        }
        for (uint64_t i = 0; i < n * 64; i++) {
            if (buf[i] != splitmix64(seed + s * 64 + i)) {
                if (bad < 4)
                    pv_printf("blk: mismatch in sector %lu word %lu\n", (unsigned long)(s + i / 64),
                              (unsigned long)(i % 64));
                bad++;
            }
        }
    }
    if (bad != 0) {
        pv_printf("blk: verify FAILED: %lu bad words\n", (unsigned long)bad);
        return 1;
    }
    pv_printf("blk: verified %lu MiB (seed %lu)\n", (unsigned long)(dev.sectors >> 11), (unsigned long)seed);
    return 0;
}

static int do_endure(uint64_t *buf, uint64_t seed, uint64_t mib)
{
    uint64_t flushed = mib << 11;
    if (flushed == 0 || flushed >= dev.sectors) {
        pv_printf("blk: endure needs 0 < mib < the disk's %lu MiB\n", (unsigned long)(dev.sectors >> 11));
        return 1;
    }
    for (uint64_t s = 0; s < flushed; s += CHUNK_SECTS) {
        uint64_t n = flushed - s < CHUNK_SECTS ? flushed - s : CHUNK_SECTS;
        fill(buf, s * 64, n * 64, seed);
        long rc = pv_blkfront_write(&dev, s, buf, n);
        if (rc < 0) {
            pv_printf("blk: write of sectors %lu+%lu failed (error %ld)\n", (unsigned long)s, (unsigned long)n, rc);
            return 1;
        }
    }
    long rc = pv_blkfront_flush(&dev);
    if (rc < 0) {
        pv_printf("blk: flush failed (error %ld)\n", rc);
        return 1;
    }
    pv_printf("blk: flushed sectors 0+%lu (seed %lu)\n", (unsigned long)flushed, (unsigned long)seed);
    pv_printf("blk: writing on past sector %lu until destroyed\n", (unsigned long)flushed);
    for (uint64_t pass = 1;; pass++) {
        for (uint64_t s = flushed; s < dev.sectors; s += CHUNK_SECTS) {
            uint64_t n = dev.sectors - s < CHUNK_SECTS ? dev.sectors - s : CHUNK_SECTS;
            fill(buf, s * 64, n * 64, seed + pass);
            rc = pv_blkfront_write(&dev, s, buf, n);
            if (rc < 0) {
                pv_printf("blk: write of sectors %lu+%lu failed (error %ld)\n", (unsigned long)s, (unsigned long)n, rc);
                return 1;
            }
        }
    }
}

static uint64_t rng_state;
static uint64_t next_rand(void)
{
    rng_state += 1;
    return splitmix64(rng_state);
}

/* One timed phase; prints "blkbench: <name> bytes=<b> ops=<n> ns=<t>". */
static int bench(uint64_t *buf, uint64_t mib, uint64_t ops, uint64_t seed)
{
    uint64_t sects = mib ? mib << 11 : dev.sectors;
    if (sects > dev.sectors)
        sects = dev.sectors;
    rng_state = seed;
    fill(buf, 0, CHUNK_BYTES / 8, seed);
    const char *names[2] = { "seqwrite", "seqread" };
    for (int phase = 0; phase < 2; phase++) {
        uint64_t t0 = pv_system_time_ns(), nops = 0;
        for (uint64_t s = 0; s < sects; s += CHUNK_SECTS) {
            uint64_t n = sects - s < CHUNK_SECTS ? sects - s : CHUNK_SECTS;
            long rc = phase == 0 ? pv_blkfront_write(&dev, s, buf, n) : pv_blkfront_read(&dev, s, buf, n);
            if (rc < 0) {
                pv_printf("blk: %s failed at sector %lu (error %ld)\n", names[phase], (unsigned long)s, rc);
                return 1;
            }
            nops++;
        }
        if (phase == 0 && pv_blkfront_flush(&dev) < 0)
            return 1;
        uint64_t t1 = pv_system_time_ns();
        pv_printf("blkbench: %s bytes=%lu ops=%lu ns=%lu\n", names[phase], (unsigned long)(sects * 512),
                  (unsigned long)nops, (unsigned long)(t1 - t0));
    }
    uint64_t pages = sects / 8;
    const char *rnames[2] = { "randread", "randwrite" };
    for (int phase = 0; phase < 2; phase++) {
        uint64_t t0 = pv_system_time_ns();
        for (uint64_t i = 0; i < ops; i++) {
            uint64_t s = (next_rand() % pages) * 8;
            long rc = phase == 0 ? pv_blkfront_read(&dev, s, buf, 8) : pv_blkfront_write(&dev, s, buf, 8);
            if (rc < 0) {
                pv_printf("blk: %s failed at sector %lu (error %ld)\n", rnames[phase], (unsigned long)s, rc);
                return 1;
            }
        }
        uint64_t t1 = pv_system_time_ns();
        pv_printf("blkbench: %s bytes=%lu ops=%lu ns=%lu\n", rnames[phase], (unsigned long)(ops * 4096),
                  (unsigned long)ops, (unsigned long)(t1 - t0));
    }
    if (pv_blkfront_flush(&dev) < 0)
        return 1;
    return 0;
}

int pv_main(start_info_t *si)
{
    const char *cmd = (const char *)si->cmd_line;
    uint64_t seed = arg_num(si, "seed=", 42);
    unsigned int flags = (has_word(cmd, "nopersistent") ? PV_BLKFRONT_NO_PERSISTENT : 0) |
                         (has_word(cmd, "noindirect") ? PV_BLKFRONT_NO_INDIRECT : 0);
    long rc = pv_blkfront_open_flags(&dev, -1, flags);
    if (rc < 0) {
        pv_printf("blk: cannot connect to the disk (error %ld)\n", rc);
        return 1;
    }
    pv_printf("blk: %s: %lu sectors of %u bytes, ring %u page(s), %s grants, indirect %u\n", dev.nodename,
              (unsigned long)dev.sectors, dev.sector_size, 1u << dev.ring_order,
              dev.persistent ? "persistent" : "per-request", dev.max_indirect_segs);
    uint64_t *buf = pv_pages_alloc(CHUNK_PAGES);
    if (buf == NULL) {
        pv_printf("blk: out of memory\n");
        return 1;
    }
    int result;
    if (has_word(cmd, "verify"))
        result = do_verify(buf, seed);
    else if (has_word(cmd, "bench"))
        result = bench(buf, arg_num(si, "mib=", 0), arg_num(si, "ops=", 2000), seed);
    else if (has_word(cmd, "endure"))
        result = do_endure(buf, seed, arg_num(si, "mib=", 4));
    else if (has_word(cmd, "write"))
        result = do_write(buf, seed);
    else {
        pv_printf("blk: say extra=\"write\", \"verify\", \"endure\" or \"bench\" (command line: \"%s\")\n", cmd);
        result = 1;
    }
    rc = pv_blkfront_close(&dev);
    if (rc < 0)
        pv_printf("blk: close: error %ld\n", rc);
    pv_printf("blk: %s (%lu requests, %lu errors)\n", result == 0 ? "done" : "FAILED",
              (unsigned long)dev.requests, (unsigned long)dev.errors);
    return result;
}
