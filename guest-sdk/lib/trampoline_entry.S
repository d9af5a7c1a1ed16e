/*
 * trampoline_entry.S - the #BP entry libpv installs when `pvport patch`
 * left int3 trampolines in the image (see paravirt/trampoline.h).
 *
 * Xen's 64-bit bounce frame for a trap without error code is rcx, r11, rip,
 * cs, rflags, rsp, ss (rip already past the int3).  The general registers
 * are saved below it as struct pv_trampoline_frame (lowest address first:
 * r15 ... rax, then the hardware part), the C handler edits that frame, and
 * HYPERVISOR_iret returns through it: the upcall mask becomes !rflags.IF.
 */
#include <paravirt/layout.h>
#include <paravirt/xen.h>

    .text
    .globl pv_trampoline_entry
    .type pv_trampoline_entry, @function
pv_trampoline_entry:
    popq    %rcx
    popq    %r11
    pushq   %rax
    pushq   %rbx
    pushq   %rcx
    pushq   %rdx
    pushq   %rsi
    pushq   %rdi
    pushq   %rbp
    pushq   %r8
    pushq   %r9
    pushq   %r10
    pushq   %r11
    pushq   %r12
    pushq   %r13
    pushq   %r14
    pushq   %r15
    movq    %rsp, %rdi
    movq    %rsp, %rbx
    andq    $-16, %rsp              /* SysV alignment for the C call */
    cld
    call    pv_trampoline_trap
    movq    %rbx, %rsp
    popq    %r15
    popq    %r14
    popq    %r13
    popq    %r12
    popq    %r11
    popq    %r10
    popq    %r9
    popq    %r8
    popq    %rbp
    popq    %rdi
    popq    %rsi
    popq    %rdx
    popq    %rcx
    popq    %rbx
    popq    %rax
    pushq   $0                      /* iret flags: not from a syscall */
    jmp     hypercall_page + __HYPERVISOR_iret * XEN_HYPERCALL_STUB_SIZE
    .size pv_trampoline_entry, . - pv_trampoline_entry

    .section .note.GNU-stack, "", @progbits
