/*
 * kernel.lds.S - link map of an SDK-built PV kernel (run through cpp).
 *
 * Three PT_LOAD segments from PV_VIRT_BASE upwards (text R-X, rodata R--,
 * data+bss RW-) and a PT_NOTE segment covering the Xen notes, which is
 * where Xen's loader (libelf) looks for them.  Segment physical addresses
 * are image-relative (AT(vaddr - PV_VIRT_BASE)); see paravirt/layout.h.
 */
#include <paravirt/layout.h>

OUTPUT_FORMAT("elf64-x86-64")
OUTPUT_ARCH(i386:x86-64)
ENTRY(_start)
EXTERN(_start hypercall_page)

PHDRS
{
    text   PT_LOAD FLAGS(5);    /* R X */
    rodata PT_LOAD FLAGS(4);    /* R   */
    data   PT_LOAD FLAGS(6);    /* R W */
    note   PT_NOTE FLAGS(4);
}

SECTIONS
{
    . = PV_VIRT_BASE;
    _text = .;

    .text : AT(ADDR(.text) - PV_VIRT_BASE)
    {
        KEEP(*(.text.boot))             /* _start == PV_VIRT_BASE */
        . = ALIGN(PV_PAGE_SIZE);
        KEEP(*(.text.hypercall_page))   /* PV_VIRT_BASE + 4 KiB */
        *(.text .text.*)
    } :text
    _etext = .;

    . = ALIGN(PV_PAGE_SIZE);
    .note.Xen : AT(ADDR(.note.Xen) - PV_VIRT_BASE)
    {
        KEEP(*(.note.Xen))
    } :rodata :note

    .rodata : AT(ADDR(.rodata) - PV_VIRT_BASE)
    {
        *(.rodata .rodata.*)
    } :rodata

    . = ALIGN(PV_PAGE_SIZE);
    .data : AT(ADDR(.data) - PV_VIRT_BASE)
    {
        *(.data .data.*)
    } :data

    .bss : AT(ADDR(.bss) - PV_VIRT_BASE)
    {
        __bss_start = .;
        *(.bss .bss.*)
        *(COMMON)
        . = ALIGN(8);
        __bss_end = .;
    } :data
    _end = .;

    /DISCARD/ :
    {
        *(.note.gnu.*)
        *(.note.GNU-stack)
        *(.comment)
        *(.eh_frame .eh_frame_hdr)
        *(.interp .dynamic .dynsym .dynstr .hash .gnu.hash)
    }
}
