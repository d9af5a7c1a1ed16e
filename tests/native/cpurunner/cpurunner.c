/* Native back-end of the emulator's differential harness: map code and a sandbox at fixed addresses, load the
 * register state, run the snippet at CPL 3, capture the final state or the fault (vector, error code, CR2 and the
 * registers at the fault from the signal frame). Single-threaded by contract. */
#define _GNU_SOURCE
#include "cpurunner.h"
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#ifndef BUS_ADRALN
#define BUS_ADRALN 1
#endif

extern void pv_enter(struct pv_state *state);  /* cpurunner_entry.S */
extern void pv_exit(void);

static sigjmp_buf g_jump;
static struct pv_state *g_state;
static uint8_t g_host_fx[512] __attribute__((aligned(16)));
static uint8_t g_altstack[65536] __attribute__((aligned(16)));
static int g_mapped;

static void on_fault(int sig, siginfo_t *info, void *uctx)
{
    /* A snippet may have set EFLAGS.AC and the kernel does not clear it for the handler; the host C code below
     * must not take #AC. */
    __asm__ volatile("pushfq; andq $~0x40000, (%%rsp); popfq" ::: "memory", "cc");
    ucontext_t *uc = uctx;
    greg_t *g = uc->uc_mcontext.gregs;
    struct pv_state *s = g_state;
    static const int order[16] = { REG_RAX, REG_RCX, REG_RDX, REG_RBX, REG_RSP, REG_RBP, REG_RSI, REG_RDI,
                                   REG_R8, REG_R9, REG_R10, REG_R11, REG_R12, REG_R13, REG_R14, REG_R15 };
    for (int i = 0; i < 16; i++) s->gpr[i] = (uint64_t)g[order[i]];
    s->rflags = (uint64_t)g[REG_EFL];
    s->rip = (uint64_t)g[REG_RIP];
    s->vector = g[REG_TRAPNO];
    if (sig == SIGBUS && info->si_code == BUS_ADRALN) s->vector = 17; /* #AC: the kernel's SIGBUS for vector 17 */
    s->error_code = (uint64_t)g[REG_ERR];
    s->cr2 = (uint64_t)g[REG_CR2];
    if (uc->uc_mcontext.fpregs) memcpy(s->fx, uc->uc_mcontext.fpregs, 512);
    siglongjmp(g_jump, 1);
}

static int setup(void)
{
    if (g_mapped) return 0;
    void *c = mmap((void *)PV_CODE_VA, PV_CODE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (c != (void *)PV_CODE_VA) return -1;
    void *d = mmap((void *)PV_SANDBOX_VA, PV_SANDBOX_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (d != (void *)PV_SANDBOX_VA) return -2;
    stack_t ss = { .ss_sp = g_altstack, .ss_size = sizeof g_altstack, .ss_flags = 0 };
    if (sigaltstack(&ss, NULL) != 0) return -3;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGSEGV, &sa, NULL) || sigaction(SIGBUS, &sa, NULL) || sigaction(SIGFPE, &sa, NULL)
        || sigaction(SIGILL, &sa, NULL) || sigaction(SIGTRAP, &sa, NULL)) return -4;
    g_mapped = 1;
    return 0;
}

int pv_run(struct pv_state *state, const uint8_t *code, uint32_t code_len, uint8_t *sandbox)
{
    int r = setup();
    if (r) return r;
    if (code_len + 21 > PV_CODE_SIZE) return -5;
    if (mprotect((void *)PV_CODE_VA, PV_CODE_SIZE, PROT_READ | PROT_WRITE)) return -6;
    uint8_t *p = (uint8_t *)PV_CODE_VA;
    memcpy(p, code, code_len);
    /* jmp qword [rip+d]; int3 padding; .quad pv_exit, 8-byte aligned so that the load does not take #AC when the
     * snippet leaves EFLAGS.AC set */
    uint32_t slot = (code_len + 6 + 7) & ~7u;
    int32_t disp = (int32_t)(slot - (code_len + 6));
    p[code_len] = 0xFF; p[code_len + 1] = 0x25;
    memcpy(p + code_len + 2, &disp, 4);
    memset(p + code_len + 6, 0xCC, slot - (code_len + 6));
    uint64_t target = (uint64_t)(uintptr_t)pv_exit;
    memcpy(p + slot, &target, 8);
    if (mprotect((void *)PV_CODE_VA, PV_CODE_SIZE, PROT_READ | PROT_EXEC)) return -7;
    memcpy((void *)PV_SANDBOX_VA, sandbox, PV_SANDBOX_SIZE);
    g_state = state;
    state->vector = -1;
    state->error_code = 0;
    state->cr2 = 0;
    __asm__ volatile("fxsave64 %0" : "=m"(g_host_fx));
    if (sigsetjmp(g_jump, 1) == 0) {
        pv_enter(state);
        state->rip = PV_CODE_VA + code_len;
    }
    __asm__ volatile("fxrstor64 %0" : : "m"(g_host_fx));
    memcpy(sandbox, (void *)PV_SANDBOX_VA, PV_SANDBOX_SIZE);
    return 0;
}
