/* Runs x86-64 code snippets natively in user mode for the emulator's differential tests.
 * Layout shared with tests/Paravirt.Cpu.Tests/Differential/NativeRunner.cs. */
#ifndef PV_CPURUNNER_H
#define PV_CPURUNNER_H
#include <stdint.h>

#define PV_CODE_VA    0x10000000UL   /* code page(s), read + execute */
#define PV_CODE_SIZE  0x4000UL
#define PV_SANDBOX_VA 0x10100000UL   /* sandbox data, read + write; followed by an unmapped guard page */
#define PV_SANDBOX_SIZE 0x10000UL

struct pv_state {
    uint64_t gpr[16];        /* rax rcx rdx rbx rsp rbp rsi rdi r8..r15 */
    uint64_t rflags;         /* in: status flags, DF and AC are loaded; out: as the snippet left them */
    uint64_t rip;            /* out: rip at the fault, or the end of the snippet */
    int64_t vector;          /* out: -1 completed, else the exception vector (REG_TRAPNO) */
    uint64_t error_code;     /* out: REG_ERR */
    uint64_t cr2;            /* out: faulting linear address for #PF */
    uint64_t pad;
    uint8_t fx[512] __attribute__((aligned(16)));  /* in and out: fxsave64 image (x87, MXCSR, XMM) */
};

/* 0 on success (state->vector says how the snippet ended); negative on setup failure. */
int pv_run(struct pv_state *state, const uint8_t *code, uint32_t code_len, uint8_t *sandbox);
#endif
