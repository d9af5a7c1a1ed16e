/*
 * printf.c - printf-style formatting for the guest runtime.
 *
 * One engine (pv_vformat) feeds a sink in small chunks; pv_vsnprintf and
 * pv_vprintf are sinks over a buffer and over the console.  No allocation,
 * no floating point (guests are built with -mno-sse).
 */
#include <paravirt/pv.h>

#include "internal.h"

#define FLAG_LEFT 0x1   /* '-' */
#define FLAG_ZERO 0x2   /* '0' */

enum length { LEN_INT, LEN_CHAR, LEN_SHORT, LEN_LONG, LEN_LLONG, LEN_SIZE };

struct spec {
    unsigned flags;
    int width;          /* -1: none */
    int precision;      /* -1: none */
};

static void emit_pad(struct pv_sink *sink, char c, int count, int *total)
{
    char pad[16];
    for (size_t i = 0; i < sizeof(pad); i++)
        pad[i] = c;
    while (count > 0) {
        size_t n = count > (int)sizeof(pad) ? sizeof(pad) : (size_t)count;
        sink->put(sink, pad, n);
        *total += (int)n;
        count -= (int)n;
    }
}

static void emit(struct pv_sink *sink, const char *s, size_t n, int *total)
{
    if (n > 0)
        sink->put(sink, s, n);
    *total += (int)n;
}

/* A field: [sign/prefix][zero padding][digits], space-padded to width. */
static void emit_field(struct pv_sink *sink, const struct spec *sp,
                       const char *prefix, size_t prefix_len,
                       const char *body, size_t body_len, int zeros, int *total)
{
    int len = (int)(prefix_len + body_len) + zeros;
    int pad = sp->width > len ? sp->width - len : 0;

    if (!(sp->flags & FLAG_LEFT))
        emit_pad(sink, ' ', pad, total);
    emit(sink, prefix, prefix_len, total);
    emit_pad(sink, '0', zeros, total);
    emit(sink, body, body_len, total);
    if (sp->flags & FLAG_LEFT)
        emit_pad(sink, ' ', pad, total);
}

static void emit_number(struct pv_sink *sink, const struct spec *sp,
                        unsigned long long value, bool negative,
                        unsigned base, bool upper, const char *prefix, int *total)
{
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    char buf[24];                       /* 2^64 in octal is 22 digits */
    size_t n = 0;

    /* C rule: precision 0 with value 0 prints no digits. */
    if (!(value == 0 && sp->precision == 0)) {
        do {
            buf[sizeof(buf) - 1 - n++] = digits[value % base];
            value /= base;
        } while (value != 0);
    }

    char pre[3];
    size_t pre_len = 0;
    if (negative)
        pre[pre_len++] = '-';
    for (; prefix != NULL && *prefix != '\0' && pre_len < sizeof(pre); prefix++)
        pre[pre_len++] = *prefix;

    int zeros = 0;
    if (sp->precision >= 0) {
        if ((size_t)sp->precision > n)
            zeros = sp->precision - (int)n;
    } else if ((sp->flags & FLAG_ZERO) && !(sp->flags & FLAG_LEFT)) {
        int used = (int)(pre_len + n);
        if (sp->width > used)
            zeros = sp->width - used;
    }
    emit_field(sink, sp, pre, pre_len, buf + sizeof(buf) - n, n, zeros, total);
}

/* Reads a decimal number; saturates instead of overflowing on hostile input. */
static int parse_int(const char **p)
{
    int v = 0;
    while (**p >= '0' && **p <= '9') {
        if (v < 100000)
            v = v * 10 + (**p - '0');
        (*p)++;
    }
    return v;
}

int pv_vformat(struct pv_sink *sink, const char *fmt, va_list ap)
{
    int total = 0;
    va_list args;
    va_copy(args, ap);

    while (*fmt != '\0') {
        if (*fmt != '%') {
            const char *start = fmt;
            while (*fmt != '\0' && *fmt != '%')
                fmt++;
            emit(sink, start, (size_t)(fmt - start), &total);
            continue;
        }
        const char *conv_start = fmt++;

        struct spec sp = { .flags = 0, .width = -1, .precision = -1 };
        for (;; fmt++) {
            if (*fmt == '-')
                sp.flags |= FLAG_LEFT;
            else if (*fmt == '0')
                sp.flags |= FLAG_ZERO;
            else
                break;
        }
        if (*fmt == '*') {
            sp.width = va_arg(args, int);
            if (sp.width < 0) {
                sp.flags |= FLAG_LEFT;
                sp.width = sp.width == -2147483647 - 1 ? 100000 : -sp.width;
            }
            if (sp.width > 100000)
                sp.width = 100000;      /* same cap as parse_int */
            fmt++;
        } else if (*fmt >= '0' && *fmt <= '9') {
            sp.width = parse_int(&fmt);
        }
        if (*fmt == '.') {
            fmt++;
            if (*fmt == '*') {
                sp.precision = va_arg(args, int);
                if (sp.precision < 0)
                    sp.precision = -1;      /* negative = as if omitted */
                else if (sp.precision > 100000)
                    sp.precision = 100000;
                fmt++;
            } else {
                sp.precision = parse_int(&fmt);
            }
        }

        enum length len = LEN_INT;
        if (*fmt == 'h') {
            fmt++;
            len = LEN_SHORT;
            if (*fmt == 'h') { fmt++; len = LEN_CHAR; }
        } else if (*fmt == 'l') {
            fmt++;
            len = LEN_LONG;
            if (*fmt == 'l') { fmt++; len = LEN_LLONG; }
        } else if (*fmt == 'z') {
            fmt++;
            len = LEN_SIZE;
        }

        char conv = *fmt;
        if (conv == '\0') {
            /* Dangling '%...' at the end: print it as written. */
            emit(sink, conv_start, (size_t)(fmt - conv_start), &total);
            break;
        }
        fmt++;

        switch (conv) {
        case 'd':
        case 'i': {
            long long v;
            switch (len) {
            case LEN_CHAR:  v = (signed char)va_arg(args, int); break;
            case LEN_SHORT: v = (short)va_arg(args, int); break;
            case LEN_LONG:  v = va_arg(args, long); break;
            case LEN_LLONG: v = va_arg(args, long long); break;
            case LEN_SIZE:  v = (long long)va_arg(args, size_t); break;
            default:        v = va_arg(args, int); break;
            }
            unsigned long long mag = v < 0 ? 0ULL - (unsigned long long)v
                                           : (unsigned long long)v;
            emit_number(sink, &sp, mag, v < 0, 10, false, NULL, &total);
            break;
        }
        case 'u':
        case 'x':
        case 'X':
        case 'o': {
            unsigned long long v;
            switch (len) {
            case LEN_CHAR:  v = (unsigned char)va_arg(args, unsigned int); break;
            case LEN_SHORT: v = (unsigned short)va_arg(args, unsigned int); break;
            case LEN_LONG:  v = va_arg(args, unsigned long); break;
            case LEN_LLONG: v = va_arg(args, unsigned long long); break;
            case LEN_SIZE:  v = va_arg(args, size_t); break;
            default:        v = va_arg(args, unsigned int); break;
            }
            unsigned base = conv == 'u' ? 10 : conv == 'o' ? 8 : 16;
            emit_number(sink, &sp, v, false, base, conv == 'X', NULL, &total);
            break;
        }
        case 'p': {
            struct spec ps = { .flags = sp.flags & FLAG_LEFT, .width = sp.width,
                               .precision = 16 };
            uintptr_t v = (uintptr_t)va_arg(args, void *);
            emit_number(sink, &ps, v, false, 16, false, "0x", &total);
            break;
        }
        case 'c': {
            char c = (char)va_arg(args, int);
            emit_field(sink, &sp, NULL, 0, &c, 1, 0, &total);
            break;
        }
        case 's': {
            const char *s = va_arg(args, const char *);
            if (s == NULL)
                s = "(null)";
            size_t n = sp.precision >= 0 ? strnlen(s, (size_t)sp.precision) : strlen(s);
            emit_field(sink, &sp, NULL, 0, s, n, 0, &total);
            break;
        }
        case '%':
            emit(sink, "%", 1, &total);
            break;
        default:
            /* Unknown conversion: show it verbatim rather than guess. */
            emit(sink, conv_start, (size_t)(fmt - conv_start), &total);
            break;
        }
    }

    va_end(args);
    return total;
}

/* ---- Buffer sink: keeps the first size-1 bytes, counts all of them. */
struct buf_sink {
    struct pv_sink base;
    char *buf;
    size_t size;
    size_t len;
};

static void buf_put(struct pv_sink *sink, const char *s, size_t n)
{
    struct buf_sink *b = (struct buf_sink *)sink;
    for (size_t i = 0; i < n; i++, b->len++) {
        if (b->size != 0 && b->len < b->size - 1)
            b->buf[b->len] = s[i];
    }
}

int pv_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
    struct buf_sink b = { .base = { .put = buf_put }, .buf = buf, .size = size, .len = 0 };
    int n = pv_vformat(&b.base, fmt, ap);
    if (size != 0)
        buf[b.len < size - 1 ? b.len : size - 1] = '\0';
    return n;
}

int pv_snprintf(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = pv_vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return n;
}

/* ---- Console sink: batches output so each ring update carries a line. */
struct console_sink {
    struct pv_sink base;
    char buf[128];
    size_t len;
};

static void console_flush(struct console_sink *c)
{
    if (c->len != 0)
        pv_console_write(c->buf, c->len);
    c->len = 0;
}

static void console_put(struct pv_sink *sink, const char *s, size_t n)
{
    struct console_sink *c = (struct console_sink *)sink;
    for (size_t i = 0; i < n; i++) {
        if (c->len == sizeof(c->buf))
            console_flush(c);
        c->buf[c->len++] = s[i];
    }
}

int pv_vprintf(const char *fmt, va_list ap)
{
    struct console_sink c = { .base = { .put = console_put }, .len = 0 };
    int n = pv_vformat(&c.base, fmt, ap);
    console_flush(&c);
    return n;
}

int pv_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = pv_vprintf(fmt, ap);
    va_end(ap);
    return n;
}
