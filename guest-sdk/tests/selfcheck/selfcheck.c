/*
 * selfcheck - a self-checking compute guest built with -O2 and SSE enabled (see guest-sdk/Makefile): it
 * exercises what gcc emits for ordinary C on the CPU that runs it - qsort with a comparison callback, its own
 * %f-style formatting of float, double and long double (SSE scalar and packed code, x87 for long double),
 * 64-bit signed and unsigned division, memcpy/memset/strlen over every small alignment - and hashes all it
 * prints. The last line is "selfcheck: ok <hash>" when the hash equals the one the same source produced
 * compiled natively on an x86-64 host (SELFCHECK_EXPECTED; `make -C guest-sdk selfcheck-native` prints it),
 * else "selfcheck: MISMATCH".
 */
#ifdef SELFCHECK_HOST
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#define OUT(s) fputs((s), stdout)
#else
#include <paravirt/pv.h>
#define OUT(s) pv_printf("%s", (s))
#endif

#define SELFCHECK_EXPECTED 0x02834478e7391462ULL

typedef unsigned long u64;

static u64 hash = 14695981039346656037ULL;

static void mix(const char *s)
{
    for (; *s; s++) {
        hash ^= (unsigned char)*s;
        hash *= 1099511628211ULL;
    }
}

static void emit(const char *s)
{
    mix(s);
    OUT(s);
}

/* ---- text building -------------------------------------------------------------------------------------- */

static char line[256];
static unsigned pos;

static void put(const char *s)
{
    while (*s && pos < sizeof line - 1)
        line[pos++] = *s++;
    line[pos] = 0;
}

static void put_u64(u64 v, unsigned base, int width)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    while (n < width)
        tmp[n++] = '0';
    while (n && pos < sizeof line - 1)
        line[pos++] = tmp[--n];
    line[pos] = 0;
}

static void put_i64(long v)
{
    if (v < 0) {
        put("-");
        put_u64(-(u64)v, 10, 1);
    } else {
        put_u64((u64)v, 10, 1);
    }
}

static void flush(void)
{
    put("\n");
    emit(line);
    pos = 0;
    line[0] = 0;
}

/* ---- floating-point formatting (libpv's printf has none) -------------------------------------------------- */

static const double pow10_table[] = { 1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9 };

/* %.<decimals>f for |v| < 1e18: round half away from zero at the last decimal. */
static void put_double(double v, int decimals)
{
    if (v != v) { put("nan"); return; }
    if (v < 0 || (v == 0 && 1 / v < 0)) { put("-"); v = -v; }
    if (v > 1e18) { put("inf-or-huge"); return; }
    double scale = pow10_table[decimals];
    u64 whole = (u64)v;
    double frac = v - (double)whole;
    u64 f = (u64)(frac * scale + 0.5);
    if (f >= (u64)scale) { whole++; f -= (u64)scale; }
    put_u64(whole, 10, 1);
    if (decimals) {
        put(".");
        put_u64(f, 10, decimals);
    }
}

static void put_long_double(long double v, int decimals)
{
    if (v < 0) { put("-"); v = -v; }
    u64 whole = (u64)v;
    long double frac = v - (long double)whole;
    long double scale = 1;
    for (int i = 0; i < decimals; i++)
        scale *= 10;
    u64 f = (u64)(frac * scale + 0.5L);
    if ((long double)f >= scale) { whole++; f -= (u64)scale; }
    put_u64(whole, 10, 1);
    put(".");
    put_u64(f, 10, decimals);
}

/* ---- qsort ----------------------------------------------------------------------------------------------- */

static void swap_bytes(char *a, char *b, unsigned long size)
{
    while (size--) {
        char t = *a;
        *a++ = *b;
        *b++ = t;
    }
}

static void my_qsort(void *base, unsigned long n, unsigned long size, int (*cmp)(const void *, const void *))
{
    char *b = base;
    while (n > 8) {
        unsigned long mid = n / 2;
        /* median of three to the front */
        if (cmp(b + mid * size, b) < 0) swap_bytes(b + mid * size, b, size);
        if (cmp(b + (n - 1) * size, b) < 0) swap_bytes(b + (n - 1) * size, b, size);
        if (cmp(b + (n - 1) * size, b + mid * size) < 0) swap_bytes(b + (n - 1) * size, b + mid * size, size);
        swap_bytes(b, b + mid * size, size);
        unsigned long i = 1, j = n - 1;
        for (;;) {
            while (i < n && cmp(b + i * size, b) < 0) i++;
            while (cmp(b + j * size, b) > 0) j--;
            if (i >= j) break;
            swap_bytes(b + i * size, b + j * size, size);
            i++;
            j--;
        }
        swap_bytes(b, b + j * size, size);
        /* recurse into the smaller part, loop on the larger */
        if (j < n - j - 1) {
            my_qsort(b, j, size, cmp);
            b += (j + 1) * size;
            n -= j + 1;
        } else {
            my_qsort(b + (j + 1) * size, n - j - 1, size, cmp);
            n = j;
        }
    }
    for (unsigned long i = 1; i < n; i++)
        for (unsigned long k = i; k > 0 && cmp(b + (k - 1) * size, b + k * size) > 0; k--)
            swap_bytes(b + (k - 1) * size, b + k * size, size);
}

static int cmp_long(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return x < y ? -1 : x > y;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

struct record { unsigned key; char name[12]; };

static int cmp_record(const void *a, const void *b)
{
    const struct record *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return strlen(x->name) < strlen(y->name) ? -1 : strlen(x->name) > strlen(y->name);
}

static u64 rng = 0x9E3779B97F4A7C15ULL;

static u64 next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

#define N 2000
static long longs[N];
static double doubles[N];
static struct record records[500];

static void check_sort(void)
{
    for (int i = 0; i < N; i++) {
        longs[i] = (long)next() >> (next() % 60);
        doubles[i] = (double)(long)(next() % 2000001 - 1000000) / 1024.0;
    }
    my_qsort(longs, N, sizeof longs[0], cmp_long);
    my_qsort(doubles, N, sizeof doubles[0], cmp_double);
    for (int i = 0; i < 500; i++) {
        records[i].key = (unsigned)(next() % 97);
        unsigned len = (unsigned)(next() % 11);
        memset(records[i].name, 'a' + (int)(i % 26), len);
        records[i].name[len] = 0;
    }
    my_qsort(records, 500, sizeof records[0], cmp_record);
    int sorted = 1;
    u64 sum = 0;
    for (int i = 1; i < N; i++) {
        if (longs[i - 1] > longs[i] || doubles[i - 1] > doubles[i]) sorted = 0;
    }
    for (int i = 0; i < N; i++) sum = sum * 31 + (u64)longs[i] + (u64)(long)(doubles[i] * 1024);
    for (int i = 1; i < 500; i++) if (cmp_record(&records[i - 1], &records[i]) > 0) sorted = 0;
    put("qsort: sorted="); put_u64((u64)sorted, 10, 1);
    put(" min="); put_i64(longs[0]); put(" max="); put_i64(longs[N - 1]);
    put(" dmin="); put_double(doubles[0], 4); put(" dmax="); put_double(doubles[N - 1], 4);
    put(" sum="); put_u64(sum, 16, 16);
    flush();
}

/* ---- floating point ------------------------------------------------------------------------------------ */

static double newton_sqrt(double x)
{
    double r = x > 1 ? x / 2 : 1;
    for (int i = 0; i < 60; i++)
        r = 0.5 * (r + x / r);
    return r;
}

static float vec_a[256], vec_b[256];

static void check_float(void)
{
    double basel = 0;
    for (int k = 1; k <= 5000; k++)
        basel += 1.0 / ((double)k * k);
    put("basel(5000)="); put_double(basel, 9);
    put(" sqrt2="); put_double(newton_sqrt(2.0), 9);
    put(" sqrt1e10="); put_double(newton_sqrt(1e10), 3);
    flush();

    /* Packed single-precision arithmetic (gcc vectorises these loops at -O2). */
    for (int i = 0; i < 256; i++) {
        vec_a[i] = (float)i * 0.25f - 10.0f;
        vec_b[i] = 1.0f / (float)(i + 1);
    }
    float dot = 0;
    for (int i = 0; i < 256; i++) {
        vec_a[i] = vec_a[i] * vec_b[i] + vec_b[i];
        dot += vec_a[i];
    }
    put("float dot="); put_double(dot, 5);
    double mixed = 0;
    for (int i = -50; i <= 50; i++) {
        double x = i / 7.0;
        long t = (long)(x * 1000);
        mixed += (double)t / 3.0 - (x < 0 ? -x : x);
    }
    put(" mixed="); put_double(mixed, 6);
    float f = 16777216.0f;
    f += 1.0f;
    put(" f32-round="); put_double(f, 1);
    flush();

    /* long double: the x87 with its 64-bit significand. */
    long double pi = 0, term = 1;
    for (int k = 0; k < 60; k++) {
        pi += term / (2 * k + 1);
        term *= -1.0L / 3;
    }
    pi *= 2 * 1.7320508075688772935274463415058723L;
    long double e = 1, fact = 1;
    for (int k = 1; k < 25; k++) {
        fact *= k;
        e += 1 / fact;
    }
    long double tiny = 1.0L + 1e-18L;
    put("long double pi="); put_long_double(pi, 15);
    put(" e="); put_long_double(e, 15);
    put(" 1+1e-18>1:"); put_u64(tiny > 1.0L, 10, 1);
    put(" (double)(1+1e-18)>1:"); put_u64((double)tiny > 1.0, 10, 1);
    flush();
}

/* ---- 64-bit division ------------------------------------------------------------------------------------ */

static volatile long divisors[] = { 1, -1, 2, 3, 7, -7, 10, 1000003, -65536, 0x7fffffffL, 0x100000001L, -0x7fffffffffffffffL };

static void check_division(void)
{
    u64 acc = 0;
    for (int i = 0; i < 400; i++) {
        long a = (long)next();
        u64 ua = next();
        for (unsigned k = 0; k < sizeof divisors / sizeof divisors[0]; k++) {
            long d = divisors[k];
            long q = a / d, r = a % d;
            if (q * d + r != a) acc ^= 0xdead;
            acc = acc * 1000003 + (u64)q + (u64)r;
            u64 ud = (u64)d | 1;
            acc = acc * 31 + ua / ud + ua % ud;
            acc += (u64)((unsigned)ua / ((unsigned)ud | 1u));
        }
    }
    put("div64: "); put_u64(acc, 16, 16);
    put(" minint/-1 avoided, -7/2="); put_i64(divisors[5] / divisors[2]);
    put(" -7%2="); put_i64(divisors[5] % divisors[2]);
    flush();
}

/* ---- memcpy / memset / strlen ----------------------------------------------------------------------------- */

static unsigned char src_buf[600], dst_buf[600];
static char str_buf[300];

static void check_memory(void)
{
    int ok = 1;
    u64 acc = 0;
    for (int i = 0; i < 600; i++)
        src_buf[i] = (unsigned char)(i * 7 + 3);
    for (int so = 0; so < 16; so++) {
        for (int dof = 0; dof < 16; dof++) {
            for (int len = 0; len < 80; len += 3) {
                memset(dst_buf, 0xEE, sizeof dst_buf);
                memcpy(dst_buf + dof, src_buf + so, (unsigned long)len);
                for (int i = 0; i < len; i++)
                    if (dst_buf[dof + i] != src_buf[so + i]) ok = 0;
                if (dof && dst_buf[dof - 1] != 0xEE) ok = 0;
                if (dst_buf[dof + len] != 0xEE) ok = 0;
                acc += dst_buf[dof + len / 2];
            }
        }
    }
    for (int off = 0; off < 16; off++) {
        for (int len = 0; len < 200; len += 7) {
            memset(str_buf, 'x', sizeof str_buf);
            memset(str_buf + off, 'a' + off, (unsigned long)len);
            str_buf[off + len] = 0;
            if (strlen(str_buf + off) != (unsigned long)len) ok = 0;
            acc = acc * 3 + strlen(str_buf + off);
        }
    }
    put("memory: ok="); put_u64((u64)ok, 10, 1); put(" acc="); put_u64(acc, 16, 16);
    flush();
}

#ifdef SELFCHECK_HOST
int main(void)
#else
int pv_main(start_info_t *si)
#endif
{
#ifndef SELFCHECK_HOST
    (void)si;
#endif
    check_sort();
    check_float();
    check_division();
    check_memory();
    u64 h = hash;
    put(h == SELFCHECK_EXPECTED ? "selfcheck: ok " : "selfcheck: MISMATCH ");
    put_u64(h, 16, 16);
    put("\n");
    OUT(line);
    return 0;
}
