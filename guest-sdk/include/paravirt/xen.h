/*
 * paravirt/xen.h - core of the PV guest interface: hypercall numbers,
 * start-of-day information, the shared info page and per-vCPU info.
 *
 * Facts from Xen's public/xen.h (x86-64 layouts); the structures are
 * layout-compatible with it and pinned below.
 */
#ifndef PARAVIRT_XEN_H
#define PARAVIRT_XEN_H

#include "abi.h"
#include "arch-x86_64.h"

/* ---- Hypercall numbers (index into the hypercall page, 32 bytes each). */
#define __HYPERVISOR_set_trap_table                 0
#define __HYPERVISOR_mmu_update                     1
#define __HYPERVISOR_set_gdt                        2
#define __HYPERVISOR_stack_switch                   3
#define __HYPERVISOR_set_callbacks                  4
#define __HYPERVISOR_fpu_taskswitch                 5
#define __HYPERVISOR_sched_op_compat                6  /* superseded by 29 */
#define __HYPERVISOR_platform_op                    7
#define __HYPERVISOR_set_debugreg                   8
#define __HYPERVISOR_get_debugreg                   9
#define __HYPERVISOR_update_descriptor             10
/* 11 is unused */
#define __HYPERVISOR_memory_op                     12
#define __HYPERVISOR_multicall                     13
#define __HYPERVISOR_update_va_mapping             14
#define __HYPERVISOR_set_timer_op                  15
#define __HYPERVISOR_event_channel_op_compat       16  /* superseded by 32 */
#define __HYPERVISOR_xen_version                   17
#define __HYPERVISOR_console_io                    18
#define __HYPERVISOR_physdev_op_compat             19  /* superseded by 33 */
#define __HYPERVISOR_grant_table_op                20
#define __HYPERVISOR_vm_assist                     21
#define __HYPERVISOR_update_va_mapping_otherdomain 22
#define __HYPERVISOR_iret                          23
#define __HYPERVISOR_vcpu_op                       24
#define __HYPERVISOR_set_segment_base              25
#define __HYPERVISOR_mmuext_op                     26
#define __HYPERVISOR_xsm_op                        27
#define __HYPERVISOR_nmi_op                        28
#define __HYPERVISOR_sched_op                      29
#define __HYPERVISOR_callback_op                   30
#define __HYPERVISOR_xenoprof_op                   31
#define __HYPERVISOR_event_channel_op              32
#define __HYPERVISOR_physdev_op                    33
#define __HYPERVISOR_hvm_op                        34
#define __HYPERVISOR_sysctl                        35
#define __HYPERVISOR_domctl                        36
#define __HYPERVISOR_kexec_op                      37
#define __HYPERVISOR_tmem_op                       38
#define __HYPERVISOR_argo_op                       39
#define __HYPERVISOR_xenpmu_op                     40
#define __HYPERVISOR_dm_op                         41
#define __HYPERVISOR_hypfs_op                      42
#define __HYPERVISOR_arch_0                        48
#define __HYPERVISOR_arch_1                        49
#define __HYPERVISOR_arch_2                        50
#define __HYPERVISOR_arch_3                        51
#define __HYPERVISOR_arch_4                        52
#define __HYPERVISOR_arch_5                        53
#define __HYPERVISOR_arch_6                        54
#define __HYPERVISOR_arch_7                        55
/* x86 uses arch_0 for machine-check operations. */
#define __HYPERVISOR_mca                           __HYPERVISOR_arch_0

/* Each hypercall page entry is a 32-byte stub. */
#define XEN_HYPERCALL_STUB_SIZE 32

/* ---- Virtual interrupts (V. = per vCPU, G. = global). */
#define VIRQ_TIMER       0  /* V. */
#define VIRQ_DEBUG       1  /* V. */
#define VIRQ_CONSOLE     2  /* G. (dom0) emergency console input */
#define VIRQ_DOM_EXC     3  /* G. (dom0) a domain needs attention */
#define VIRQ_TBUF        4  /* G. (dom0) */
#define VIRQ_DEBUGGER    6  /* G. (dom0) */
#define VIRQ_XENOPROF    7  /* V. */
#define VIRQ_CON_RING    8  /* G. (dom0) hypervisor console ring */
#define VIRQ_PCPU_STATE  9  /* G. (dom0) */
#define VIRQ_MEM_EVENT  10  /* G. (dom0) */
#define VIRQ_ARGO       11  /* G. */
#define VIRQ_ENOMEM     12  /* G. (dom0) */
#define VIRQ_XENPMU     13  /* V. */
#define VIRQ_ARCH_0     16
#define VIRQ_ARCH_1     17
#define VIRQ_ARCH_2     18
#define VIRQ_ARCH_3     19
#define VIRQ_ARCH_4     20
#define VIRQ_ARCH_5     21
#define VIRQ_ARCH_6     22
#define VIRQ_ARCH_7     23
#define NR_VIRQS        24

/* ---- mmu_update sub-commands live in ptr[1:0]. */
#define MMU_NORMAL_PT_UPDATE      0
#define MMU_MACHPHYS_UPDATE       1
#define MMU_PT_UPDATE_PRESERVE_AD 2

/* ---- mmuext_op commands. */
#define MMUEXT_PIN_L1_TABLE        0
#define MMUEXT_PIN_L2_TABLE        1
#define MMUEXT_PIN_L3_TABLE        2
#define MMUEXT_PIN_L4_TABLE        3
#define MMUEXT_UNPIN_TABLE         4
#define MMUEXT_NEW_BASEPTR         5
#define MMUEXT_TLB_FLUSH_LOCAL     6
#define MMUEXT_INVLPG_LOCAL        7
#define MMUEXT_TLB_FLUSH_MULTI     8
#define MMUEXT_INVLPG_MULTI        9
#define MMUEXT_TLB_FLUSH_ALL      10
#define MMUEXT_INVLPG_ALL         11
#define MMUEXT_FLUSH_CACHE        12
#define MMUEXT_SET_LDT            13
#define MMUEXT_NEW_USER_BASEPTR   15
#define MMUEXT_CLEAR_PAGE         16
#define MMUEXT_COPY_PAGE          17
#define MMUEXT_FLUSH_CACHE_GLOBAL 18
#define MMUEXT_MARK_SUPER         19
#define MMUEXT_UNMARK_SUPER       20

/* ---- update_va_mapping flags. */
#define UVMF_NONE           PV_ULONG(0)
#define UVMF_TLB_FLUSH      PV_ULONG(1)
#define UVMF_INVLPG         PV_ULONG(2)
#define UVMF_FLUSHTYPE_MASK PV_ULONG(3)
#define UVMF_MULTI          PV_ULONG(0)
#define UVMF_LOCAL          PV_ULONG(0)
#define UVMF_ALL            PV_ULONG(4)

/* ---- console_io commands (hypervisor's own console, not the PV ring). */
#define CONSOLEIO_write 0
#define CONSOLEIO_read  1

/* ---- vm_assist. */
#define VMASST_CMD_enable                0
#define VMASST_CMD_disable               1
#define VMASST_TYPE_4gb_segments         0
#define VMASST_TYPE_4gb_segments_notify  1
#define VMASST_TYPE_writable_pagetables  2
#define VMASST_TYPE_pae_extended_cr3     3
#define VMASST_TYPE_architectural_iopl   4
#define VMASST_TYPE_runstate_update_flag 5
#define VMASST_TYPE_m2p_strict           32

/* ---- Domain ids. */
#define DOMID_FIRST_RESERVED PV_UINT(0x7FF0)
#define DOMID_SELF           PV_UINT(0x7FF0)
#define DOMID_IO             PV_UINT(0x7FF1)
#define DOMID_XEN            PV_UINT(0x7FF2)
#define DOMID_COW            PV_UINT(0x7FF3)
#define DOMID_INVALID        PV_UINT(0x7FF4)
#define DOMID_IDLE           PV_UINT(0x7FFF)

/* ---- start_info.flags. */
#define SIF_PRIVILEGED      (1 << 0)  /* domain is privileged */
#define SIF_INITDOMAIN      (1 << 1)  /* this is dom0 */
#define SIF_MULTIBOOT_MOD   (1 << 2)  /* mod_start is a multiboot module */
#define SIF_MOD_START_PFN   (1 << 3)  /* mod_start is a PFN, not a VA */
#define SIF_VIRT_P2M_4TOOLS (1 << 4)
#define SIF_PM_MASK         (0xFF << 8)

#define MAX_GUEST_CMDLINE 1024

/* start_info.magic begins with this, e.g. "xen-3.0-x86_64". */
#define XEN_START_INFO_MAGIC_PREFIX "xen-"

#ifndef __ASSEMBLY__

typedef uint16_t domid_t;

struct mmu_update {
    uint64_t ptr;   /* machine address of the PTE, low 2 bits = MMU_* */
    uint64_t val;
};
typedef struct mmu_update mmu_update_t;
PV_ABI_SIZE(struct mmu_update, 16);

struct mmuext_op {
    unsigned int cmd;
    union {
        xen_pfn_t     mfn;
        unsigned long linear_addr;
    } arg1;
    union {
        unsigned int nr_ents;
        const void  *vcpumask;      /* a guest handle: one pointer */
        xen_pfn_t    src_mfn;
    } arg2;
};
typedef struct mmuext_op mmuext_op_t;
PV_ABI_SIZE(struct mmuext_op, 24);
PV_ABI_OFFSET(struct mmuext_op, arg1, 8);
PV_ABI_OFFSET(struct mmuext_op, arg2, 16);

struct multicall_entry {
    xen_ulong_t op, result;
    xen_ulong_t args[6];
};
typedef struct multicall_entry multicall_entry_t;
PV_ABI_SIZE(struct multicall_entry, 64);
PV_ABI_OFFSET(struct multicall_entry, args, 16);

/*
 * Time base published per vCPU.  'version' is odd while Xen updates the
 * record: read it, read the fields, re-read it and retry on change.
 */
struct vcpu_time_info {
    uint32_t version;
    uint32_t pad0;
    uint64_t tsc_timestamp;     /* TSC at last update */
    uint64_t system_time;       /* ns since boot at tsc_timestamp */
    uint32_t tsc_to_system_mul; /* ns = ((tsc delta << shift) * mul) >> 32 */
    int8_t   tsc_shift;
    uint8_t  flags;
    uint8_t  pad1[2];
};
typedef struct vcpu_time_info vcpu_time_info_t;
PV_ABI_SIZE(struct vcpu_time_info, 32);
PV_ABI_OFFSET(struct vcpu_time_info, tsc_timestamp, 8);
PV_ABI_OFFSET(struct vcpu_time_info, system_time, 16);
PV_ABI_OFFSET(struct vcpu_time_info, tsc_to_system_mul, 24);
PV_ABI_OFFSET(struct vcpu_time_info, tsc_shift, 28);
PV_ABI_OFFSET(struct vcpu_time_info, flags, 29);

/* vcpu_time_info.flags */
#define XEN_PVCLOCK_TSC_STABLE_BIT    (1 << 0)  /* one TSC for all vCPUs, monotonic */
#define XEN_PVCLOCK_GUEST_STOPPED     (1 << 1)  /* the guest was paused */

struct vcpu_info {
    uint8_t     evtchn_upcall_pending;  /* set by Xen, cleared by guest */
    uint8_t     evtchn_upcall_mask;     /* guest's "interrupt disable" */
    xen_ulong_t evtchn_pending_sel;     /* one bit per evtchn_pending word */
    struct arch_vcpu_info  arch;
    struct vcpu_time_info  time;
};
typedef struct vcpu_info vcpu_info_t;
PV_ABI_SIZE(struct vcpu_info, 64);
PV_ABI_OFFSET(struct vcpu_info, evtchn_upcall_mask, 1);
PV_ABI_OFFSET(struct vcpu_info, evtchn_pending_sel, 8);
PV_ABI_OFFSET(struct vcpu_info, arch, 16);
PV_ABI_OFFSET(struct vcpu_info, time, 32);

/* The shared info page (start_info.shared_info is its MACHINE address). */
struct shared_info {
    struct vcpu_info vcpu_info[XEN_LEGACY_MAX_VCPUS];
    /* 2-level event channels: one bit per port, 64 words of 64 bits. */
    xen_ulong_t evtchn_pending[sizeof(xen_ulong_t) * 8];
    xen_ulong_t evtchn_mask[sizeof(xen_ulong_t) * 8];
    /* Wall clock at system time 0; same version protocol as vcpu_time_info. */
    uint32_t wc_version;
    uint32_t wc_sec;
    uint32_t wc_nsec;
    uint32_t wc_sec_hi;
    struct arch_shared_info arch;
};
typedef struct shared_info shared_info_t;
PV_ABI_SIZE(struct shared_info, 3136);
PV_ABI_OFFSET(struct shared_info, evtchn_pending, 2048);
PV_ABI_OFFSET(struct shared_info, evtchn_mask, 2560);
PV_ABI_OFFSET(struct shared_info, wc_version, 3072);
PV_ABI_OFFSET(struct shared_info, wc_sec, 3076);
PV_ABI_OFFSET(struct shared_info, wc_nsec, 3080);
PV_ABI_OFFSET(struct shared_info, wc_sec_hi, 3084);
PV_ABI_OFFSET(struct shared_info, arch, 3088);

/*
 * Start-of-day information.  The builder passes its VIRTUAL address in rsi
 * at the entry point.  Frame numbers here are MACHINE frames; mfn_list is
 * the initial p2m: mfn_list[pfn] = mfn for pfn < nr_pages.
 *
 * The initial virtual region is a 1:1 map of the first pseudo-physical
 * frames starting at the kernel's VIRT_BASE, and holds in order: kernel,
 * module, p2m list, start_info, xenstore ring, console ring, bootstrap page
 * tables, bootstrap stack; each 4 KiB aligned.
 */
struct start_info {
    char          magic[32];        /* "xen-<version>-<platform>" */
    unsigned long nr_pages;         /* pages allocated to the domain */
    unsigned long shared_info;      /* MACHINE address of shared_info */
    uint32_t      flags;            /* SIF_* */
    xen_pfn_t     store_mfn;        /* MACHINE frame of the xenstore ring */
    uint32_t      store_evtchn;
    union {
        struct {
            xen_pfn_t mfn;          /* MACHINE frame of the console ring */
            uint32_t  evtchn;
        } domU;
        struct {
            uint32_t info_off;      /* offset of dom0_vga_console_info */
            uint32_t info_size;
        } dom0;
    } console;
    /* Only valid on initial boot, not after resume: */
    unsigned long pt_base;          /* VIRTUAL address of the L4 table */
    unsigned long nr_pt_frames;
    unsigned long mfn_list;         /* VIRTUAL address of the p2m list */
    unsigned long mod_start;        /* VIRTUAL address (or PFN) of module */
    unsigned long mod_len;
    int8_t        cmd_line[MAX_GUEST_CMDLINE];
    unsigned long first_p2m_pfn;
    unsigned long nr_p2m_frames;
};
typedef struct start_info start_info_t;
PV_ABI_SIZE(struct start_info, 1168);
PV_ABI_OFFSET(struct start_info, magic, 0);
PV_ABI_OFFSET(struct start_info, nr_pages, 32);
PV_ABI_OFFSET(struct start_info, shared_info, 40);
PV_ABI_OFFSET(struct start_info, flags, 48);
PV_ABI_OFFSET(struct start_info, store_mfn, 56);
PV_ABI_OFFSET(struct start_info, store_evtchn, 64);
PV_ABI_OFFSET(struct start_info, console.domU.mfn, 72);
PV_ABI_OFFSET(struct start_info, console.domU.evtchn, 80);
PV_ABI_OFFSET(struct start_info, console.dom0.info_off, 72);
PV_ABI_OFFSET(struct start_info, console.dom0.info_size, 76);
PV_ABI_OFFSET(struct start_info, pt_base, 88);
PV_ABI_OFFSET(struct start_info, nr_pt_frames, 96);
PV_ABI_OFFSET(struct start_info, mfn_list, 104);
PV_ABI_OFFSET(struct start_info, mod_start, 112);
PV_ABI_OFFSET(struct start_info, mod_len, 120);
PV_ABI_OFFSET(struct start_info, cmd_line, 128);
PV_ABI_OFFSET(struct start_info, first_p2m_pfn, 1152);
PV_ABI_OFFSET(struct start_info, nr_p2m_frames, 1160);

typedef uint8_t xen_domain_handle_t[16];

/* Guest handles for primitive types used by the hypercalls in this SDK. */
__DEFINE_XEN_GUEST_HANDLE(char, char);
__DEFINE_XEN_GUEST_HANDLE(uchar, unsigned char);
__DEFINE_XEN_GUEST_HANDLE(uint, unsigned int);
__DEFINE_XEN_GUEST_HANDLE(void, void);
__DEFINE_XEN_GUEST_HANDLE(xen_pfn_t, xen_pfn_t);
__DEFINE_XEN_GUEST_HANDLE(xen_ulong_t, xen_ulong_t);
__DEFINE_XEN_GUEST_HANDLE(uint64_t, uint64_t);
PV_ABI_SIZE(XEN_GUEST_HANDLE(void), 8);

#endif /* !__ASSEMBLY__ */

#endif /* PARAVIRT_XEN_H */
