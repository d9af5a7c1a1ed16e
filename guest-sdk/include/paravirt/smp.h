/*
 * paravirt/smp.h - SMP guests: vcpu_guest_context (the VCPUOP_initialise
 * argument) and the libpv SMP API (per-vCPU data, starting vCPUs, IPIs).
 *
 * Layout facts from Xen's public/arch-x86/xen.h (struct vcpu_guest_context,
 * x86-64) and public/vcpu.h.  A 64-bit PV vCPU is started with
 * VCPUOP_initialise (registers, trap table, callbacks, kernel stack, page
 * table root in ctrlreg[3] as xen_pfn_to_cr3(mfn)) and VCPUOP_up.
 */
#ifndef PARAVIRT_SMP_H
#define PARAVIRT_SMP_H

#include "pv.h"
#include "traps.h"


/* trap_info as it sits in vcpu_guest_context.trap_ctxt[256]. */
struct vcpu_trap_info {
    uint8_t vector, flags;
    uint16_t cs;
    uint32_t _pad;
    unsigned long address;
};
PV_ABI_SIZE(struct vcpu_trap_info, 16);

/* struct vcpu_guest_context (x86-64). */
struct vcpu_guest_context {
    uint8_t fpu_ctxt[512];              /* FXSAVE image */
    unsigned long flags;                /* VGCF_* (traps.h) */
    struct cpu_user_regs user_regs;
    struct vcpu_trap_info trap_ctxt[256];
    unsigned long ldt_base, ldt_ents;
    unsigned long gdt_frames[16], gdt_ents;
    unsigned long kernel_ss, kernel_sp;
    unsigned long ctrlreg[8];           /* ctrlreg[3]: kernel L4 (xen_pfn_to_cr3), ctrlreg[1]: user L4 */
    unsigned long debugreg[8];
    unsigned long event_callback_eip;
    unsigned long failsafe_callback_eip;
    unsigned long syscall_callback_eip;
    unsigned long vm_assist;
    uint64_t fs_base, gs_base_kernel, gs_base_user;
};
typedef struct vcpu_guest_context vcpu_guest_context_t;
PV_ABI_SIZE(struct vcpu_guest_context, 5168);
PV_ABI_OFFSET(struct vcpu_guest_context, flags, 512);
PV_ABI_OFFSET(struct vcpu_guest_context, user_regs, 520);
PV_ABI_OFFSET(struct vcpu_guest_context, trap_ctxt, 720);
PV_ABI_OFFSET(struct vcpu_guest_context, ldt_base, 4816);
PV_ABI_OFFSET(struct vcpu_guest_context, gdt_frames, 4832);
PV_ABI_OFFSET(struct vcpu_guest_context, kernel_ss, 4968);
PV_ABI_OFFSET(struct vcpu_guest_context, ctrlreg, 4984);
PV_ABI_OFFSET(struct vcpu_guest_context, debugreg, 5048);
PV_ABI_OFFSET(struct vcpu_guest_context, event_callback_eip, 5112);
PV_ABI_OFFSET(struct vcpu_guest_context, vm_assist, 5136);
PV_ABI_OFFSET(struct vcpu_guest_context, fs_base, 5144);
PV_ABI_OFFSET(struct vcpu_guest_context, gs_base_user, 5160);

/* ---- libpv SMP API (lib/smp.c, lib/percpu.c). */

/* vCPUs libpv manages: the legacy shared_info slots. */
#define PV_SMP_MAX_VCPUS XEN_LEGACY_MAX_VCPUS

typedef void (*pv_vcpu_fn_t)(void *arg);

/*
 * Per-vCPU block; the kernel GS base of each vCPU points at its own
 * (HYPERVISOR_set_segment_base(SEGBASE_GS_KERNEL) on vCPU 0,
 * vcpu_guest_context.gs_base_kernel for the others), so %gs:offsetof(id)
 * is the current vCPU's number.
 */
struct pv_cpu {
    struct pv_cpu *self;
    unsigned int id;
    unsigned int online;                /* set by the vCPU itself once it runs */
    vcpu_info_t *vcpu_info;             /* registered vcpu_info, or NULL: the shared_info slot */
    evtchn_port_t ipi_port;             /* 0: none bound */
    pv_vcpu_fn_t fn;
    void *arg;
    void *stack;
    size_t stack_pages;
    /* What this vCPU loaded, for reads that have no hypercall (pvport trampolines): */
    unsigned long fs_base, gs_base_kernel, gs_base_user;
    xen_pfn_t l4_mfn;                   /* 0: start_info.pt_base's frame */
};

/*
 * Sets vCPU 0's GS base to its pv_cpu block and counts the domain's vCPUs
 * (VCPUOP_is_up until -ENOENT).  Idempotent; returns the count or -XEN_E*.
 */
long pv_smp_init(void);
/* vCPUs the domain has (1 before pv_smp_init). */
unsigned int pv_smp_nr_vcpus(void);
/* The vCPU running the caller (0 before pv_smp_init). */
unsigned int pv_smp_processor_id(void);
/* The per-vCPU block of vcpu (NULL past PV_SMP_MAX_VCPUS). */
struct pv_cpu *pv_smp_cpu(unsigned int vcpu);
/* vcpu's vcpu_info: the registered one, else its shared_info slot (NULL if none). */
vcpu_info_t *pv_vcpu_info(unsigned int vcpu);
static inline vcpu_info_t *pv_this_vcpu_info(void) { return pv_vcpu_info(pv_smp_processor_id()); }

/*
 * VCPUOP_register_vcpu_info: moves vcpu's vcpu_info into a libpv page (one
 * slot per vCPU, never crossing a page).  Allowed for the caller's own vCPU
 * or one that is down; once per vCPU (-XEN_EINVAL again, as Xen).
 */
long pv_vcpu_register_info(unsigned int vcpu);

/*
 * Starts vcpu running fn(arg) on a fresh stack of stack_pages pages (0: 4):
 * registers its vcpu_info, loads a vcpu_guest_context (same page tables,
 * the libpv event callback, GS base = its pv_cpu block, the trap table libpv
 * installs for pvport trampolines) and brings it up.  The vCPU starts with
 * events masked; when fn returns it takes itself down (VCPUOP_down).
 * -XEN_EEXIST if vcpu was started before, -XEN_ENOMEM without stack pages.
 */
long pv_vcpu_start(unsigned int vcpu, pv_vcpu_fn_t fn, void *arg, size_t stack_pages);
/* Waits (yielding) until vcpu is down again; 0 or -XEN_E* from VCPUOP_is_up. */
long pv_vcpu_wait_down(unsigned int vcpu);

/*
 * IPIs: binds one IPI event channel per vCPU (EVTCHNOP_bind_ipi, called on
 * any vCPU for any vCPU) and runs handler(from_port, data) on the target
 * vCPU when it dispatches events (from its upcall, see
 * pv_evtchn_enable_upcalls, or pv_evtchn_dispatch).  Call once, on vCPU 0,
 * before starting the others.
 */
long pv_smp_ipi_init(pv_evtchn_handler_t handler, void *data);
long pv_smp_send_ipi(unsigned int vcpu);
evtchn_port_t pv_smp_ipi_port(unsigned int vcpu);

/*
 * Sleeps until cond(arg) holds: masks upcalls on this vCPU, tests cond, and
 * if false blocks in SCHEDOP_block (which unmasks upcalls atomically, as Xen
 * documents, so an event between the test and the block is not lost); the
 * upcall runs the handlers, then cond is tested again.  Returns with upcalls
 * unmasked.  Needs the event callback (pv_evtchn_enable_upcalls on vCPU 0;
 * pv_vcpu_start registers it for the others).
 */
void pv_smp_wait(bool (*cond)(void *arg), void *arg);

#endif /* PARAVIRT_SMP_H */
