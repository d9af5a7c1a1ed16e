/*
 * pvport-patch: a bootable guest with raw cpuid instructions that have room
 * for `pvport patch` to rewrite them into Xen's forced-emulation form
 * (ud2; .ascii "xen"; cpuid). Booted unpatched and patched by
 * tests/Paravirt.GuestSdk.Tests/PvportPatchBootTests.cs: both must run to
 * "done" and print exactly the same lines. The patched image executes
 * ud2 + "xen" before each cpuid: a hypervisor that did not emulate the
 * forced form would deliver #UD and, with no trap table, crash the domain.
 * (Plain cpuid reports the host CPU on Xen without CPUID faulting; with
 * faulting, and on Paravirt, both forms answer from the domain's policy,
 * whose leaf 0x40000000 is "XenVMMXenVMM".)
 *
 * cpuid_pad_before: a 5-byte nop, then cpuid (the cpuid stays in place).
 * cpuid_pad_after:  cpuid, then a 5-byte nop (the cpuid moves forward).
 */
#include <paravirt/pv.h>

struct regs { uint32_t a, b, c, d; };

#define NOP5 ".byte 0x0f, 0x1f, 0x44, 0x00, 0x00\n\t"   /* nopl 0x0(%rax,%rax,1) */

__attribute__((noinline, noclone)) static struct regs cpuid_pad_before(uint32_t leaf)
{
    struct regs r;
    __asm__ volatile(NOP5 "cpuid" : "=a"(r.a), "=b"(r.b), "=c"(r.c), "=d"(r.d) : "a"(leaf), "c"(0));
    return r;
}

__attribute__((noinline, noclone)) static struct regs cpuid_pad_after(uint32_t leaf)
{
    struct regs r;
    __asm__ volatile("cpuid\n\t" NOP5 : "=a"(r.a), "=b"(r.b), "=c"(r.c), "=d"(r.d) : "a"(leaf), "c"(0));
    return r;
}

/* Three registers' worth of ASCII, as CPUID's vendor and signature leaves lay them out. */
static void text12(char out[13], uint32_t x, uint32_t y, uint32_t z)
{
    uint32_t w[3] = { x, y, z };
    memcpy(out, w, 12);
    for (int i = 0; i < 12; i++)
        if (out[i] < 0x20 || out[i] > 0x7e)
            out[i] = '.';
    out[12] = '\0';
}

int pv_main(start_info_t *si)
{
    char s[13];
    (void)si;

    struct regs v = cpuid_pad_before(0);
    text12(s, v.b, v.d, v.c);
    pv_printf("pvport-patch: vendor %s\n", s);

    struct regs h = cpuid_pad_before(0x40000000);
    text12(s, h.b, h.c, h.d);
    pv_printf("pvport-patch: leaf 0x40000000 (before): %s\n", s);

    h = cpuid_pad_after(0x40000000);
    text12(s, h.b, h.c, h.d);
    pv_printf("pvport-patch: leaf 0x40000000 (after): %s\n", s);

    pv_printf("pvport-patch: done\n");
    return 0;
}
