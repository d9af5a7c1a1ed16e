/*
 * bench/cpu - the compute guest of `./bench cpu`: CRC32 (table-driven), a quicksort of 32-bit keys and SHA-256,
 * each over a pseudo-random buffer, for a fixed number of rounds. The same source is compiled natively for
 * the host (BENCH_HOST, `make -C guest-sdk bench-native`) so the tool can compare times for the same work.
 * Prints one result line; the tool checks that guest and native agree.
 */
#ifdef BENCH_HOST
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#define OUT(s) fputs((s), stdout)
#else
#include <paravirt/pv.h>
#define OUT(s) pv_printf("%s", (s))
#endif

typedef unsigned int u32;
typedef unsigned long u64;

#define BUF_BYTES (256 * 1024)
#define SORT_KEYS 32768
#define ROUNDS 12

static unsigned char buf[BUF_BYTES];
static u32 keys[SORT_KEYS];
static u32 crc_table[256];

static u64 rng = 0x243F6A8885A308D3UL;

static u64 next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void crc_init(void)
{
    for (u32 i = 0; i < 256; i++) {
        u32 c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}

static u32 crc32(const unsigned char *p, u64 n)
{
    u32 c = 0xFFFFFFFFu;
    while (n--)
        c = crc_table[(c ^ *p++) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

static void sort_keys(u32 *a, long lo, long hi)
{
    while (hi - lo > 16) {
        u32 pivot = a[lo + (hi - lo) / 2];
        long i = lo, j = hi;
        while (i <= j) {
            while (a[i] < pivot) i++;
            while (a[j] > pivot) j--;
            if (i <= j) {
                u32 t = a[i]; a[i] = a[j]; a[j] = t;
                i++; j--;
            }
        }
        if (j - lo < hi - i) { sort_keys(a, lo, j); lo = i; }
        else { sort_keys(a, i, hi); hi = j; }
    }
    for (long i = lo + 1; i <= hi; i++) {
        u32 v = a[i];
        long k = i - 1;
        while (k >= lo && a[k] > v) { a[k + 1] = a[k]; k--; }
        a[k + 1] = v;
    }
}

static const u32 K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha256_block(u32 h[8], const unsigned char *p)
{
    u32 w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (u32)p[4 * i] << 24 | (u32)p[4 * i + 1] << 16 | (u32)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        u32 s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
        u32 s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    u32 a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
    for (int i = 0; i < 64; i++) {
        u32 t1 = hh + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
        u32 t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        hh = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
}

/* SHA-256 of a whole number of 64-byte blocks plus the standard padding block. */
static void sha256(const unsigned char *p, u64 n, u32 h[8])
{
    static const u32 init[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };
    for (int i = 0; i < 8; i++) h[i] = init[i];
    for (u64 off = 0; off < n; off += 64) sha256_block(h, p + off);
    unsigned char pad[64] = { 0x80 };
    u64 bits = n * 8;
    for (int i = 0; i < 8; i++) pad[63 - i] = (unsigned char)(bits >> (8 * i));
    sha256_block(h, pad);
}

static char line[160];

static void hex(char *o, u64 v, int digits)
{
    for (int i = digits - 1; i >= 0; i--) { o[i] = "0123456789abcdef"[v & 15]; v >>= 4; }
}

#ifdef BENCH_HOST
int main(void)
#else
int pv_main(start_info_t *si)
#endif
{
#ifndef BENCH_HOST
    (void)si;
#endif
#ifdef BENCH_HOST
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
#endif
    crc_init();
    u64 acc = 0;
    u32 h[8] = { 0 };
    for (int round = 0; round < ROUNDS; round++) {
        for (u64 i = 0; i < BUF_BYTES; i += 8) {
            u64 v = next();
            for (int k = 0; k < 8; k++) buf[i + k] = (unsigned char)(v >> (8 * k));
        }
        acc = acc * 31 + crc32(buf, BUF_BYTES);
        for (int i = 0; i < SORT_KEYS; i++) keys[i] = (u32)next();
        sort_keys(keys, 0, SORT_KEYS - 1);
        for (int i = 1; i < SORT_KEYS; i++) if (keys[i - 1] > keys[i]) acc ^= 0xBAD;
        acc = acc * 31 + keys[SORT_KEYS / 2];
        sha256(buf, BUF_BYTES, h);
        acc = acc * 31 + h[0];
    }
    char *o = line;
    const char *prefix = "bench-cpu result ";
    while (*prefix) *o++ = *prefix++;
    hex(o, acc, 16); o += 16;
    *o++ = ' ';
    for (int i = 0; i < 8; i++) { hex(o, h[i], 8); o += 8; }
    *o++ = '\n';
    *o = 0;
#ifdef BENCH_HOST
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("bench-cpu native-ns %ld\n", (long)((t1.tv_sec - t0.tv_sec) * 1000000000L + (t1.tv_nsec - t0.tv_nsec)));
#endif
    OUT(line);
    return 0;
}
