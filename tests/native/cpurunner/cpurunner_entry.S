/* pv_enter(struct pv_state *s): load the snippet's registers and jump to PV_CODE_VA; the snippet ends with a
 * jump to pv_exit, which stores them back and returns to pv_enter's caller. */
    .set GPR, 0
    .set RFLAGS, 128
    .set FX, 176
    .set CODE_VA, 0x10000000

    .bss
    .align 8
g_host_rsp: .quad 0
g_state_ptr: .quad 0
g_guest_rax: .quad 0
g_guest_rsp: .quad 0

    .text
    .globl pv_enter
    .type pv_enter, @function
pv_enter:
    push %rbx
    push %rbp
    push %r12
    push %r13
    push %r14
    push %r15
    mov %rsp, g_host_rsp(%rip)
    mov %rdi, g_state_ptr(%rip)
    fxrstor64 FX(%rdi)
    mov RFLAGS(%rdi), %rax
    and $0x40CD5, %rax         /* CF PF AF ZF SF DF OF, AC (alignment checks: Linux runs user mode with CR0.AM) */
    or $0x202, %rax            /* reserved bit 1, IF */
    push %rax
    popfq
    mov 0(%rdi), %rax
    mov 8(%rdi), %rcx
    mov 16(%rdi), %rdx
    mov 24(%rdi), %rbx
    mov 32(%rdi), %rsp
    mov 40(%rdi), %rbp
    mov 48(%rdi), %rsi
    mov 64(%rdi), %r8
    mov 72(%rdi), %r9
    mov 80(%rdi), %r10
    mov 88(%rdi), %r11
    mov 96(%rdi), %r12
    mov 104(%rdi), %r13
    mov 112(%rdi), %r14
    mov 120(%rdi), %r15
    mov 56(%rdi), %rdi
    jmp *g_code_va(%rip)

    .globl pv_exit
    .type pv_exit, @function
pv_exit:
    mov %rax, g_guest_rax(%rip)
    mov %rsp, g_guest_rsp(%rip)
    mov g_host_rsp(%rip), %rsp
    pushfq
    mov g_state_ptr(%rip), %rax
    popq RFLAGS(%rax)
    pushq RFLAGS(%rax)         /* the host runs with AC clear: every access above was aligned */
    andl $~0x40000, (%rsp)
    popfq
    mov %rcx, 8(%rax)
    mov %rdx, 16(%rax)
    mov %rbx, 24(%rax)
    mov %rbp, 40(%rax)
    mov %rsi, 48(%rax)
    mov %rdi, 56(%rax)
    mov %r8, 64(%rax)
    mov %r9, 72(%rax)
    mov %r10, 80(%rax)
    mov %r11, 88(%rax)
    mov %r12, 96(%rax)
    mov %r13, 104(%rax)
    mov %r14, 112(%rax)
    mov %r15, 120(%rax)
    mov g_guest_rax(%rip), %rcx
    mov %rcx, 0(%rax)
    mov g_guest_rsp(%rip), %rcx
    mov %rcx, 32(%rax)
    fxsave64 FX(%rax)
    cld
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %rbp
    pop %rbx
    ret

    .section .rodata
    .align 8
g_code_va: .quad CODE_VA
    .section .note.GNU-stack,"",@progbits
