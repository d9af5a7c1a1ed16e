/*
 * smp.c - bringing vCPUs up (VCPUOP_initialise + VCPUOP_up, public/vcpu.h),
 * per-vCPU vcpu_info registration (VCPUOP_register_vcpu_info) and IPIs over
 * event channels (EVTCHNOP_bind_ipi).
 *
 * Each vCPU's kernel GS base points at its struct pv_cpu (percpu.c), so the
 * event dispatcher and pv_smp_processor_id know where they run.  The page
 * allocator and heap are not SMP-safe: start vCPUs and allocate from one
 * vCPU (libpv does all its allocation in pv_vcpu_start, on the caller).
 */
#include <paravirt/smp.h>

#include "internal.h"

extern struct pv_cpu pv_cpus[PV_SMP_MAX_VCPUS];
extern bool pv_smp_gs_ready;
extern char pv_hypervisor_callback[];

static unsigned int nr_vcpus = 1;

/* One page of vcpu_info slots (64 bytes each, 32 of them): a slot never crosses a page, as Xen requires. */
static vcpu_info_t vcpu_info_page[PV_SMP_MAX_VCPUS] __attribute__((aligned(PV_PAGE_SIZE)));
_Static_assert(sizeof(vcpu_info_page) <= PV_PAGE_SIZE, "vcpu_info slots fit one page");

long pv_smp_init(void)
{
    if (pv_smp_gs_ready)
        return nr_vcpus;
    struct pv_cpu *c = &pv_cpus[0];
    c->self = c;
    c->id = 0;
    c->online = 1;
    long rc = HYPERVISOR_set_segment_base(SEGBASE_GS_KERNEL, (unsigned long)c);
    if (rc != 0)
        return rc;
    c->gs_base_kernel = (unsigned long)c;
    pv_barrier();
    PV_WRITE_ONCE(pv_smp_gs_ready, true);

    /* VCPUOP_is_up answers 0/1 for every vCPU the domain has and -ENOENT past max_vcpus. */
    unsigned int n = 1;
    while (n < PV_SMP_MAX_VCPUS && HYPERVISOR_vcpu_op(VCPUOP_is_up, n, NULL) >= 0)
        n++;
    nr_vcpus = n;
    return n;
}

unsigned int pv_smp_nr_vcpus(void)
{
    return nr_vcpus;
}

long pv_vcpu_register_info(unsigned int vcpu)
{
    if (vcpu >= PV_SMP_MAX_VCPUS)
        return -XEN_EINVAL;
    if (pv_cpus[vcpu].vcpu_info != NULL)
        return -XEN_EINVAL;     /* Xen allows one registration per vCPU */
    vcpu_info_t *slot = &vcpu_info_page[vcpu];
    xen_pfn_t mfn = pv_virt_to_mfn(vcpu_info_page);
    if (mfn == PV_INVALID_MFN)
        return -XEN_EFAULT;
    struct vcpu_register_vcpu_info reg = {
        .mfn = mfn,
        .offset = (uint32_t)((unsigned long)slot & (PV_PAGE_SIZE - 1)),
    };
    long rc = HYPERVISOR_vcpu_op(VCPUOP_register_vcpu_info, vcpu, &reg);
    if (rc != 0)
        return rc;
    pv_barrier();
    PV_WRITE_ONCE(pv_cpus[vcpu].vcpu_info, slot);
    return 0;
}

/* The first C code a started vCPU runs (rdi = its number), on its own stack, events masked. */
__attribute__((noreturn, used)) static void secondary_main(unsigned long vcpu)
{
    struct pv_cpu *c = &pv_cpus[vcpu];
    __atomic_store_n(&c->online, 1, __ATOMIC_RELEASE);
    c->fn(c->arg);
    pv_evtchn_disable_upcalls();
    __atomic_store_n(&c->online, 0, __ATOMIC_RELEASE);
    for (;;)
        HYPERVISOR_vcpu_op(VCPUOP_down, (unsigned int)vcpu, NULL);
}

long pv_vcpu_start(unsigned int vcpu, pv_vcpu_fn_t fn, void *arg, size_t stack_pages)
{
    long rc = pv_smp_init();
    if (rc < 0)
        return rc;
    if (vcpu == 0 || vcpu >= nr_vcpus || fn == NULL)
        return vcpu >= nr_vcpus ? -XEN_ENOENT : -XEN_EINVAL;
    struct pv_cpu *c = &pv_cpus[vcpu];
    if (c->stack != NULL)
        return -XEN_EEXIST;
    if (stack_pages == 0)
        stack_pages = 4;

    /* Its vcpu_info first, while it is down (Xen allows that on another vCPU only then). */
    if (c->vcpu_info == NULL && (rc = pv_vcpu_register_info(vcpu)) != 0)
        return rc;
    PV_WRITE_ONCE(c->vcpu_info->evtchn_upcall_mask, 1);

    void *stack = pv_pages_alloc(stack_pages);
    struct vcpu_guest_context *ctx = pv_calloc(1, sizeof(*ctx));
    if (stack == NULL || ctx == NULL) {
        if (stack != NULL)
            pv_pages_free(stack, stack_pages);
        pv_free(ctx);
        return -XEN_ENOMEM;
    }
    c->self = c;
    c->id = vcpu;
    c->fn = fn;
    c->arg = arg;
    c->stack = stack;
    c->stack_pages = stack_pages;
    c->fs_base = c->gs_base_user = 0;
    c->gs_base_kernel = (unsigned long)c;
    c->l4_mfn = pv_current_l4_mfn();

    unsigned long top = (unsigned long)stack + stack_pages * PV_PAGE_SIZE;
    ctx->flags = VGCF_in_kernel;
    ctx->user_regs.rip = (unsigned long)secondary_main;
    ctx->user_regs.rsp = top - 8;           /* as right after a call: the SysV entry alignment */
    ctx->user_regs.rdi = vcpu;
    ctx->user_regs.cs = FLAT_KERNEL_CS;
    ctx->user_regs.ss = FLAT_KERNEL_SS;
    ctx->user_regs.ds = ctx->user_regs.es = FLAT_KERNEL_DS;
    ctx->user_regs.rflags = 0x202;
    ctx->kernel_ss = FLAT_KERNEL_SS;
    ctx->kernel_sp = top;
    ctx->ctrlreg[3] = xen_pfn_to_cr3(pv_current_l4_mfn());
    ctx->event_callback_eip = (unsigned long)pv_hypervisor_callback;
    ctx->gs_base_kernel = (unsigned long)c;
    pv_trampoline_fill_context(ctx);

    rc = HYPERVISOR_vcpu_op(VCPUOP_initialise, vcpu, ctx);
    pv_free(ctx);
    if (rc == 0)
        rc = HYPERVISOR_vcpu_op(VCPUOP_up, vcpu, NULL);
    if (rc != 0) {
        /* An initialised vCPU keeps its context (Xen has no "uninitialise"): keep the stack it points at. */
        if (rc != -XEN_EEXIST && HYPERVISOR_vcpu_op(VCPUOP_is_up, vcpu, NULL) < 0) {
            pv_pages_free(stack, stack_pages);
            c->stack = NULL;
        }
        return rc;
    }
    return 0;
}

long pv_vcpu_wait_down(unsigned int vcpu)
{
    for (;;) {
        long up = HYPERVISOR_vcpu_op(VCPUOP_is_up, vcpu, NULL);
        if (up <= 0)
            return up;
        pv_yield();
    }
}

long pv_smp_ipi_init(pv_evtchn_handler_t handler, void *data)
{
    long rc = pv_smp_init();
    if (rc < 0)
        return rc;
    for (unsigned int v = 0; v < nr_vcpus; v++) {
        if (pv_cpus[v].ipi_port != 0)
            continue;
        evtchn_bind_ipi_t op = { .vcpu = v };
        rc = HYPERVISOR_event_channel_op(EVTCHNOP_bind_ipi, &op);
        if (rc != 0)
            return rc;
        pv_evtchn_note_vcpu(op.port, v);
        if (handler != NULL)
            pv_evtchn_set_handler(op.port, handler, data);
        pv_cpus[v].ipi_port = op.port;
    }
    return 0;
}

evtchn_port_t pv_smp_ipi_port(unsigned int vcpu)
{
    return vcpu < PV_SMP_MAX_VCPUS ? pv_cpus[vcpu].ipi_port : 0;
}

long pv_smp_send_ipi(unsigned int vcpu)
{
    evtchn_port_t port = pv_smp_ipi_port(vcpu);
    if (port == 0)
        return -XEN_EINVAL;
    return pv_evtchn_send(port);
}

void pv_smp_wait(bool (*cond)(void *arg), void *arg)
{
    vcpu_info_t *vi = pv_this_vcpu_info();
    for (;;) {
        /* Mask, then test: an event arriving after the test leaves upcall_pending set, and
         * SCHEDOP_block (which unmasks atomically) returns at once instead of losing it. */
        PV_WRITE_ONCE(vi->evtchn_upcall_mask, 1);
        pv_barrier();
        if (cond(arg)) {
            pv_upcalls_unmask();
            return;
        }
        HYPERVISOR_sched_op(SCHEDOP_block, NULL);
    }
}
