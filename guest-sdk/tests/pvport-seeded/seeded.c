/*
 * pvport-seeded: a kernel image for `pvport scan`, never booted. Each
 * seed_<name> function holds exactly one sensitive instruction at offset 2
 * (after a 2-byte "xor %eax, %eax"), so the analyser's findings can be
 * checked by function and offset. The rest of the image is a normal SDK
 * kernel (libpv: notes, _start, runtime), which must not add findings.
 *
 * Also seeded, and NOT findings:
 *   pv_cpuid        the forced-emulation cpuid (ud2; "xen"; cpuid), already
 *                   in its PV form; decoded naively, "xen" would read as
 *                   js + outsb;
 *   seed_data       a data object in .text whose bytes are cli, sti, hlt.
 * seed_forced_rdtsc misuses the forced-emulation prefix (Xen only emulates
 * cpuid behind it) and is a finding.
 *
 * The table in tests/Paravirt.GuestSdk.Tests/PvportSeededTests.cs lists
 * what pvport must report; keep the two in step.
 */
#include <paravirt/pv.h>

#define SEED(name, insn)                                   \
    ".globl seed_" #name "\n"                              \
    ".type seed_" #name ", @function\n"                    \
    "seed_" #name ":\n"                                    \
    "    xorl %eax, %eax\n"                                \
    "    " insn "\n"                                       \
    "    ret\n"                                            \
    ".size seed_" #name ", . - seed_" #name "\n"

__asm__(
    ".pushsection .text, \"ax\", @progbits\n"
    SEED(cli, "cli")
    SEED(sti, "sti")
    SEED(popf, "popfq")
    SEED(pushf, "pushfq")
    SEED(hlt, "hlt")
    SEED(mwait, "mwait")
    SEED(in, "inb %dx, %al")
    SEED(out, "outb %al, %dx")
    SEED(ins, "insb")
    SEED(outs, "outsb")
    SEED(lgdt, "lgdt (%rdi)")
    SEED(lidt, "lidt (%rdi)")
    SEED(lldt, "lldt %ax")
    SEED(ltr, "ltr %ax")
    SEED(sgdt, "sgdt (%rdi)")
    SEED(sidt, "sidt (%rdi)")
    SEED(sldt, "sldt %eax")
    SEED(str, "str %eax")
    SEED(smsw, "smsw %eax")
    SEED(lmsw, "lmsw %ax")
    SEED(mov_to_cr0, "mov %rax, %cr0")
    SEED(mov_from_cr0, "mov %cr0, %rax")
    SEED(mov_from_cr2, "mov %cr2, %rax")
    SEED(mov_to_cr3, "mov %rax, %cr3")
    SEED(mov_from_cr3, "mov %cr3, %rax")
    SEED(mov_to_cr4, "mov %rax, %cr4")
    SEED(mov_to_cr8, "mov %rax, %cr8")
    SEED(mov_to_dr7, "mov %rax, %db7")
    SEED(mov_from_dr6, "mov %db6, %rax")
    SEED(rdmsr, "rdmsr")
    SEED(wrmsr, "wrmsr")
    SEED(invlpg, "invlpg (%rdi)")
    SEED(invpcid, "invpcid (%rdi), %rax")
    SEED(wbinvd, "wbinvd")
    SEED(invd, "invd")
    SEED(swapgs, "swapgs")
    SEED(wrgsbase, "wrgsbase %rax")
    SEED(iretq, "iretq")
    SEED(sysretq, "sysretq")
    SEED(sysexit, "sysexitq")
    SEED(sysenter, "sysenter")
    SEED(syscall, "syscall")
    SEED(cpuid, "cpuid")
    SEED(rdtsc, "rdtsc")
    SEED(rdtscp, "rdtscp")
    SEED(rdpmc, "rdpmc")
    SEED(clts, "clts")
    SEED(xsetbv, "xsetbv")
    SEED(xsaves, "xsaves (%rdi)")
    SEED(stac, "stac")
    SEED(vmcall, "vmcall")
    SEED(forced_rdtsc, "ud2; .ascii \"xen\"; rdtsc")
    ".globl pv_cpuid\n"
    ".type pv_cpuid, @function\n"
    "pv_cpuid:\n"
    "    ud2; .ascii \"xen\"; cpuid\n"
    "    ret\n"
    ".size pv_cpuid, . - pv_cpuid\n"
    ".globl seed_data\n"
    ".type seed_data, @object\n"
    "seed_data:\n"
    "    .byte 0xfa, 0xfb, 0xf4, 0x0f, 0x01, 0xf8\n"
    ".size seed_data, . - seed_data\n"
    ".popsection\n");

int pv_main(start_info_t *si)
{
    (void)si;
    pv_printf("pvport-seeded: this kernel is for pvport scan, not for booting\n");
    return 1;
}
