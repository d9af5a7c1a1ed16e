/*
 * smp - guest-side SMP test kernel. vCPU 0 brings up vCPUs 1-3 with
 * VCPUOP_initialise + VCPUOP_up (each on its own stack, same page tables).
 * Every vCPU binds an IPI event channel to itself and adds its slice of a
 * shared array into one total with lock-prefixed atomics, and bumps a
 * counter under an xchg spinlock; workers then signal vCPU 0 through an IPI
 * port bound to vCPU 0 and wait in SCHEDOP_poll on their own port. vCPU 0
 * checks the totals, wakes every worker through its IPI port, and each
 * takes itself down with VCPUOP_down. The last line is
 * "smp: <passed>/<total> checks passed, sum <value>".
 */
#include <paravirt/pv.h>

#define WORKERS   3
#define NCPUS     (WORKERS + 1)
#define SLICE     4096
#define SPINS     2000
#define STACK     16384

/* struct vcpu_guest_context for x86-64 (public/arch-x86/xen.h). */
struct smp_trap_info {
    uint8_t vector, flags;
    uint16_t cs;
    uint32_t pad;
    unsigned long address;
};
struct smp_vcpu_context {
    uint8_t fpu_ctxt[512];
    unsigned long flags;
    struct cpu_user_regs user_regs;
    struct smp_trap_info trap_ctxt[256];
    unsigned long ldt_base, ldt_ents;
    unsigned long gdt_frames[16], gdt_ents;
    unsigned long kernel_ss, kernel_sp;
    unsigned long ctrlreg[8];
    unsigned long debugreg[8];
    unsigned long event_callback_eip, failsafe_callback_eip, syscall_callback_eip;
    unsigned long vm_assist;
    uint64_t fs_base, gs_base_kernel, gs_base_user;
};
_Static_assert(sizeof(struct smp_vcpu_context) == 5168, "vcpu_guest_context is 5168 bytes on x86-64");
_Static_assert(__builtin_offsetof(struct smp_vcpu_context, ctrlreg) == 4984, "ctrlreg offset");
#define VGCF_in_kernel (1UL << 2)

static int passed, total;

#define CHECK(cond, ...) do {                                   \
        total++;                                                \
        if (cond) passed++;                                     \
        else { pv_printf("FAIL line %d: ", __LINE__);           \
               pv_printf(__VA_ARGS__); pv_printf("\n"); }       \
    } while (0)

static uint64_t data[NCPUS * SLICE];
static uint64_t sum;                       /* lock xadd / lock add */
static long locked_count;                  /* under the spinlock, plain increments */
static int spin;
static evtchn_port_t done_port[NCPUS];     /* bound to vCPU 0, one per worker */
static evtchn_port_t own_port[NCPUS];      /* each worker's own IPI port */
static int worker_ok[NCPUS];
static struct smp_vcpu_context ctx[NCPUS];
static uint8_t stacks[NCPUS][STACK] __attribute__((aligned(16)));

static void work(long id)
{
    for (long i = id * SLICE; i < (id + 1) * SLICE; i++)
        __atomic_fetch_add(&sum, data[i], __ATOMIC_SEQ_CST);
    for (int i = 0; i < SPINS; i++) {
        while (__atomic_exchange_n(&spin, 1, __ATOMIC_ACQUIRE))
            __asm__ volatile("pause");
        long v = *(volatile long *)&locked_count;   /* a plain read-modify-write, protected by the lock */
        *(volatile long *)&locked_count = v + 1;
        __atomic_store_n(&spin, 0, __ATOMIC_RELEASE);
    }
}

static long poll1(evtchn_port_t port)
{
    sched_poll_t p = { .nr_ports = 1, .timeout = 0 };
    set_xen_guest_handle(p.ports, &port);
    return HYPERVISOR_sched_op(SCHEDOP_poll, &p);
}

static int test_and_clear_pending(evtchn_port_t port)
{
    xen_ulong_t bit = 1UL << (port % 64);
    return (__atomic_fetch_and(&pv_shared_info->evtchn_pending[port / 64], ~bit, __ATOMIC_SEQ_CST) & bit) != 0;
}

/* A secondary vCPU starts here (rdi = its id), on its own stack, events masked. */
__attribute__((noreturn, used)) static void worker_main(long id)
{
    evtchn_bind_ipi_t op = { .vcpu = (uint32_t)id };
    if (HYPERVISOR_event_channel_op(EVTCHNOP_bind_ipi, &op) == 0) {
        __atomic_store_n(&own_port[id], op.port, __ATOMIC_RELEASE);
        work(id);
        __atomic_store_n(&worker_ok[id], 1, __ATOMIC_RELEASE);
    }
    pv_evtchn_send(done_port[id]);
    /* Wait for vCPU 0's go-ahead on our own port, then leave. */
    while (!test_and_clear_pending(op.port))
        poll1(op.port);
    HYPERVISOR_vcpu_op(VCPUOP_down, (unsigned int)id, NULL);
    for (;;)
        HYPERVISOR_vcpu_op(VCPUOP_down, (unsigned int)id, NULL);
}

int pv_main(start_info_t *si)
{
    long rc;
    (void)si;
    pv_evtchn_disable_upcalls();

    uint64_t expected = 0;
    for (long i = 0; i < NCPUS * SLICE; i++) {
        data[i] = (uint64_t)i * 2654435761u % 1000003u;
        expected += data[i];
    }

    /* Errno paths first, on vCPU 1 while it is still uninitialised. */
    CHECK(HYPERVISOR_vcpu_op(VCPUOP_is_up, 0, NULL) == 1, "vcpu 0 is up");
    CHECK(HYPERVISOR_vcpu_op(VCPUOP_is_up, 1, NULL) == 0, "vcpu 1 starts down");
    CHECK(HYPERVISOR_vcpu_op(VCPUOP_up, 1, NULL) == -XEN_EINVAL, "up before initialise");
    CHECK(HYPERVISOR_vcpu_op(VCPUOP_is_up, NCPUS, NULL) == -XEN_ENOENT, "vcpu past maxvcpus");
    CHECK(HYPERVISOR_vcpu_op(VCPUOP_initialise, 0, &ctx[0]) == -XEN_EEXIST, "initialise vcpu 0 again");

    for (int w = 1; w <= WORKERS; w++) {
        evtchn_bind_ipi_t op = { .vcpu = 0 };
        CHECK(HYPERVISOR_event_channel_op(EVTCHNOP_bind_ipi, &op) == 0, "bind_ipi done port %d", w);
        done_port[w] = op.port;
    }

    xen_pfn_t l4 = pv_virt_to_mfn((void *)pv_start_info->pt_base);
    for (int w = 1; w <= WORKERS; w++) {
        struct smp_vcpu_context *c = &ctx[w];
        unsigned long top = (unsigned long)&stacks[w][STACK];
        c->flags = VGCF_in_kernel;
        c->user_regs.rip = (unsigned long)worker_main;
        c->user_regs.rsp = top - 8;          /* as after a call: the ABI's entry alignment */
        c->user_regs.rdi = (uint64_t)w;
        c->user_regs.cs = FLAT_KERNEL_CS;
        c->user_regs.ss = FLAT_KERNEL_SS64;
        c->user_regs.ds = c->user_regs.es = FLAT_KERNEL_DS64;
        c->user_regs.rflags = 0x202;
        c->kernel_ss = FLAT_KERNEL_SS64;
        c->kernel_sp = top;
        c->ctrlreg[3] = l4 << 12;            /* xen_pfn_to_cr3 */
        rc = HYPERVISOR_vcpu_op(VCPUOP_initialise, (unsigned int)w, c);
        CHECK(rc == 0, "initialise vcpu %d: %ld", w, rc);
        CHECK(HYPERVISOR_vcpu_op(VCPUOP_is_up, (unsigned int)w, NULL) == 0, "vcpu %d down until up", w);
    }
    for (int w = 1; w <= WORKERS; w++)
        CHECK(HYPERVISOR_vcpu_op(VCPUOP_up, (unsigned int)w, NULL) == 0, "up vcpu %d", w);

    work(0);

    /* Wait for an IPI from every worker. */
    int seen = 0, got[NCPUS] = { 0 };
    while (seen < WORKERS) {
        evtchn_port_t ports[WORKERS];
        int n = 0;
        for (int w = 1; w <= WORKERS; w++)
            if (!got[w]) ports[n++] = done_port[w];
        sched_poll_t p = { .nr_ports = (unsigned int)n, .timeout = 0 };
        set_xen_guest_handle(p.ports, ports);
        HYPERVISOR_sched_op(SCHEDOP_poll, &p);
        for (int w = 1; w <= WORKERS; w++)
            if (!got[w] && test_and_clear_pending(done_port[w])) { got[w] = 1; seen++; }
    }
    for (int w = 1; w <= WORKERS; w++)
        CHECK(__atomic_load_n(&worker_ok[w], __ATOMIC_ACQUIRE), "worker %d bound its ipi and worked", w);

    uint64_t s = __atomic_load_n(&sum, __ATOMIC_SEQ_CST);
    CHECK(s == expected, "sum %lu, expected %lu", (unsigned long)s, (unsigned long)expected);
    CHECK(locked_count == (long)NCPUS * SPINS, "spinlocked count %ld, expected %ld", locked_count, (long)NCPUS * SPINS);

    /* Wake every worker through its own IPI port; each takes itself down. */
    for (int w = 1; w <= WORKERS; w++)
        CHECK(pv_evtchn_send(__atomic_load_n(&own_port[w], __ATOMIC_ACQUIRE)) == 0, "ipi to vcpu %d", w);
    for (int w = 1; w <= WORKERS; w++) {
        while (HYPERVISOR_vcpu_op(VCPUOP_is_up, (unsigned int)w, NULL) != 0)
            pv_yield();
        struct vcpu_runstate_info rs;
        CHECK(HYPERVISOR_vcpu_op(VCPUOP_get_runstate_info, (unsigned int)w, &rs) == 0, "runstate of vcpu %d", w);
        CHECK(rs.time[RUNSTATE_running] > 0, "vcpu %d ran", w);
    }

    pv_printf("smp: %d/%d checks passed, sum %lu\n", passed, total, (unsigned long)s);
    return 0;
}
