/*
 * paravirt/trampoline.h - the side table of `pvport patch` int3 trampolines.
 *
 * `pvport patch` rewrites a sensitive instruction that has no same-size PV
 * form into int3 (0xcc) followed by nops up to the instruction's length,
 * and records it here: libpv links one table, pv_trampoline_table, into
 * .data with a fixed capacity and count 0, and the patcher fills entries in
 * the ELF file (found through the symbol).  At boot, a table with entries
 * makes libpv install its #BP handler (trap_info vector 3, events masked on
 * entry); the handler finds the entry of the int3's address, performs the PV
 * equivalent of the original instruction on the interrupted registers and
 * resumes at address + length.  Entries are sorted by address.
 *
 * This layout is a contract between guest-sdk/lib/trampoline.c and
 * guest-sdk/Paravirt.PortAnalysis/TrampolineTable.cs (pinned on both sides).
 */
#ifndef PARAVIRT_TRAMPOLINE_H
#define PARAVIRT_TRAMPOLINE_H

#include "abi.h"

#ifndef __ASSEMBLY__
#include <stdint.h>

#define PV_TRAMPOLINE_MAGIC    "PVTRAMP1"   /* 8 bytes, no NUL */
#define PV_TRAMPOLINE_CAPACITY 256

/* pv_trampoline.action: what the handler does instead of the original instruction. */
enum pv_trampoline_action {
    PV_TRAMP_CLI = 1,        /* vcpu_info.evtchn_upcall_mask = 1 */
    PV_TRAMP_STI = 2,        /* mask = 0; pending events are delivered on the way out */
    PV_TRAMP_HLT = 3,        /* SCHEDOP_block (enables events, sleeps until one is pending) */
    PV_TRAMP_POPF = 4,       /* pop rflags: arithmetic flags into rflags, IF into the upcall mask */
    PV_TRAMP_MOV_FROM_CR = 5,/* reg = CR[arg]: CR2 from vcpu_info.arch.cr2, CR3 the current L4 */
    PV_TRAMP_MOV_TO_CR = 6,  /* CR[arg] = reg: CR3 -> MMUEXT_NEW_BASEPTR (arg 3 only) */
    PV_TRAMP_RDMSR = 7,      /* FS/GS bases from libpv's copy, TSC via rdtsc (pvport patches no other MSR) */
    PV_TRAMP_WRMSR = 8,      /* FS/GS bases via set_segment_base (pvport patches no other MSR) */
    PV_TRAMP_INVLPG = 9,     /* MMUEXT_INVLPG_LOCAL on the memory operand's address */
    PV_TRAMP_CACHE_FLUSH = 10, /* wbinvd/invd: nothing (a domU may not flush caches; Xen ignores it) */
    PV_TRAMP_CLTS = 11,      /* HYPERVISOR_fpu_taskswitch(0) */
    PV_TRAMP_MOV_FROM_DR = 12, /* reg = HYPERVISOR_get_debugreg(arg) */
    PV_TRAMP_MOV_TO_DR = 13, /* HYPERVISOR_set_debugreg(arg, reg) */
    PV_TRAMP_CPUID = 14,     /* cpuid without room for the forced-emulation form: the handler runs that form */
};

#define PV_TRAMP_NO_REG 0xff

struct pv_trampoline {
    uint64_t address;        /* the int3: first byte of the original instruction */
    int32_t disp;            /* memory operand: displacement (rip-relative: the absolute address, sign-extended) */
    uint8_t length;          /* original instruction length: execution resumes at address + length */
    uint8_t action;          /* enum pv_trampoline_action */
    uint8_t reg;             /* register operand, x86 numbering (0 rax, 1 rcx, ... 4 rsp, ... 15 r15) */
    uint8_t arg;             /* control/debug register number */
    uint8_t base, index;     /* memory operand registers (PV_TRAMP_NO_REG: none) */
    uint8_t scale;           /* 1, 2, 4 or 8 */
    uint8_t _pad[5];
};
PV_ABI_SIZE(struct pv_trampoline, 24);
PV_ABI_OFFSET(struct pv_trampoline, disp, 8);
PV_ABI_OFFSET(struct pv_trampoline, length, 12);
PV_ABI_OFFSET(struct pv_trampoline, base, 16);

struct pv_trampoline_table {
    char magic[8];
    uint32_t capacity;
    uint32_t count;
    struct pv_trampoline entries[PV_TRAMPOLINE_CAPACITY];
};
PV_ABI_OFFSET(struct pv_trampoline_table, count, 12);
PV_ABI_OFFSET(struct pv_trampoline_table, entries, 16);

extern struct pv_trampoline_table pv_trampoline_table;
/* Trampolines taken since boot (all vCPUs). */
extern unsigned long pv_trampoline_hits;

#endif /* !__ASSEMBLY__ */
#endif /* PARAVIRT_TRAMPOLINE_H */
