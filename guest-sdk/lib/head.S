/*
 * head.S - boot glue of an SDK-built PV kernel: the Xen ELF notes, the
 * entry point, the hypercall page and the boot stack.
 *
 * Entry contract (Xen x86-64 PV, see the start-of-day layout in xen.h):
 * the builder jumps to XEN_ELFNOTE_ENTRY in 64-bit mode with
 *   rsi = VIRTUAL address of start_info,
 *   rsp = top of the builder's bootstrap stack (inside the initial mapping),
 * event delivery masked and the initial page tables loaded.
 */
#include <paravirt/elfnote.h>
#include <paravirt/layout.h>
#include <paravirt/xen.h>

/*
 * One ELF note: namesz, descsz, type, "Xen\0", descriptor; name and
 * descriptor each padded to 4 bytes (ELF64 notes from Xen's loader use
 * 4-byte alignment like Linux's).
 */
.macro xen_note_begin type:req
    .pushsection .note.Xen, "a", @note
    .balign 4
    .long 2f - 1f           /* namesz, including the NUL */
    .long 4f - 3f           /* descsz */
    .long \type
1:  .asciz XEN_ELFNOTE_NAME
2:  .balign 4
3:
.endm

.macro xen_note_end
4:  .balign 4
    .popsection
.endm

.macro xen_note_str type:req, value:req
    xen_note_begin \type
    .asciz "\value"
    xen_note_end
.endm

/* Numeric notes are 8 bytes: addresses are 64-bit. */
.macro xen_note_quad type:req, value:req
    xen_note_begin \type
    .quad \value
    xen_note_end
.endm

    xen_note_str  XEN_ELFNOTE_GUEST_OS,      Paravirt
    xen_note_str  XEN_ELFNOTE_GUEST_VERSION, 0.1
    xen_note_str  XEN_ELFNOTE_XEN_VERSION,   xen-3.0
    xen_note_str  XEN_ELFNOTE_LOADER,        generic
    xen_note_quad XEN_ELFNOTE_VIRT_BASE,     PV_VIRT_BASE
    xen_note_quad XEN_ELFNOTE_PADDR_OFFSET,  PV_PADDR_OFFSET
    xen_note_quad XEN_ELFNOTE_ENTRY,         _start
    xen_note_quad XEN_ELFNOTE_HYPERCALL_PAGE, hypercall_page
    /*
     * No XEN_ELFNOTE_FEATURES: the runtime needs no optional feature (it
     * never touches page tables or descriptor tables).
     */

/* ---- Entry point: first byte of the image (the linker script puts
 * .text.boot at PV_VIRT_BASE). */
    .section .text.boot, "ax", @progbits
    .globl _start
    .type _start, @function
_start:
    cld
    movq    %rsi, %rbx              /* start_info: survives the .bss clear */

    /* The builder zero-fills memsz beyond filesz, but do not rely on it. */
    leaq    __bss_start(%rip), %rdi
    leaq    __bss_end(%rip), %rcx
    subq    %rdi, %rcx
    xorl    %eax, %eax
    rep stosb

    /* Own stack: the builder's one page is sized for nothing in particular. */
    leaq    pv_boot_stack_top(%rip), %rsp
    xorl    %ebp, %ebp              /* terminates frame-pointer walks */

    movq    %rbx, %rdi
    call    pv_boot                 /* does not return */
1:  ud2                             /* unreachable: fault -> domain crash */
    jmp     1b
    .size _start, . - _start

/*
 * ---- Event upcall entry (registered by pv_evtchn_enable_upcalls with
 * CALLBACKTYPE_event).  Xen's 64-bit bounce frame on the kernel stack is
 * rcx, r11 (the values the guest had), then rip, cs, rflags, rsp, ss; event
 * delivery is masked.  Every caller-saved register is preserved around the
 * C dispatcher, and the return goes through HYPERVISOR_iret, whose stub
 * wants [flags, rip, cs, rflags, rsp, ss] on the stack and restores the
 * upcall mask from rflags.IF, re-delivering anything that arrived meanwhile.
 */
    .text
    .globl pv_hypervisor_callback
    .type pv_hypervisor_callback, @function
pv_hypervisor_callback:
    popq    %rcx
    popq    %r11
    pushq   %rax
    pushq   %rcx
    pushq   %rdx
    pushq   %rsi
    pushq   %rdi
    pushq   %r8
    pushq   %r9
    pushq   %r10
    pushq   %r11
    pushq   %rbp
    movq    %rsp, %rbp
    andq    $-16, %rsp              /* SysV alignment for the C call */
    cld
    call    pv_evtchn_upcall
    movq    %rbp, %rsp
    popq    %rbp
    popq    %r11
    popq    %r10
    popq    %r9
    popq    %r8
    popq    %rdi
    popq    %rsi
    popq    %rdx
    popq    %rcx
    popq    %rax
    pushq   $0                      /* iret flags: not from a syscall */
    jmp     hypercall_page + __HYPERVISOR_iret * XEN_HYPERCALL_STUB_SIZE
    .size pv_hypervisor_callback, . - pv_hypervisor_callback

/*
 * ---- The hypercall page, announced by XEN_ELFNOTE_HYPERCALL_PAGE; the
 * builder overwrites it with 128 32-byte stubs.  It starts out as int3 so a
 * call into an unfilled page traps instead of running garbage.
 */
    .section .text.hypercall_page, "ax", @progbits
    .balign PV_PAGE_SIZE
    .globl hypercall_page
    .type hypercall_page, @object
hypercall_page:
    .fill PV_PAGE_SIZE, 1, 0xcc
    .size hypercall_page, PV_PAGE_SIZE

/* ---- Boot stack, 16-byte aligned at the top as the SysV ABI wants. */
    .section .bss.pv_boot_stack, "aw", @nobits
    .balign PV_PAGE_SIZE
    .globl pv_boot_stack
pv_boot_stack:
    .skip PV_BOOT_STACK_SIZE
    .globl pv_boot_stack_top
pv_boot_stack_top:

    .section .note.GNU-stack, "", @progbits
